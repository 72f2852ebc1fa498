# A thin wrapper over CMake, in the manner of neovim's: `make run` and
# `make test` install what a fresh Debian 12 machine lacks, build, and go.

BUILD_DIR ?= build
ASAN_DIR ?= build-asan
FUZZ_DIR ?= build-fuzz
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CTEST_ARGS ?= --parallel $(JOBS)
# make fuzz: seconds each harness runs; make test: seconds each runs on its corpus.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 8
FUZZERS := body query snapshot multipart csv xls xlsx

DEPS_BUILD := cmake make gcc pkg-config libcivetweb-dev liblmdb-dev libhiredis-dev \
              libmsgpack-dev libjansson-dev zlib1g-dev libxlsxwriter-dev \
              libcsv-dev libfreexl-dev libzip-dev libexpat1-dev g++ libphonenumber-dev \
              libssl-dev
# Debian's clang, and the compiler-rt runtimes it only recommends (libFuzzer).
DEPS_FUZZ := $(DEPS_BUILD) clang libclang-rt-14-dev
DEPS_TEST := $(DEPS_FUZZ) python3 python3-openpyxl python3-xlwt python3-xlrd curl prometheus \
             redis-server groff-base systemd chromium chromium-driver python3-selenium \
             openssl
DEPS_BENCH := $(DEPS_BUILD) wrk curl redis-server python3 python3-openpyxl
# node runs the OpenAPI validator of tests/e2e/test_openapi.py (npm-deps installs it;
# Debian's npm only when no npm is on PATH: NodeSource's nodejs carries its own and
# conflicts with Debian's).
DEPS_TEST += nodejs
OPENAPI_VALIDATOR := @seriousme/openapi-schema-validator@2.11.0

.PHONY: all deps build run test test-release test-sanitize test-fuzz fuzz fuzz-build bench soak \
        clean

all: build

deps:
	./scripts/install-deps $(DEPS_BUILD)

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	./$(BUILD_DIR)/idlinkd

# Every test twice: on the release build, then under AddressSanitizer and
# UndefinedBehaviorSanitizer; between the two, each libFuzzer harness briefly
# on its committed corpus.
test:
	./scripts/install-deps $(DEPS_TEST)
	$(MAKE) test-release test-fuzz test-sanitize

test-release: build npm-deps
	ctest --test-dir $(BUILD_DIR) --output-on-failure $(CTEST_ARGS)

test-sanitize: deps npm-deps
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DIDLINK_SANITIZE=ON
	cmake --build $(ASAN_DIR) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_DIR) --output-on-failure $(CTEST_ARGS)

# npm packages the tests use, into $(BUILD_DIR)/npm (the sanitizer run's tests
# find them there too).
.PHONY: npm-deps
npm-deps:
	command -v npm >/dev/null || ./scripts/install-deps npm
	npm install --prefix $(BUILD_DIR)/npm --no-audit --no-fund $(OPENAPI_VALIDATOR)

# 100 kill -9 cycles under a write load with Redis on (tests/soak/soak.py):
# not part of `make test`; SOAK_CYCLES sets how many.
soak: build
	./scripts/install-deps $(DEPS_TEST)
	/usr/bin/python3 tests/soak/soak.py

# The libFuzzer harnesses of fuzz/, in a build folder of their own compiled
# with clang (the other builds stay gcc's).
fuzz-build:
	./scripts/install-deps $(DEPS_FUZZ)
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DIDLINK_FUZZ=ON
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzzers

# Each harness for FUZZ_SECONDS from its corpus; new inputs are kept in
# $(FUZZ_DIR)/corpus/, crashes in $(FUZZ_DIR)/artifacts/.
fuzz: fuzz-build
	./fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZERS)

# Each harness briefly on its committed corpus. xls runs its corpus only:
# mutated xls files soon reach the crashes of Debian's libfreexl that
# fuzz/README.md lists, which would fail the tests at random.
test-fuzz: fuzz-build
	./fuzz/run.sh --smoke $(FUZZ_DIR) $(FUZZ_SMOKE_SECONDS) $(filter-out xls,$(FUZZERS))
	./fuzz/run.sh --smoke $(FUZZ_DIR) 0 xls

bench:
	./scripts/install-deps $(DEPS_BENCH)
	$(MAKE) build BUILD_TYPE=Release
	./bench/run.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR)

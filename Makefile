# A thin wrapper over CMake, in the manner of neovim's: `make run` and
# `make test` install what a fresh Debian 12 machine lacks, build, and go.

BUILD_DIR ?= build
ASAN_DIR ?= build-asan
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CTEST_ARGS ?= --parallel $(JOBS)

DEPS_BUILD := cmake make gcc pkg-config libcivetweb-dev liblmdb-dev libhiredis-dev \
              libmsgpack-dev libjansson-dev zlib1g-dev libxlsxwriter-dev \
              libcsv-dev libfreexl-dev libzip-dev libexpat1-dev g++ libphonenumber-dev \
              libssl-dev
DEPS_TEST := $(DEPS_BUILD) python3 python3-openpyxl python3-xlwt python3-xlrd curl prometheus \
             redis-server
DEPS_BENCH := $(DEPS_BUILD) wrk curl redis-server python3 python3-openpyxl

.PHONY: all deps build run test test-release test-sanitize bench soak clean

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
# UndefinedBehaviorSanitizer.
test:
	./scripts/install-deps $(DEPS_TEST)
	$(MAKE) test-release test-sanitize

test-release: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure $(CTEST_ARGS)

test-sanitize: deps
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DIDLINK_SANITIZE=ON
	cmake --build $(ASAN_DIR) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_DIR) --output-on-failure $(CTEST_ARGS)

# 100 kill -9 cycles under a write load with Redis on (tests/soak/soak.py):
# not part of `make test`; SOAK_CYCLES sets how many.
soak: build
	./scripts/install-deps $(DEPS_TEST)
	/usr/bin/python3 tests/soak/soak.py

bench:
	./scripts/install-deps $(DEPS_BENCH)
	$(MAKE) build BUILD_TYPE=Release
	./bench/run.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)

#!/usr/bin/env bash
# Runs the libFuzzer harnesses built in a build folder (`make fuzz`,
# `make test`), each from its committed corpus in fuzz/corpus/NAME.
#
#   fuzz/run.sh [--smoke] BUILD_DIR SECONDS NAME...
#
# Each harness runs for SECONDS, its corpus first (0: its corpus only, no
# mutation). Inputs that reach new code are kept in BUILD_DIR/corpus/NAME
# (--smoke: in a temporary folder, dropped after), never in the committed
# corpus; a crash, leak, timeout or sanitizer report is written to
# BUILD_DIR/artifacts/NAME-* and fails the run. The output of each harness
# is in BUILD_DIR/logs/NAME.log. FUZZ_MAX_LEN (default 65536) and
# FUZZ_TIMEOUT (seconds one input may take, default 20) pass to libFuzzer;
# so does anything in FUZZ_ARGS.
set -uo pipefail

smoke=0
if [ "${1:-}" = "--smoke" ]; then
  smoke=1
  shift
fi
if [ $# -lt 3 ]; then
  echo "usage: $0 [--smoke] BUILD_DIR SECONDS NAME..." >&2
  exit 2
fi
build=$1
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$build/artifacts" "$build/logs"
scratch=""
if [ $smoke = 1 ]; then
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/idlink-fuzz-corpus-XXXXXX")
  trap 'rm -rf "$scratch"' EXIT
fi

failed=()
for name in "$@"; do
  harness=$build/fuzz/fuzz_$name
  if [ ! -x "$harness" ]; then
    echo "fuzz: $harness is not built" >&2
    failed+=("$name")
    continue
  fi
  if [ $smoke = 1 ]; then
    found=$scratch/$name
  else
    found=$build/corpus/$name
  fi
  mkdir -p "$found"
  log=$build/logs/$name.log
  if [ "$seconds" = 0 ]; then
    limit=-runs=0
  else
    limit=-max_total_time=$seconds
  fi
  # libfreexl leaks on damaged files (fuzz/README.md), so the xls harness
  # runs in libFuzzer's fork mode, which starts a job anew when one runs out
  # of memory; a crash still ends the run.
  fork=""
  if [ "$name" = xls ] && [ "$seconds" != 0 ]; then
    fork="-fork=1 -ignore_ooms=1"
  fi
  # shellcheck disable=SC2086
  "$harness" "$limit" $fork -max_len="${FUZZ_MAX_LEN:-65536}" \
    -timeout="${FUZZ_TIMEOUT:-20}" -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$name-" ${FUZZ_ARGS:-} \
    "$found" "$here/corpus/$name" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  if [ -n "$fork" ]; then # fork mode says it otherwise
    runs=$(sed -n 's/^#\([0-9]*\): cov.*/\1/p' "$log" | tail -1)
    secs=$(sed -n 's/^INFO: exiting: [0-9]* time: \([0-9]*\)s.*/\1/p' "$log" | tail -1)
  fi
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    printf 'fuzz_%-10s ok: %s runs in %s s, %s\n' "$name" "${runs:-?}" "${secs:-?}" "${cov:-cov: ?}"
  else
    printf 'fuzz_%-10s FAILED (exit %d); the end of %s:\n' "$name" "$rc" "$log"
    tail -n 60 "$log"
    failed+=("$name")
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: failed: ${failed[*]} (inputs in $build/artifacts/)" >&2
  exit 1
fi

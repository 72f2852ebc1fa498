/* The sanitizers' defaults for every harness, so that a harness run by hand
 * behaves as under fuzz/run.sh: the suppressions of asan.supp and lsan.supp
 * (bugs of libraries idlink cannot change, each explained there). Options
 * given in ASAN_OPTIONS or LSAN_OPTIONS come after these and win. */
const char *__asan_default_options(void);
const char *__lsan_default_options(void);
const char *__ubsan_default_options(void);

const char *__asan_default_options(void) {
  return "suppressions=" IDLINK_FUZZ_DIR "/asan.supp";
}

const char *__lsan_default_options(void) {
  return "suppressions=" IDLINK_FUZZ_DIR "/lsan.supp";
}

const char *__ubsan_default_options(void) {
  return "print_stacktrace=1";
}

/* A small test harness: each test is a function; assertions print both values
 * and the place, then fail the test. Every test closes what it opened. */
#ifndef IDLINK_TEST_H
#define IDLINK_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idlink/log.h"
#include "idlink/store.h"

/* Each test runs in a process of its own (ctest passes its name): a failed
 * assertion prints both values and the place, then aborts, so that neither
 * a skipped cleanup nor a leak report hides the failure, and no test sees
 * what another left behind. Without an argument every test runs. */
static const char *test_only;
static int test_ran;

#define FAIL_AT(...)                                                           \
  do {                                                                         \
    fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                            \
    fprintf(stderr, __VA_ARGS__);                                              \
    fputc('\n', stderr);                                                       \
    abort();                                                                   \
  } while (0)

#define ASSERT_INT(op, a, b)                                                   \
  do {                                                                         \
    long long a_ = (long long)(a), b_ = (long long)(b);                        \
    if (!(a_ op b_))                                                           \
      FAIL_AT("expected %s %s %s: %lld vs %lld", #a, #op, #b, a_, b_);         \
  } while (0)
#define ASSERT_EQ(a, b) ASSERT_INT(==, a, b)
#define ASSERT_NE(a, b) ASSERT_INT(!=, a, b)
#define ASSERT_OK(call) ASSERT_EQ(call, IDL_ERR_OK)

#define ASSERT_STR(a, b)                                                       \
  do {                                                                         \
    const char *a_ = (a), *b_ = (b);                                           \
    if (strcmp(a_, b_) != 0)                                                   \
      FAIL_AT("expected %s == %s: \"%s\" vs \"%s\"", #a, #b, a_, b_);         \
  } while (0)

#define TEST_INIT(argc, argv) (test_only = (argc) > 1 ? (argv)[1] : NULL)

#define RUN(fn)                                                                \
  do {                                                                         \
    if (!test_only || strcmp(test_only, #fn) == 0) {                           \
      fn();                                                                    \
      test_ran++;                                                              \
      fprintf(stderr, "ok   %s\n", #fn);                                       \
    }                                                                          \
  } while (0)

/* Every test that ran passed (a failure aborts): say so, or that the test
 * asked for does not exist. */
#define TEST_EXIT()                                                            \
  (test_ran ? (fprintf(stderr, "%d passed, 0 failed\n", test_ran), 0)          \
            : (fprintf(stderr, "no test named %s\n", test_only ? test_only : "(none)"), 1))

/* A store in a new temporary folder; removed by test_store_close. */
struct test_store {
  char dir[64];
  struct idl_store *s;
};

static inline int test_store_open(struct test_store *t, size_t map_size) {
  snprintf(t->dir, sizeof(t->dir), "/tmp/idlink-test-XXXXXX");
  if (!mkdtemp(t->dir))
    return -1;
  struct idl_store_opts o = {.sync_full = 0, .map_size = map_size, .exclusive = 1};
  idl_log_set_level(IDL_LOG_ERROR);
  return idl_store_open(t->dir, &o, &t->s) == IDL_ERR_OK ? 0 : -1;
}

static inline void test_store_close(struct test_store *t) {
  idl_store_close(t->s);
  t->s = NULL;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
  if (system(cmd) != 0)
    fprintf(stderr, "cannot remove %s\n", t->dir);
}

#endif

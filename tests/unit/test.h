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

static int test_failures;
static int test_failed_now;

#define FAIL_AT(...)                                                           \
  do {                                                                         \
    fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                            \
    fprintf(stderr, __VA_ARGS__);                                              \
    fputc('\n', stderr);                                                       \
    test_failed_now = 1;                                                       \
  } while (0)

#define ASSERT_INT(op, a, b)                                                   \
  do {                                                                         \
    long long a_ = (long long)(a), b_ = (long long)(b);                        \
    if (!(a_ op b_)) {                                                         \
      FAIL_AT("expected %s %s %s: %lld vs %lld", #a, #op, #b, a_, b_);         \
      return;                                                                  \
    }                                                                          \
  } while (0)
#define ASSERT_EQ(a, b) ASSERT_INT(==, a, b)
#define ASSERT_NE(a, b) ASSERT_INT(!=, a, b)
#define ASSERT_OK(call) ASSERT_EQ(call, IDL_ERR_OK)

#define ASSERT_STR(a, b)                                                       \
  do {                                                                         \
    const char *a_ = (a), *b_ = (b);                                           \
    if (strcmp(a_, b_) != 0) {                                                 \
      FAIL_AT("expected %s == %s: \"%s\" vs \"%s\"", #a, #b, a_, b_);          \
      return;                                                                  \
    }                                                                          \
  } while (0)

#define RUN(fn)                                                                \
  do {                                                                         \
    test_failed_now = 0;                                                       \
    fn();                                                                      \
    fprintf(stderr, "%s %s\n", test_failed_now ? "FAIL" : "ok  ", #fn);        \
    test_failures += test_failed_now;                                          \
  } while (0)

#define TEST_EXIT()                                                            \
  (fprintf(stderr, "%s\n", test_failures ? "FAILED" : "all passed"),           \
   test_failures ? 1 : 0)

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

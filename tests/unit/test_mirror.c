/* Redis URLs as idlinkd and idlink-check read them. */
#include "idlink/mirror.h"
#include "test.h"

static void test_url_forms(void) {
  struct idl_redis_url u;
  char why[256];
  ASSERT_OK(idl_redis_url_parse("redis://localhost", &u, why, sizeof(why)));
  ASSERT_STR(u.host, "localhost");
  ASSERT_EQ(u.port, 6379);
  ASSERT_EQ(u.db, 0);
  ASSERT_STR(u.password, "");
  ASSERT_OK(idl_redis_url_parse("redis://:p@ss:w0rd@10.0.0.5:6380/4", &u, why, sizeof(why)));
  ASSERT_STR(u.host, "10.0.0.5");
  ASSERT_STR(u.password, "p@ss:w0rd");
  ASSERT_STR(u.user, "");
  ASSERT_EQ(u.port, 6380);
  ASSERT_EQ(u.db, 4);
  ASSERT_OK(idl_redis_url_parse("redis://app:pw@h/", &u, why, sizeof(why)));
  ASSERT_STR(u.user, "app");
  ASSERT_STR(u.password, "pw");
  ASSERT_EQ(u.db, 0);
}

static void test_bad_urls(void) {
  struct idl_redis_url u;
  char why[256];
  const char *bad[] = {"", "http://h", "redis://", "redis://h:", "redis://h:0",
                       "redis://h:70000", "redis://h:12x", "redis://h/db", "redis://h/1/2",
                       "redis://nopass@h"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (idl_redis_url_parse(bad[i], &u, why, sizeof(why)) != IDL_ERR_INVAL || !*why) {
      FAIL_AT("\"%s\" accepted", bad[i]);
      return;
    }
}

int main(void) {
  RUN(test_url_forms);
  RUN(test_bad_urls);
  return TEST_EXIT();
}

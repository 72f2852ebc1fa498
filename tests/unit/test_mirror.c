/* Redis URLs as idlinkd and idlink-check read them; which keys are a mirror's. */
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

/* Two mirrors may share a database, one prefix extending the other: each
 * owns only the keys of its own shapes right after its prefix. */
static void test_key_ownership(void) {
  static const struct {
    const char *prefix, *key;
    int ours;
  } cases[] = {
      {"idlink:", "idlink:email:a@x.io", 1},
      {"idlink:", "idlink:email:n:email:a@x.io", 1}, /* an email may hold ':' */
      {"idlink:", "idlink:phone:+15550100", 1},
      {"idlink:", "idlink:identity:12", 1},
      {"idlink:", "idlink:events", 1},
      {"idlink:", "idlink:mirror:seq", 1},
      {"idlink:", "idlink:n:email:a@x.io", 0},
      {"idlink:", "idlink:n:phone:1", 0},
      {"idlink:", "idlink:n:identity:1", 0},
      {"idlink:", "idlink:n:events", 0},
      {"idlink:", "idlink:n:mirror:seq", 0},
      {"idlink:", "idlink:identity:email:a@x.io", 0}, /* prefix "idlink:identity:" */
      {"idlink:", "idlink:identity:7:events", 0},
      {"idlink:", "idlink:identity:", 0},
      {"idlink:", "idlink:identity:12x", 0},
      {"idlink:", "idlink:email:", 0},
      {"idlink:", "idlink:events:x", 0},
      {"idlink:", "idlink:mirror:seq2", 0},
      {"idlink:", "idlink:", 0},
      {"idlink:", "other:email:a@x.io", 0},
      {"idlink:n:", "idlink:n:email:a@x.io", 1},
      {"idlink:n:", "idlink:n:events", 1},
      {"idlink:n:", "idlink:email:a@x.io", 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    if (idl_mirror_key_ours(cases[i].prefix, cases[i].key) != cases[i].ours) {
      FAIL_AT("prefix \"%s\", key \"%s\": expected %d, got %d", cases[i].prefix,
              cases[i].key, cases[i].ours, !cases[i].ours);
      return;
    }
}

int main(int argc, char **argv) {
  TEST_INIT(argc, argv);
  RUN(test_url_forms);
  RUN(test_bad_urls);
  RUN(test_key_ownership);
  return TEST_EXIT();
}

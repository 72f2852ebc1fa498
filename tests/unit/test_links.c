/* Section 10's links on a temporary store, without HTTP: bridges, deleting a
 * contact and re-resolving its identity, legacy bridges, and the checker's
 * rule that every identity is connected. */
#include "fixtures.h"
#include "idlink/check.h"

/* A store that keeps bridges, as idlinkd opens it. */
static void open_store(struct test_store *t) {
  ASSERT_EQ(test_store_open(t, 0), 0);
  struct idl_txn *txn;
  ASSERT_OK(idl_txn_begin_write(t->s, NULL, &txn));
  ASSERT_OK(idl_store_meta_put(txn, IDL_META_BRIDGES, 1));
  ASSERT_OK(idl_txn_commit(txn));
}

/* POST /identify at time now; returns the primary of the answer. */
static uint64_t identify(struct test_store *t, const char *email, const char *phone,
                         int64_t now) {
  struct test_outcome o;
  ASSERT_OK(reconcile_at(t->s, email, phone, now, IDL_RECONCILE_WRITE, &o));
  uint64_t primary = o.identity.c[0].id;
  idl_identity_fini(&o.identity);
  return primary;
}

/* DELETE /contacts/{id} at time now; the parts' primaries joined by ','. */
static const char *delete_contact(struct test_store *t, uint64_t id, int64_t now, char *buf,
                                  size_t size) {
  struct idl_txn *txn;
  struct idl_deletion d;
  ASSERT_OK(idl_txn_begin_write(t->s, NULL, &txn));
  ASSERT_OK(idl_identity_delete(txn, id, now, &d));
  ASSERT_OK(idl_txn_commit(txn));
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < d.parts.n; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%llu", i ? "," : "",
                             (unsigned long long)d.parts.v[i]);
  idl_deletion_fini(&d);
  return buf;
}

static void print_violation(const char *line, void *arg) {
  (void)arg;
  fprintf(stderr, "violation: %s\n", line);
}

/* idlink-check's verdict: the number of violations. */
static uint64_t violations(struct test_store *t) {
  struct idl_txn *txn;
  struct idl_check_report rep;
  ASSERT_OK(idl_txn_begin_read(t->s, &txn));
  ASSERT_OK(idl_check_store(txn, print_violation, NULL, &rep));
  idl_txn_abort(txn);
  return rep.violations;
}

/* The primary contact id's identity has now. */
static uint64_t primary_of(struct test_store *t, uint64_t id) {
  struct idl_contact c;
  ASSERT_OK(get_contact(t->s, id, &c));
  ASSERT_EQ(c.deleted_ms, IDL_TIME_NULL);
  return idl_contact_primary(&c);
}

static char parts[256];

static void test_chain_losing_its_middle_splits_in_two(void) {
  struct test_store t;
  open_store(&t);
  identify(&t, "a@x.io", "100", 1000);               /* 1 */
  identify(&t, "a@x.io", "200", 2000);               /* 2: shares a@ with 1 */
  ASSERT_EQ(identify(&t, "c@x.io", "200", 3000), 1); /* 3: shares 200 with 2 */
  ASSERT_STR(delete_contact(&t, 2, 4000, parts, sizeof(parts)), "1,3");
  ASSERT_EQ(primary_of(&t, 1), 1);
  ASSERT_EQ(primary_of(&t, 3), 3);
  struct idl_contact c;
  ASSERT_OK(get_contact(t.s, 2, &c));
  ASSERT_EQ(c.deleted_ms, 4000);
  ASSERT_EQ(violations(&t), 0);
  /* Deleting it again changes nothing. */
  ASSERT_STR(delete_contact(&t, 2, 5000, parts, sizeof(parts)), "");
  ASSERT_OK(get_contact(t.s, 2, &c));
  ASSERT_EQ(c.deleted_ms, 4000);
  test_store_close(&t);
}

static void test_star_of_bridges_losing_its_centre(void) {
  struct test_store t;
  open_store(&t);
  identify(&t, "centre@x.io", "100", 1000); /* 1 */
  static const char *const arms[][2] = {{"a@x.io", "201"}, {"b@x.io", "202"},
                                        {"c@x.io", "203"}};
  for (int i = 0; i < 3; i++) /* 2, 3, 4 */
    identify(&t, arms[i][0], arms[i][1], 2000 + i);
  /* Each arm's email sent with the centre's phone: merged by a bridge. */
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(identify(&t, arms[i][0], "100", 3000 + i), 1);
  for (uint64_t id = 2; id <= 4; id++)
    ASSERT_EQ(primary_of(&t, id), 1);
  ASSERT_EQ(violations(&t), 0);
  ASSERT_STR(delete_contact(&t, 1, 4000, parts, sizeof(parts)), "2,3,4");
  ASSERT_EQ(violations(&t), 0);
  test_store_close(&t);
}

static void test_deleting_a_primary_of_a_whole_identity(void) {
  struct test_store t;
  open_store(&t);
  identify(&t, "p@x.io", "100", 1000); /* 1 */
  identify(&t, "p@x.io", "200", 2000); /* 2 */
  identify(&t, "q@x.io", "200", 3000); /* 3: shares 200 with 2 */
  ASSERT_STR(delete_contact(&t, 1, 4000, parts, sizeof(parts)), "2");
  ASSERT_EQ(primary_of(&t, 2), 2);
  ASSERT_EQ(primary_of(&t, 3), 2);
  ASSERT_EQ(violations(&t), 0);
  /* The log tells the deletion and the primary's change. */
  struct idl_txn *txn;
  struct idl_change *log;
  size_t n;
  ASSERT_OK(idl_txn_begin_read(t.s, &txn));
  ASSERT_OK(idl_store_changes(txn, 0, 100, &log, &n));
  idl_txn_abort(txn);
  ASSERT_EQ(n, 5);
  ASSERT_EQ(log[3].kind, IDL_CHANGE_CONTACT_DELETED);
  ASSERT_EQ(log[3].contact, 1);
  ASSERT_EQ(log[3].primary, 1);
  ASSERT_EQ(log[4].kind, IDL_CHANGE_IDENTITY_SPLIT);
  ASSERT_EQ(log[4].primary, 1);
  ASSERT_EQ(log[4].absorbed.n, 1);
  ASSERT_EQ(log[4].absorbed.v[0], 2);
  for (size_t i = 0; i < n; i++)
    idl_change_fini(&log[i]);
  free(log);
  test_store_close(&t);
}

static void test_bridge_outlives_an_unrelated_delete(void) {
  struct test_store t;
  open_store(&t);
  identify(&t, "a@x.io", "100", 1000);               /* 1 */
  identify(&t, "b@x.io", "200", 2000);               /* 2 */
  ASSERT_EQ(identify(&t, "a@x.io", "200", 3000), 1); /* a bridge: nothing created */
  identify(&t, "c@x.io", "100", 4000);               /* 3: shares 100 with 1 */
  ASSERT_STR(delete_contact(&t, 3, 5000, parts, sizeof(parts)), "1");
  ASSERT_EQ(primary_of(&t, 2), 1);
  ASSERT_EQ(violations(&t), 0);
  test_store_close(&t);
}

static void test_legacy_bridges_keep_identities_whole(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  /* A store from before bridges: 2 joined 1 by a request (a@, 200). */
  ASSERT_OK(plant(t.s, 1, "a@x.io", "100", 0, 1000));
  ASSERT_OK(plant(t.s, 2, "b@x.io", "200", 1, 2000));
  ASSERT_OK(plant(t.s, 3, "c@x.io", "300", 0, 3000));
  ASSERT_EQ(violations(&t), 0); /* not held to connectivity yet */
  struct idl_txn *txn;
  uint64_t added = 0;
  ASSERT_OK(idl_txn_begin_write(t.s, NULL, &txn));
  ASSERT_OK(idl_store_meta_put(txn, IDL_META_BRIDGES, 1));
  ASSERT_OK(idl_txn_commit(txn));
  ASSERT_EQ(violations(&t), 1); /* identity 1 is not connected */
  ASSERT_OK(idl_txn_begin_write(t.s, NULL, &txn));
  ASSERT_OK(idl_links_legacy(txn, 4000, &added));
  ASSERT_OK(idl_txn_commit(txn));
  ASSERT_EQ(added, 1);
  ASSERT_EQ(violations(&t), 0);
  /* Run again, it finds nothing to join. */
  ASSERT_OK(idl_txn_begin_write(t.s, NULL, &txn));
  ASSERT_OK(idl_links_legacy(txn, 5000, &added));
  ASSERT_OK(idl_txn_commit(txn));
  ASSERT_EQ(added, 0);
  test_store_close(&t);
}

int main(int argc, char **argv) {
  TEST_INIT(argc, argv);
  RUN(test_chain_losing_its_middle_splits_in_two);
  RUN(test_star_of_bridges_losing_its_centre);
  RUN(test_deleting_a_primary_of_a_whole_identity);
  RUN(test_bridge_outlives_an_unrelated_delete);
  RUN(test_legacy_bridges_keep_identities_whole);
  TEST_EXIT();
}

/* Section 10's links on a temporary store, without HTTP: bridges, deleting a
 * contact and re-resolving its identity, legacy bridges, and the checker's
 * rule that every identity is connected. */
#include <fcntl.h>

#include "fixtures.h"
#include "idlink/blocklist.h"
#include "idlink/check.h"
#include "record_internal.h"

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

/* The number of contacts the store holds. */
static uint64_t contacts(struct test_store *t) {
  struct idl_txn *txn;
  struct idl_store_info info;
  ASSERT_OK(idl_txn_begin_read(t->s, &txn));
  ASSERT_OK(idl_store_info(txn, &info));
  idl_txn_abort(txn);
  return info.contacts;
}

static void test_blocked_values_in_every_position(void) {
  struct test_store t;
  struct idl_blocklist *bl;
  open_store(&t);
  ASSERT_OK(idl_blocklist_new(&bl));
  ASSERT_OK(idl_blocklist_add_default(bl));
  idl_store_set_blocklist(t.s, bl);
  /* Only blocked values: a new primary each time. */
  ASSERT_EQ(identify(&t, "test@test.com", NULL, 1000), 1);
  ASSERT_EQ(identify(&t, "test@test.com", NULL, 2000), 2);
  ASSERT_EQ(identify(&t, "noreply@shop.example", "0000000000", 3000), 3);
  /* A blocked phone beside a known email: nothing new, nothing linked. */
  identify(&t, "a@x.io", "100", 4000); /* 4 */
  ASSERT_EQ(identify(&t, "a@x.io", "1111111", 5000), 4);
  ASSERT_EQ(contacts(&t), 4);
  /* A blocked email beside a new phone: a contact holding both, alone. */
  ASSERT_EQ(identify(&t, "test@test.com", "200", 6000), 5);
  /* A blocked phone shared by two contacts links nothing. */
  ASSERT_EQ(identify(&t, "b@x.io", "1234567890", 7000), 6);
  ASSERT_EQ(identify(&t, "c@x.io", "1234567890", 8000), 7);
  /* Nor does a blocked email shared with a contact of another identity. */
  ASSERT_EQ(identify(&t, "test@test.com", "100", 9000), 4);
  ASSERT_EQ(contacts(&t), 7);
  ASSERT_EQ(violations(&t), 0);
  /* Stored and shown, never indexed. */
  struct idl_contact c;
  ASSERT_OK(get_contact(t.s, 5, &c));
  ASSERT_STR(c.email, "test@test.com");
  struct idl_txn *txn;
  struct idl_ids holders = {0};
  ASSERT_OK(idl_txn_begin_read(t.s, &txn));
  ASSERT_OK(idl_store_find(txn, IDL_INDEX_EMAIL, "test@test.com", &holders));
  ASSERT_OK(idl_store_find(txn, IDL_INDEX_PHONE, "1234567890", &holders));
  idl_txn_abort(txn);
  ASSERT_EQ(holders.n, 0);
  test_store_close(&t);
  idl_blocklist_free(bl);
}

static void test_blocklist_patterns(void) {
  struct idl_blocklist *bl;
  ASSERT_OK(idl_blocklist_new(&bl));
  ASSERT_OK(idl_blocklist_add_default(bl));
  ASSERT_EQ(idl_blocklist_blocks(bl, IDL_INDEX_EMAIL, "noreply@anything.example"), 1);
  ASSERT_EQ(idl_blocklist_blocks(bl, IDL_INDEX_EMAIL, "reply@anything.example"), 0);
  ASSERT_EQ(idl_blocklist_blocks(bl, IDL_INDEX_PHONE, "999999"), 1);
  ASSERT_EQ(idl_blocklist_blocks(bl, IDL_INDEX_PHONE, "+777777777"), 1);
  ASSERT_EQ(idl_blocklist_blocks(bl, IDL_INDEX_PHONE, "99999"), 0);
  ASSERT_EQ(idl_blocklist_blocks(bl, IDL_INDEX_PHONE, "9999998"), 0);
  ASSERT_EQ(idl_blocklist_blocks(bl, IDL_INDEX_EMAIL, "999999"), 0); /* kinds apart */
  /* A file's rules, normalized as values are; a bad line is named. */
  char path[] = "/tmp/idlink-test-blocklist-XXXXXX", why[256];
  int fd = mkstemp(path);
  const char *rules = "# junk\n\nemail:*@Mailinator.COM\nphone: +90 (555) 000-00-*\n";
  ASSERT_EQ(write(fd, rules, strlen(rules)), (long long)strlen(rules));
  close(fd);
  ASSERT_OK(idl_blocklist_add_file(bl, path, why, sizeof(why)));
  ASSERT_EQ(idl_blocklist_blocks(bl, IDL_INDEX_EMAIL, "jo@mailinator.com"), 1);
  ASSERT_EQ(idl_blocklist_blocks(bl, IDL_INDEX_PHONE, "+90555000001"), 1);
  ASSERT_EQ(idl_blocklist_blocks(bl, IDL_INDEX_PHONE, "+90555000101"), 0);
  /* The text form keeps every rule. */
  char *text = idl_blocklist_text(bl);
  struct idl_blocklist *again;
  ASSERT_OK(idl_blocklist_new(&again));
  ASSERT_OK(idl_blocklist_add_text(again, text));
  ASSERT_EQ(idl_blocklist_count(again), idl_blocklist_count(bl));
  ASSERT_STR(idl_blocklist_rule(again, idl_blocklist_count(bl) - 1)->source, "file");
  free(text);
  idl_blocklist_free(again);
  fd = open(path, O_WRONLY | O_TRUNC);
  ASSERT_EQ(write(fd, "mail:x@y.z\n", 11), 11);
  close(fd);
  ASSERT_EQ(idl_blocklist_add_file(bl, path, why, sizeof(why)), IDL_ERR_INVAL);
  if (!strstr(why, ":1: expected email:PATTERN or phone:PATTERN"))
    FAIL_AT("unexpected reason: %s", why);
  unlink(path);
  idl_blocklist_free(bl);
}

struct edges {
  char text[512];
  size_t len, n;
};

static enum idl_err note_edge(const struct idl_link *l, void *arg) {
  static const char *const via[] = {"email", "phone", "bridge"};
  struct edges *e = arg;
  e->n++;
  e->len += (size_t)snprintf(e->text + e->len, sizeof(e->text) - e->len, "%llu-%llu %s %s;",
                             (unsigned long long)l->from, (unsigned long long)l->to,
                             via[l->via], l->value);
  return IDL_ERR_OK;
}

/* Explain's spanning tree: every contact of a merged identity reached once,
 * each link saying why (a shared value, or the bridge of a request). */
static void test_explain_spanning_tree(void) {
  struct test_store t;
  open_store(&t);
  identify(&t, "a@x.io", "100", 1000); /* 1 */
  identify(&t, "a@x.io", "200", 2000); /* 2: shares a@ with 1 */
  identify(&t, "c@x.io", "200", 3000); /* 3: shares 200 with 2 */
  identify(&t, "d@x.io", "400", 4000); /* 4 */
  ASSERT_EQ(identify(&t, "d@x.io", "100", 5000), 1); /* a bridge joins 4 */
  struct idl_txn *txn;
  struct idl_identity ident;
  ASSERT_OK(idl_txn_begin_read(t.s, &txn));
  ASSERT_OK(idl_identity_of_contact(txn, 3, &ident));
  idl_contacts_sort(ident.c, ident.n);
  size_t comp[8];
  struct edges e = {0};
  ASSERT_OK(idl_links_components(txn, ident.c, ident.n, comp, note_edge, &e));
  idl_txn_abort(txn);
  ASSERT_EQ(ident.n, 4);
  ASSERT_EQ(e.n, ident.n - 1);
  for (size_t i = 0; i < ident.n; i++)
    ASSERT_EQ(comp[i], 0);
  ASSERT_STR(e.text, "1-2 email a@x.io;2-3 phone 200;4-1 bridge d@x.io;");
  idl_identity_fini(&ident);
  test_store_close(&t);
}

static void test_hub_guard(void) {
  struct test_store t;
  snprintf(t.dir, sizeof(t.dir), "/tmp/idlink-test-XXXXXX");
  ASSERT_NE(mkdtemp(t.dir), NULL);
  struct idl_store_opts o = {.exclusive = 1, .max_identity_contacts = 3};
  ASSERT_OK(idl_store_open(t.dir, &o, &t.s));
  identify(&t, "a@x.io", "1", 1000); /* 1 */
  identify(&t, "a@x.io", "2", 2000); /* 2 */
  identify(&t, "a@x.io", "3", 3000); /* 3: the identity is full */
  ASSERT_EQ(identify(&t, "a@x.io", "4", 4000), 1); /* a secondary too many */
  identify(&t, "z@x.io", "9", 5000); /* 4 */
  ASSERT_EQ(identify(&t, "z@x.io", "1", 6000), 1); /* a merge too large */
  ASSERT_EQ(primary_of(&t, 4), 4);
  ASSERT_EQ(contacts(&t), 4);
  struct idl_txn *txn;
  uint64_t n = 0;
  ASSERT_OK(idl_txn_begin_read(t.s, &txn));
  ASSERT_OK(idl_table_count(txn, idl_resource_table(idl_resource_find("conflicts")), &n));
  idl_txn_abort(txn);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(violations(&t), 0);
  test_store_close(&t);
}

int main(int argc, char **argv) {
  TEST_INIT(argc, argv);
  RUN(test_chain_losing_its_middle_splits_in_two);
  RUN(test_star_of_bridges_losing_its_centre);
  RUN(test_deleting_a_primary_of_a_whole_identity);
  RUN(test_bridge_outlives_an_unrelated_delete);
  RUN(test_legacy_bridges_keep_identities_whole);
  RUN(test_blocked_values_in_every_position);
  RUN(test_blocklist_patterns);
  RUN(test_hub_guard);
  RUN(test_explain_spanning_tree);
  TEST_EXIT();
}

/* idl_check_store: a sound store passes with its counts; each kind of damage
 * is reported. The row checker it shares with snapshots holds rows from
 * elsewhere to the same rules. */
#include "fixtures.h"
#include "idlink/check.h"

static char lines[4096];

static void collect(const char *line, void *arg) {
  (void)arg;
  strncat(lines, line, sizeof(lines) - strlen(lines) - 2);
  strcat(lines, "\n");
}

static enum idl_err run_check(struct idl_store *s, struct idl_check_report *rep) {
  lines[0] = '\0';
  struct idl_txn *txn;
  enum idl_err err = idl_txn_begin_read(s, &txn);
  if (!err)
    err = idl_check_store(txn, collect, NULL, rep);
  idl_txn_abort(txn);
  return err;
}

static void test_sound_store_passes(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  struct test_outcome o;
  ASSERT_OK(reconcile_at(t.s, "a@x.io", "1", 1, IDL_RECONCILE_WRITE, &o));
  idl_identity_fini(&o.identity);
  ASSERT_OK(reconcile_at(t.s, "b@x.io", "2", 2, IDL_RECONCILE_WRITE, &o));
  idl_identity_fini(&o.identity);
  ASSERT_OK(reconcile_at(t.s, "a@x.io", "2", 3, IDL_RECONCILE_WRITE, &o));
  idl_identity_fini(&o.identity);
  ASSERT_OK(reconcile_at(t.s, NULL, "3", 4, IDL_RECONCILE_WRITE, &o));
  idl_identity_fini(&o.identity);
  struct idl_check_report rep;
  ASSERT_OK(run_check(t.s, &rep));
  ASSERT_STR(lines, "");
  ASSERT_EQ(rep.violations, 0);
  ASSERT_EQ(rep.contacts, 3);
  ASSERT_EQ(rep.primaries, 2);
  ASSERT_EQ(rep.secondaries, 1);
  ASSERT_EQ(rep.emails, 2);
  ASSERT_EQ(rep.phones, 3);
  ASSERT_EQ(rep.next_id, 4);
  ASSERT_EQ(rep.last_seq, 4);
  test_store_close(&t);
}

static void test_damage_is_reported(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  ASSERT_OK(plant(t.s, 1, "a@x.io", "1", 0, 1));
  ASSERT_OK(plant(t.s, 2, "b@x.io", "1", 0, 2));  /* a second primary with phone 1 */
  ASSERT_OK(plant(t.s, 3, "c@x.io", NULL, 42, 3)); /* names a missing primary */
  ASSERT_OK(plant(t.s, 4, "d@x.io", NULL, 3, 4));  /* names a secondary: a chain */
  /* Row 5 is written as if its email were already indexed: the index lacks it. */
  struct idl_contact c5 = {.id = 5, .precedence = IDL_PRIMARY, .created_ms = 5,
                           .updated_ms = 5, .deleted_ms = IDL_TIME_NULL};
  strcpy(c5.email, "e@x.io");
  struct idl_txn *txn;
  ASSERT_OK(idl_txn_begin_write(t.s, NULL, &txn));
  enum idl_err err = idl_store_put(txn, &c5, &c5);
  uint64_t next;
  for (int i = 0; !err && i < 2; i++)
    err = idl_store_new_id(txn, &next);
  ASSERT_OK(err);
  ASSERT_OK(idl_txn_commit(txn));
  struct idl_check_report rep;
  ASSERT_OK(run_check(t.s, &rep));
  const char *expect[] = {
      "contact 3: linkedId 42 names no contact",
      "contact 4: linkedId 3 names a secondary (a chain)",
      "contacts 1 and 2 share a phone but belong to primaries 1 and 2",
      "contact 5: its email is missing from the email index",
  };
  for (size_t i = 0; i < 4; i++)
    if (!strstr(lines, expect[i])) {
      FAIL_AT("missing \"%s\" in:\n%s", expect[i], lines);
      return;
    }
  ASSERT_EQ(rep.violations, 4);
  test_store_close(&t);
}

static struct idl_contact row_of(uint64_t id, const char *email, const char *phone,
                                  uint64_t linked, int deleted) {
  struct idl_contact c = {.id = id, .linked_id = linked,
                          .precedence = linked ? IDL_SECONDARY : IDL_PRIMARY,
                          .created_ms = (int64_t)id, .updated_ms = (int64_t)id,
                          .deleted_ms = deleted ? (int64_t)id : IDL_TIME_NULL};
  snprintf(c.email, sizeof(c.email), "%s", email ? email : "");
  snprintf(c.phone, sizeof(c.phone), "%s", phone ? phone : "");
  return c;
}

static void test_rows_held_to_the_same_rules(void) {
  const struct idl_contact rows[] = {
      row_of(1, "a@x.io", "1", 0, 0),
      row_of(2, "b@x.io", "1", 0, 0),    /* a second primary with phone 1 */
      row_of(3, "c@x.io", NULL, 42, 0),  /* names a missing primary */
      row_of(4, "d@x.io", NULL, 3, 0),   /* names a secondary: a chain */
      row_of(5, "E@x.io", NULL, 0, 0),   /* not normalized */
      row_of(6, "a@x.io", NULL, 0, 1),   /* deleted: shares nothing */
      row_of(7, "g@x.io", NULL, 6, 0),   /* active, of a deleted primary */
      row_of(8, "h@x.io", NULL, 6, 1),   /* deleted, of a deleted primary: fine */
  };
  struct idl_checker *ck;
  struct idl_check_report rep;
  lines[0] = '\0';
  ASSERT_OK(idl_checker_new(collect, NULL, &ck));
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
    ASSERT_OK(idl_checker_add(&rows[i], ck));
  ASSERT_EQ(idl_checker_add(&rows[3], ck), IDL_ERR_INVAL); /* ids ascend */
  ASSERT_OK(idl_checker_finish(ck, 8, IDL_CHECK_MAX_ID + 1, &rep));
  idl_checker_free(ck);
  ASSERT_STR(lines,
             "contact 5 holds an email or phone that is not valid and normalized\n"
             "last seq 9223372036854775807 is past 9223372036854775806, the largest "
             "sequence number a store hands out (int64)\n"
             "contact 8: id is not below next id 8\n"
             "contact 3: linkedId 42 names no contact\n"
             "contact 4: linkedId 3 names a secondary (a chain)\n"
             "contact 7: linkedId 6 names a deleted contact\n"
             "contacts 1 and 2 share a phone but belong to primaries 1 and 2\n");
  ASSERT_EQ(rep.violations, 7);
  ASSERT_EQ(rep.contacts, 8);
  ASSERT_EQ(rep.deleted, 2);
  ASSERT_EQ(rep.primaries, 3);
  ASSERT_EQ(rep.secondaries, 3);
}

static void test_next_id_must_be_servable(void) {
  const struct idl_contact c = row_of(1, "a@x.io", NULL, 0, 0);
  struct idl_checker *ck;
  struct idl_check_report rep;
  lines[0] = '\0';
  ASSERT_OK(idl_checker_new(collect, NULL, &ck));
  ASSERT_OK(idl_checker_add(&c, ck));
  ASSERT_OK(idl_checker_finish(ck, IDL_CHECK_MAX_ID + 2, IDL_CHECK_MAX_ID, &rep));
  idl_checker_free(ck);
  ASSERT_STR(lines, "next id 9223372036854775808 is past 9223372036854775806, the largest "
                    "id a store hands out (int64)\n");
  ASSERT_EQ(rep.violations, 1);
}

/* An email of 150 four-byte characters and more: longer than LMDB's keys,
 * so that the index holds it cut. */
static void long_email(char *out, size_t size, char last) {
  size_t n = 0;
  for (int i = 0; i < 150; i++)
    n += (size_t)snprintf(out + n, size - n, "\xf0\x9d\x94\x9e");
  snprintf(out + n, size - n, "%c@x.io", last);
}

static void test_long_values_told_apart_by_value(void) {
  char one[700], two[700];
  long_email(one, sizeof(one), '1');
  long_email(two, sizeof(two), '2');
  struct test_store t;
  struct idl_check_report rep;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  /* Two identities whose emails share their cut key: sound. */
  ASSERT_OK(plant(t.s, 1, one, NULL, 0, 1));
  ASSERT_OK(plant(t.s, 2, two, NULL, 0, 2));
  ASSERT_OK(run_check(t.s, &rep));
  ASSERT_STR(lines, "");
  ASSERT_EQ(rep.emails, 2);
  /* A third holding the first one's email: shared. */
  ASSERT_OK(plant(t.s, 3, one, NULL, 0, 3));
  ASSERT_OK(run_check(t.s, &rep));
  ASSERT_STR(lines, "contacts 1 and 3 share an email but belong to primaries 1 and 3\n");
  test_store_close(&t);
}

int main(int argc, char **argv) {
  TEST_INIT(argc, argv);
  RUN(test_sound_store_passes);
  RUN(test_damage_is_reported);
  RUN(test_rows_held_to_the_same_rules);
  RUN(test_next_id_must_be_servable);
  RUN(test_long_values_told_apart_by_value);
  return TEST_EXIT();
}

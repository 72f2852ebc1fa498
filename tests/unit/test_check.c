/* idl_check_store: a sound store passes with its counts; each kind of damage
 * is reported. */
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

int main(int argc, char **argv) {
  TEST_INIT(argc, argv);
  RUN(test_sound_store_passes);
  RUN(test_damage_is_reported);
  return TEST_EXIT();
}

/* Section 2's rules on a temporary store, without HTTP. */
#include "fixtures.h"
#include "json.h"

static char b1[512], b2[512], b3[512];

#define ASSERT_IDENTITY(o, primary, emails, phones, secondaries)                       \
  do {                                                                                 \
    ASSERT_EQ((o).identity.c[0].id, primary);                                          \
    ASSERT_STR(joined(&(o).identity, IDL_INDEX_EMAIL, b1, sizeof(b1)), emails);        \
    ASSERT_STR(joined(&(o).identity, IDL_INDEX_PHONE, b2, sizeof(b2)), phones);        \
    ASSERT_STR(joined_secondaries(&(o).identity, b3, sizeof(b3)), secondaries);        \
  } while (0)

static void test_new_contact_is_primary(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  struct test_outcome o;
  ASSERT_OK(reconcile_at(t.s, "lorraine@hillvalley.edu", "123456", 1000,
                         IDL_RECONCILE_WRITE, &o));
  ASSERT_EQ(o.created_id, 1);
  ASSERT_IDENTITY(o, 1, "lorraine@hillvalley.edu", "123456", "");
  idl_identity_fini(&o.identity);
  struct idl_contact c;
  ASSERT_OK(get_contact(t.s, 1, &c));
  ASSERT_EQ(c.precedence, IDL_PRIMARY);
  ASSERT_EQ(c.linked_id, 0);
  ASSERT_EQ(c.created_ms, 1000);
  ASSERT_EQ(c.deleted_ms, IDL_TIME_NULL);
  test_store_close(&t);
}

static void test_new_email_makes_secondary(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  struct test_outcome o;
  ASSERT_OK(reconcile_at(t.s, "lorraine@hillvalley.edu", "123456", 1, IDL_RECONCILE_WRITE, &o));
  idl_identity_fini(&o.identity);
  ASSERT_OK(reconcile_at(t.s, "mcfly@hillvalley.edu", "123456", 2, IDL_RECONCILE_READ, &o));
  ASSERT_EQ(o.needs_write, 1);
  ASSERT_OK(reconcile_at(t.s, "mcfly@hillvalley.edu", "123456", 2, IDL_RECONCILE_WRITE, &o));
  ASSERT_EQ(o.created_id, 2);
  ASSERT_IDENTITY(o, 1, "lorraine@hillvalley.edu,mcfly@hillvalley.edu", "123456", "2");
  idl_identity_fini(&o.identity);
  struct idl_contact c;
  ASSERT_OK(get_contact(t.s, 2, &c));
  ASSERT_EQ(c.precedence, IDL_SECONDARY);
  ASSERT_EQ(c.linked_id, 1);
  test_store_close(&t);
}

static void test_known_values_change_nothing(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  struct test_outcome o;
  ASSERT_OK(reconcile_at(t.s, "a@x.io", "1", 1, IDL_RECONCILE_WRITE, &o));
  idl_identity_fini(&o.identity);
  ASSERT_OK(reconcile_at(t.s, "b@x.io", "1", 2, IDL_RECONCILE_WRITE, &o));
  idl_identity_fini(&o.identity);
  /* Every combination of known values, and absent ones, is answered read-only. */
  const char *cases[][2] = {{"a@x.io", "1"}, {"b@x.io", "1"}, {"a@x.io", NULL},
                            {NULL, "1"},     {"b@x.io", NULL}};
  for (size_t i = 0; i < 5; i++) {
    ASSERT_OK(reconcile_at(t.s, cases[i][0], cases[i][1], 3, IDL_RECONCILE_READ, &o));
    ASSERT_EQ(o.needs_write, 0);
    ASSERT_IDENTITY(o, 1, "a@x.io,b@x.io", "1", "2");
    idl_identity_fini(&o.identity);
  }
  test_store_close(&t);
}

/* The seeds' own example: 27 becomes a secondary of the older 11. */
static void test_seed_merge(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  ASSERT_OK(plant(t.s, 11, "george@hillvalley.edu", "919191", 0, 100));
  ASSERT_OK(plant(t.s, 27, "biffsucks@hillvalley.edu", "717171", 0, 200));
  struct test_outcome o;
  ASSERT_OK(reconcile_at(t.s, "george@hillvalley.edu", "717171", 300, IDL_RECONCILE_WRITE, &o));
  ASSERT_EQ(o.created_id, 0);
  ASSERT_EQ(o.absorbed, 1);
  ASSERT_IDENTITY(o, 11, "george@hillvalley.edu,biffsucks@hillvalley.edu",
                  "919191,717171", "27");
  idl_identity_fini(&o.identity);
  struct idl_contact c;
  ASSERT_OK(get_contact(t.s, 27, &c));
  ASSERT_EQ(c.precedence, IDL_SECONDARY);
  ASSERT_EQ(c.linked_id, 11);
  ASSERT_EQ(c.updated_ms, 300);
  ASSERT_EQ(c.created_ms, 200);
  test_store_close(&t);
}

/* The winner is the oldest by createdAt, whatever the ids say. */
static void test_oldest_wins_not_smallest_id(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  ASSERT_OK(plant(t.s, 5, "young@x.io", "5", 0, 900));
  ASSERT_OK(plant(t.s, 9, "old@x.io", "9", 0, 100));
  struct test_outcome o;
  ASSERT_OK(reconcile_at(t.s, "young@x.io", "9", 1000, IDL_RECONCILE_WRITE, &o));
  ASSERT_IDENTITY(o, 9, "old@x.io,young@x.io", "9,5", "5");
  idl_identity_fini(&o.identity);
  test_store_close(&t);
}

static void test_created_tie_smallest_id_wins(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  ASSERT_OK(plant(t.s, 8, "b@x.io", NULL, 0, 100));
  ASSERT_OK(plant(t.s, 3, "a@x.io", NULL, 0, 100));
  struct test_outcome o;
  ASSERT_OK(reconcile_at(t.s, "b@x.io", NULL, 1000, IDL_RECONCILE_WRITE, &o));
  ASSERT_EQ(o.needs_write + o.created_id + o.absorbed, 0);
  idl_identity_fini(&o.identity);
  test_store_close(&t);
  ASSERT_EQ(test_store_open(&t, 0), 0);
  ASSERT_OK(plant(t.s, 8, "b@x.io", "1", 0, 100));
  ASSERT_OK(plant(t.s, 3, "a@x.io", "2", 0, 100));
  ASSERT_OK(reconcile_at(t.s, "b@x.io", "2", 1000, IDL_RECONCILE_WRITE, &o));
  ASSERT_IDENTITY(o, 3, "a@x.io,b@x.io", "2,1", "8");
  idl_identity_fini(&o.identity);
  test_store_close(&t);
}

static void test_null_values_are_never_new(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  struct test_outcome o;
  ASSERT_OK(reconcile_at(t.s, "a@x.io", NULL, 1, IDL_RECONCILE_WRITE, &o));
  ASSERT_IDENTITY(o, 1, "a@x.io", "", "");
  idl_identity_fini(&o.identity);
  /* The phone is new information; the missing email is not. */
  ASSERT_OK(reconcile_at(t.s, "a@x.io", "77", 2, IDL_RECONCILE_WRITE, &o));
  ASSERT_EQ(o.created_id, 2);
  ASSERT_IDENTITY(o, 1, "a@x.io", "77", "2");
  idl_identity_fini(&o.identity);
  ASSERT_OK(reconcile_at(t.s, NULL, "77", 3, IDL_RECONCILE_READ, &o));
  ASSERT_EQ(o.needs_write, 0);
  ASSERT_IDENTITY(o, 1, "a@x.io", "77", "2");
  idl_identity_fini(&o.identity);
  test_store_close(&t);
}

static void test_primary_without_email(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  struct test_outcome o;
  ASSERT_OK(reconcile_at(t.s, NULL, "555", 1, IDL_RECONCILE_WRITE, &o));
  idl_identity_fini(&o.identity);
  ASSERT_OK(reconcile_at(t.s, "doc@x.io", "555", 2, IDL_RECONCILE_WRITE, &o));
  ASSERT_EQ(o.created_id, 2);
  /* The primary has no email: the list starts with the secondaries'. */
  ASSERT_IDENTITY(o, 1, "doc@x.io", "555", "2");
  idl_identity_fini(&o.identity);
  test_store_close(&t);
}

/* Three identities end as one, across two merges: the absorbed primaries'
 * secondaries always re-point to the winner, never to another secondary. */
static void test_three_identities_no_chains(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  ASSERT_OK(plant(t.s, 1, "a@x.io", "1", 0, 100));
  ASSERT_OK(plant(t.s, 2, "b@x.io", "2", 0, 200));
  ASSERT_OK(plant(t.s, 3, "b2@x.io", "2", 2, 210));
  ASSERT_OK(plant(t.s, 4, "c@x.io", "3", 0, 300));
  ASSERT_OK(plant(t.s, 5, "c2@x.io", "3", 4, 310));
  struct test_outcome o;
  ASSERT_OK(reconcile_at(t.s, "c2@x.io", "2", 400, IDL_RECONCILE_WRITE, &o));
  ASSERT_IDENTITY(o, 2, "b@x.io,b2@x.io,c@x.io,c2@x.io", "2,3", "3,4,5");
  idl_identity_fini(&o.identity);
  ASSERT_OK(reconcile_at(t.s, "a@x.io", "3", 500, IDL_RECONCILE_WRITE, &o));
  ASSERT_EQ(o.created_id, 0);
  ASSERT_IDENTITY(o, 1, "a@x.io,b@x.io,b2@x.io,c@x.io,c2@x.io", "1,2,3", "2,3,4,5");
  idl_identity_fini(&o.identity);
  for (uint64_t id = 2; id <= 5; id++) {
    struct idl_contact c;
    ASSERT_OK(get_contact(t.s, id, &c));
    ASSERT_EQ(c.precedence, IDL_SECONDARY);
    ASSERT_EQ(c.linked_id, 1);
  }
  test_store_close(&t);
}

/* A merge and a new value in one request: merged, then one secondary created. */
static void test_merge_and_create(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  ASSERT_OK(plant(t.s, 1, "a@x.io", "1", 0, 100));
  ASSERT_OK(plant(t.s, 2, "b@x.io", "2", 0, 200));
  struct test_outcome o;
  ASSERT_OK(reconcile_at(t.s, "b@x.io", "1", 300, IDL_RECONCILE_WRITE, &o));
  idl_identity_fini(&o.identity);
  ASSERT_OK(reconcile_at(t.s, "new@x.io", "2", 400, IDL_RECONCILE_WRITE, &o));
  ASSERT_EQ(o.created_id, 3);
  ASSERT_IDENTITY(o, 1, "a@x.io,b@x.io,new@x.io", "1,2", "2,3");
  idl_identity_fini(&o.identity);
  test_store_close(&t);
}

static void test_lookup_is_read_only(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  ASSERT_OK(plant(t.s, 1, "a@x.io", "1", 0, 100));
  ASSERT_OK(plant(t.s, 2, "b@x.io", "2", 0, 50));
  struct idl_txn *txn;
  ASSERT_OK(idl_txn_begin_read(t.s, &txn));
  struct idl_request r = req_of("a@x.io", "2");
  uint64_t primary = 0, none_primary = 0;
  enum idl_err err = idl_identity_lookup(txn, &r, &primary);
  struct idl_request none = req_of("zz@x.io", "99");
  enum idl_err missing = idl_identity_lookup(txn, &none, &none_primary);
  idl_txn_abort(txn);
  ASSERT_OK(err);
  ASSERT_EQ(primary, 2);
  ASSERT_EQ(missing, IDL_ERR_NOTFOUND);
  /* No merge happened; the oldest matched primary is the answer. */
  struct idl_contact c;
  ASSERT_OK(get_contact(t.s, 1, &c));
  ASSERT_EQ(c.precedence, IDL_PRIMARY);
  test_store_close(&t);
}

/* The identify answer as text: escaping, order, frames. */
static void test_identity_text(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  ASSERT_OK(plant(t.s, 1, "q\"uo\\te@x.io", "1", 0, 1));
  ASSERT_OK(plant(t.s, 2, "\xc3\xa9@x.io", "1", 1, 2));
  struct test_outcome o;
  ASSERT_OK(reconcile_at(t.s, NULL, "1", 3, IDL_RECONCILE_READ, &o));
  char *text = NULL, *bare = NULL, *customer = NULL;
  size_t len = 0, bare_len = 0, customer_len = 0;
  enum idl_err e1 = idl_json_identity_text(&o.identity, IDL_FRAME_CONTACT, &text, &len);
  enum idl_err e2 = idl_json_identity_text(&o.identity, IDL_FRAME_BARE, &bare, &bare_len);
  enum idl_err e3 = idl_json_identity_text(&o.identity, IDL_FRAME_CUSTOMER, &customer,
                                           &customer_len);
  idl_identity_fini(&o.identity);
  char expect[640], expect_bare[256], expect_customer[640];
  snprintf(expect_bare, sizeof(expect_bare), "%s",
           "{\"primaryContactId\":1,\"emails\":[\"q\\\"uo\\\\te@x.io\",\"\xc3\xa9@x.io\"],"
           "\"phoneNumbers\":[\"1\"],\"secondaryContactIds\":[2]}");
  snprintf(expect, sizeof(expect), "{\"contact\":%s}", expect_bare);
  snprintf(expect_customer, sizeof(expect_customer), "{\"customerID\":\"1\",\"contact\":%s}",
           expect_bare);
  int same = !e1 && !e2 && !e3 && strcmp(text, expect) == 0 && len == strlen(expect) &&
             strcmp(bare, expect_bare) == 0 && bare_len == strlen(expect_bare) &&
             strcmp(customer, expect_customer) == 0;
  if (!same)
    FAIL_AT("got %s | %s | %s", text ? text : "-", bare ? bare : "-",
            customer ? customer : "-");
  free(text);
  free(bare);
  free(customer);
  test_store_close(&t);
}

/* Reconciling a request into a large identity reads what the request names,
 * not the whole identity: it costs far less than loading the identity (which
 * the writer used to do for every answer, holding up every other write). */
static void test_large_identity_costs_the_writer_little(void) {
  enum { HUB = 5000 };
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  struct idl_txn *txn;
  ASSERT_OK(idl_txn_begin_write(t.s, NULL, &txn));
  for (int i = 0; i < HUB; i++) {
    char email[32];
    snprintf(email, sizeof(email), "hub%d@x.io", i);
    struct idl_request r = req_of(email, "5550000");
    struct idl_outcome o;
    ASSERT_OK(idl_identity_reconcile(txn, &r, 1000 + i, IDL_RECONCILE_WRITE, &o));
  }
  ASSERT_OK(idl_txn_commit(txn));
  ASSERT_OK(idl_txn_begin_write(t.s, NULL, &txn));
  /* The best of a few runs of each, so that a busy machine's stall in one
   * of them does not decide. */
  int64_t reconcile_us = INT64_MAX, load_us = INT64_MAX;
  struct idl_outcome o;
  for (int i = 0; i < 5; i++) {
    char email[32];
    snprintf(email, sizeof(email), "new%d@x.io", i);
    struct idl_request r = req_of(email, "5550000");
    int64_t t0 = idl_now_us();
    ASSERT_OK(idl_identity_reconcile(txn, &r, 9000 + i, IDL_RECONCILE_WRITE, &o));
    int64_t us = idl_now_us() - t0;
    reconcile_us = us < reconcile_us ? us : reconcile_us;
  }
  struct idl_identity ident;
  for (int i = 0; i < 3; i++) {
    int64_t t0 = idl_now_us();
    ASSERT_OK(idl_identity_of_contact(txn, o.primary, &ident));
    int64_t us = idl_now_us() - t0;
    load_us = us < load_us ? us : load_us;
    if (i < 2)
      idl_identity_fini(&ident);
  }
  idl_txn_abort(txn);
  ASSERT_EQ(ident.n, HUB + 5);
  ASSERT_EQ(o.primary, 1);
  ASSERT_EQ(o.created_id, HUB + 5);
  idl_identity_fini(&ident);
  ASSERT_INT(<, reconcile_us * 20, load_us);
  test_store_close(&t);
}

int main(int argc, char **argv) {
  TEST_INIT(argc, argv);
  RUN(test_identity_text);
  RUN(test_new_contact_is_primary);
  RUN(test_new_email_makes_secondary);
  RUN(test_known_values_change_nothing);
  RUN(test_seed_merge);
  RUN(test_oldest_wins_not_smallest_id);
  RUN(test_created_tie_smallest_id_wins);
  RUN(test_null_values_are_never_new);
  RUN(test_primary_without_email);
  RUN(test_three_identities_no_chains);
  RUN(test_merge_and_create);
  RUN(test_lookup_is_read_only);
  RUN(test_large_identity_costs_the_writer_little);
  return TEST_EXIT();
}

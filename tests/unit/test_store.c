/* The store on a temporary LMDB: records, indexes, members, the log, limits. */
#include <sys/wait.h>

#include "fixtures.h"

static void test_put_get_find(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  ASSERT_OK(plant(t.s, 1, "a@x.io", "1", 0, 100));
  ASSERT_OK(plant(t.s, 2, "b@x.io", "1", 1, 200));
  struct idl_txn *txn;
  ASSERT_OK(idl_txn_begin_read(t.s, &txn));
  struct idl_ids by_phone = {0}, by_email = {0}, members = {0};
  enum idl_err e1 = idl_store_find(txn, IDL_INDEX_PHONE, "1", &by_phone);
  enum idl_err e2 = idl_store_find(txn, IDL_INDEX_EMAIL, "nobody@x.io", &by_email);
  enum idl_err e3 = idl_store_members(txn, 1, &members);
  struct idl_contact c;
  enum idl_err e4 = idl_store_get(txn, 3, &c);
  idl_txn_abort(txn);
  size_t n_phone = by_phone.n, n_email = by_email.n, n_members = members.n;
  uint64_t first = n_phone ? by_phone.v[0] : 0, member = n_members ? members.v[0] : 0;
  idl_ids_fini(&by_phone);
  idl_ids_fini(&by_email);
  idl_ids_fini(&members);
  ASSERT_OK(e1);
  ASSERT_OK(e2);
  ASSERT_OK(e3);
  ASSERT_EQ(e4, IDL_ERR_NOTFOUND);
  ASSERT_EQ(n_phone, 2);
  ASSERT_EQ(first, 1);
  ASSERT_EQ(n_email, 0);
  ASSERT_EQ(n_members, 1);
  ASSERT_EQ(member, 2);
  test_store_close(&t);
}

/* Values longer than LMDB's key limit share a cut key; lookups still tell them apart. */
static void test_long_values_under_cut_keys(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  char a[1000], b[1000];
  /* 200 two-byte characters + "@x.io": 254 characters, over 400 bytes. */
  for (int i = 0; i < 240; i++)
    memcpy(a + 2 * i, "\xc3\xa9", 2);
  strcpy(a + 480, "@a.io");
  strcpy(b, a);
  b[482] = 'b';
  ASSERT_OK(plant(t.s, 1, a, NULL, 0, 1));
  ASSERT_OK(plant(t.s, 2, b, NULL, 0, 2));
  struct test_outcome o;
  ASSERT_OK(reconcile_at(t.s, b, NULL, 3, IDL_RECONCILE_READ, &o));
  ASSERT_EQ(o.needs_write, 0);
  ASSERT_EQ(o.identity.c[0].id, 2);
  ASSERT_EQ(o.identity.n, 1);
  idl_identity_fini(&o.identity);
  test_store_close(&t);
}

static void test_log_and_info(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  struct test_outcome o;
  ASSERT_OK(reconcile_at(t.s, "a@x.io", "1", 10, IDL_RECONCILE_WRITE, &o));
  idl_identity_fini(&o.identity);
  ASSERT_OK(reconcile_at(t.s, "b@x.io", "2", 20, IDL_RECONCILE_WRITE, &o));
  idl_identity_fini(&o.identity);
  ASSERT_OK(reconcile_at(t.s, "a@x.io", "2", 30, IDL_RECONCILE_WRITE, &o));
  idl_identity_fini(&o.identity);
  struct idl_txn *txn;
  ASSERT_OK(idl_txn_begin_read(t.s, &txn));
  struct idl_change *ch = NULL;
  size_t n = 0;
  struct idl_store_info info;
  enum idl_err e1 = idl_store_changes(txn, 1, 10, &ch, &n);
  enum idl_err e2 = idl_store_info(txn, &info);
  idl_txn_abort(txn);
  ASSERT_OK(e1);
  ASSERT_OK(e2);
  int ok = n == 2 && ch[0].seq == 2 && ch[0].kind == IDL_CHANGE_CONTACT_CREATED &&
           ch[0].contact == 2 && ch[1].seq == 3 && ch[1].kind == IDL_CHANGE_IDENTITY_MERGED &&
           ch[1].primary == 1 && ch[1].absorbed.n == 1 && ch[1].absorbed.v[0] == 2 &&
           ch[1].at_ms == 30;
  for (size_t i = 0; i < n; i++)
    idl_change_fini(&ch[i]);
  free(ch);
  ASSERT_EQ(ok, 1);
  ASSERT_EQ(info.contacts, 2);
  ASSERT_EQ(info.next_id, 3);
  ASSERT_EQ(info.last_seq, 3);
  test_store_close(&t);
}

static void test_reopen_keeps_everything(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  struct test_outcome o;
  ASSERT_OK(reconcile_at(t.s, "a@x.io", "1", 10, IDL_RECONCILE_WRITE, &o));
  idl_identity_fini(&o.identity);
  idl_store_close(t.s);
  struct idl_store_opts opts = {.exclusive = 1};
  ASSERT_OK(idl_store_open(t.dir, &opts, &t.s));
  ASSERT_OK(reconcile_at(t.s, "b@x.io", "2", 20, IDL_RECONCILE_WRITE, &o));
  ASSERT_EQ(o.created_id, 2); /* ids continue, never reused */
  idl_identity_fini(&o.identity);
  test_store_close(&t);
}

static void test_second_writer_is_refused(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  /* flock locks belong to the open file: another process is refused. */
  pid_t pid = fork();
  if (pid == 0) {
    struct idl_store_opts opts = {.exclusive = 1};
    struct idl_store *s;
    _exit(idl_store_open(t.dir, &opts, &s) == IDL_ERR_LOCKED ? 0 : 1);
  }
  int status = -1;
  waitpid(pid, &status, 0);
  ASSERT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
  struct idl_store_opts ro = {.read_only = 1};
  struct idl_store *reader;
  ASSERT_OK(idl_store_open(t.dir, &ro, &reader)); /* readers are welcome */
  idl_store_close(reader);
  test_store_close(&t);
}

/* A full map refuses the write with IDL_ERR_FULL and keeps what it had. */
static void test_map_full(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 1 << 20), 0);
  enum idl_err err = IDL_ERR_OK;
  int made = 0;
  for (int i = 0; i < 100000 && !err; i++) {
    char email[64];
    snprintf(email, sizeof(email), "user%d@x.io", i);
    struct test_outcome o;
    err = reconcile_at(t.s, email, NULL, i, IDL_RECONCILE_WRITE, &o);
    if (!err) {
      made++;
      idl_identity_fini(&o.identity);
    }
  }
  ASSERT_EQ(err, IDL_ERR_FULL);
  struct idl_txn *txn;
  struct idl_store_info info;
  ASSERT_OK(idl_txn_begin_read(t.s, &txn));
  err = idl_store_info(txn, &info);
  idl_txn_abort(txn);
  ASSERT_OK(err);
  ASSERT_EQ(info.contacts, made);
  ASSERT_EQ(info.next_id, made + 1);
  test_store_close(&t);
}

/* A value exactly as long as the key limit shares its key with longer values
 * that start with it; a lookup still finds only its own. */
static void test_value_at_the_key_limit(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  size_t limit = idl_store_index_key_len(t.s, SIZE_MAX);
  char a[1100], b[1200];
  memset(a, 'a', limit);
  memcpy(a + limit - 5, "@x.io", 5);
  a[limit] = '\0';
  snprintf(b, sizeof(b), "%s.uk", a);
  ASSERT_OK(plant(t.s, 1, b, NULL, 0, 1));
  struct test_outcome o;
  ASSERT_OK(reconcile_at(t.s, a, NULL, 2, IDL_RECONCILE_READ, &o));
  ASSERT_EQ(o.needs_write, 1); /* a is new: it matches nothing */
  ASSERT_OK(plant(t.s, 2, a, NULL, 0, 2));
  ASSERT_OK(reconcile_at(t.s, a, NULL, 3, IDL_RECONCILE_READ, &o));
  ASSERT_EQ(o.needs_write, 0);
  uint64_t primary = o.identity.c[0].id;
  size_t n = o.identity.n;
  idl_identity_fini(&o.identity);
  ASSERT_EQ(primary, 2);
  ASSERT_EQ(n, 1);
  test_store_close(&t);
}

/* Id sets sort and lose their repeats, whether they come in order or not. */
static void test_ids_sort_unique(void) {
  const uint64_t in[][6] = {{1, 2, 2, 5, 9, 9}, {9, 5, 2, 9, 1, 2}, {3, 3, 3, 3, 3, 3}};
  const uint64_t want[][4] = {{1, 2, 5, 9}, {1, 2, 5, 9}, {3, 0, 0, 0}};
  const size_t n_want[] = {4, 4, 1};
  for (size_t c = 0; c < 3; c++) {
    struct idl_ids ids = {0};
    for (size_t i = 0; i < 6; i++)
      ASSERT_OK(idl_ids_push(&ids, in[c][i]));
    idl_ids_sort_unique(&ids);
    ASSERT_EQ(ids.n, n_want[c]);
    for (size_t i = 0; i < ids.n; i++)
      ASSERT_EQ(ids.v[i], want[c][i]);
    idl_ids_fini(&ids);
  }
  struct idl_ids none = {0};
  idl_ids_sort_unique(&none);
  ASSERT_EQ(none.n, 0);
}

int main(int argc, char **argv) {
  TEST_INIT(argc, argv);
  RUN(test_value_at_the_key_limit);
  RUN(test_put_get_find);
  RUN(test_long_values_under_cut_keys);
  RUN(test_log_and_info);
  RUN(test_reopen_keeps_everything);
  RUN(test_second_writer_is_refused);
  RUN(test_map_full);
  RUN(test_ids_sort_unique);
  return TEST_EXIT();
}

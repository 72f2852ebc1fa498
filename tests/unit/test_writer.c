/* The group-committing writer: concurrency, serializability, isolation. */
#include <pthread.h>

#include "fixtures.h"
#include "idlink/writer.h"

struct submitter {
  struct idl_writer *w;
  struct idl_request req;
  struct idl_outcome out;
  enum idl_err err;
};

static enum idl_err apply(struct idl_txn *txn, void *arg) {
  struct submitter *s = arg;
  return idl_identity_reconcile(txn, &s->req, idl_now_ms(), IDL_RECONCILE_WRITE, &s->out);
}

static void *submit(void *arg) {
  struct submitter *s = arg;
  s->err = idl_writer_submit(s->w, apply, s, NULL);
  return NULL;
}

/* The number of contacts in the identity contact id belongs to. */
static size_t identity_size(struct idl_store *st, uint64_t id) {
  struct idl_txn *txn;
  struct idl_identity ident = {0};
  if (idl_txn_begin_read(st, &txn))
    return 0;
  enum idl_err err = idl_identity_of_contact(txn, id, &ident);
  idl_txn_abort(txn);
  size_t n = err ? 0 : ident.n;
  idl_identity_fini(&ident);
  return n;
}

/* 20 identical new requests at once create exactly one contact. */
static void test_identical_requests_create_one(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  struct idl_writer_opts opts = {0};
  struct idl_writer *w;
  ASSERT_OK(idl_writer_start(t.s, &opts, &w));
  struct submitter s[20];
  pthread_t th[20];
  for (int i = 0; i < 20; i++) {
    s[i] = (struct submitter){.w = w, .req = req_of("same@x.io", "42")};
    pthread_create(&th[i], NULL, submit, &s[i]);
  }
  int created = 0, errors = 0, other_primary = 0;
  for (int i = 0; i < 20; i++) {
    pthread_join(th[i], NULL);
    if (s[i].err) {
      errors++;
      continue;
    }
    created += s[i].out.created_id != 0;
    other_primary += s[i].out.primary != 1;
  }
  idl_writer_stop(w);
  ASSERT_EQ(errors, 0);
  ASSERT_EQ(created, 1);
  ASSERT_EQ(other_primary, 0);
  ASSERT_EQ(identity_size(t.s, 1), 1);
  test_store_close(&t);
}

/* A request that fails (here on a broken row) fails alone: the others of the
 * same batches commit. */
static void test_failure_is_isolated(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  ASSERT_OK(plant(t.s, 1, "broken@x.io", NULL, 99, 1)); /* names a missing primary */
  struct idl_writer_opts opts = {0};
  struct idl_writer *w;
  ASSERT_OK(idl_writer_start(t.s, &opts, &w));
  struct submitter s[9];
  pthread_t th[9];
  for (int i = 0; i < 9; i++) {
    char email[32];
    snprintf(email, sizeof(email), "user%d@x.io", i);
    s[i] = (struct submitter){.w = w, .req = req_of(i == 4 ? "broken@x.io" : email, NULL)};
    pthread_create(&th[i], NULL, submit, &s[i]);
  }
  int failed = 0, created = 0;
  for (int i = 0; i < 9; i++) {
    pthread_join(th[i], NULL);
    if (s[i].err) {
      failed += i == 4 && s[i].err == IDL_ERR_CORRUPT;
      continue;
    }
    created += s[i].out.created_id != 0;
  }
  idl_writer_stop(w);
  ASSERT_EQ(failed, 1);
  ASSERT_EQ(created, 8);
  struct idl_contact c;
  for (uint64_t id = 2; id < 10; id++)
    ASSERT_OK(get_contact(t.s, id, &c));
  test_store_close(&t);
}

/* Overlapping requests from many threads end as some serial order would:
 * one identity holding every value. */
static void test_concurrent_merges_converge(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  struct idl_writer_opts opts = {.max_batch = 4};
  struct idl_writer *w;
  ASSERT_OK(idl_writer_start(t.s, &opts, &w));
  enum { N = 16 };
  struct submitter s[N];
  pthread_t th[N];
  for (int i = 0; i < N; i++) {
    char email[32], phone[8];
    snprintf(email, sizeof(email), "chain%d@x.io", i);
    snprintf(phone, sizeof(phone), "%d", i / 2); /* pairs share a phone */
    s[i] = (struct submitter){.w = w, .req = req_of(email, phone)};
    pthread_create(&th[i], NULL, submit, &s[i]);
  }
  for (int i = 0; i < N; i++)
    pthread_join(th[i], NULL);
  /* Now bridge the pairs, one request per neighbouring pair. */
  for (int i = 0; i + 1 < N / 2; i++) {
    char email[32], phone[8];
    snprintf(email, sizeof(email), "chain%d@x.io", 2 * i);
    snprintf(phone, sizeof(phone), "%d", i + 1);
    s[i] = (struct submitter){.w = w, .req = req_of(email, phone)};
    pthread_create(&th[i], NULL, submit, &s[i]);
  }
  int errors = 0;
  for (int i = 0; i + 1 < N / 2; i++) {
    pthread_join(th[i], NULL);
    errors += s[i].err != IDL_ERR_OK;
  }
  idl_writer_stop(w);
  ASSERT_EQ(errors, 0);
  ASSERT_EQ(identity_size(t.s, 5), N);
  test_store_close(&t);
}

int main(int argc, char **argv) {
  TEST_INIT(argc, argv);
  RUN(test_identical_requests_create_one);
  RUN(test_failure_is_isolated);
  RUN(test_concurrent_merges_converge);
  return TEST_EXIT();
}

/* idlink-gen-store: fills a new store with N contacts shaped like a shop's:
 * every identity has a primary; about a third have secondaries (a second
 * email or phone), and some identities are bridged into older ones. Runs the
 * real reconciliation rules through the core library, in large transactions.
 *
 * Identity k is created with email customer{k}@shop.example and phone
 * +1555{k, 10 digits}, so that a benchmark can ask for any known contact; the
 * extra values of secondaries use other forms. Prints the contacts made and
 * the identities k ran to.
 *
 * Usage: idlink-gen-store DIR N */
#include <stdio.h>
#include <stdlib.h>

#include "idlink/identity.h"
#include "idlink/log.h"

#define PER_TXN 20000

static enum idl_err apply(struct idl_txn *txn, const char *email_fmt, uint64_t email,
                          const char *phone_fmt, uint64_t phone, int64_t now, uint64_t *made) {
  struct idl_request req;
  snprintf(req.email, sizeof(req.email), email_fmt, (unsigned long long)email);
  snprintf(req.phone, sizeof(req.phone), phone_fmt, (unsigned long long)phone);
  struct idl_outcome out;
  enum idl_err err = idl_identity_reconcile(txn, &req, now, IDL_RECONCILE_WRITE, &out);
  if (!err)
    *made += out.created_id != 0;
  return err;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: idlink-gen-store DIR N\n");
    return 2;
  }
  static const char *const EMAIL = "customer%llu@shop.example", *const EMAIL2 =
      "customer%llu.2@shop.example", *const PHONE = "+1555%010llu", *const PHONE2 =
      "+1666%010llu";
  uint64_t want = strtoull(argv[2], NULL, 10), made = 0, k = 0;
  struct idl_store_opts opts = {.sync_full = 0, .exclusive = 1};
  struct idl_store *s;
  idl_log_set_level(IDL_LOG_ERROR);
  enum idl_err err = idl_store_open(argv[1], &opts, &s);
  srand(42);
  while (!err && made < want) {
    struct idl_txn *txn;
    if ((err = idl_txn_begin_write(s, NULL, &txn)))
      break;
    for (int i = 0; i < PER_TXN && !err && made < want; i++, k++) {
      int64_t now = 1700000000000LL + (int64_t)k;
      err = apply(txn, EMAIL, k, PHONE, k, now, &made);
      int r = rand() % 100;
      if (!err && r < 20 && made < want) /* a second email, same phone */
        err = apply(txn, EMAIL2, k, PHONE, k, now, &made);
      else if (!err && r < 30 && made < want) /* a second phone, same email */
        err = apply(txn, EMAIL, k, PHONE2, k, now, &made);
      else if (!err && r < 34 && k > 10) /* bridges into an older identity */
        err = apply(txn, EMAIL, k, PHONE, k - 1 - (uint64_t)(rand() % 5), now, &made);
    }
    if (err)
      idl_txn_abort(txn);
    else
      err = idl_txn_commit(txn);
  }
  if (!err)
    err = idl_store_sync(s);
  idl_store_close(s);
  if (err) {
    fprintf(stderr, "idlink-gen-store: %s\n", idl_strerror(err));
    return 1;
  }
  printf("%llu %llu\n", (unsigned long long)made, (unsigned long long)k);
  return 0;
}

/* idlink-gen-customers: fills a new store with N customers through the
 * resource layer's generic create (idl_write_create), as POST
 * /api/v1/customers/ would make them: each one validated, stored with its
 * indexes, logged, and its email and phone reconciled into the contact graph.
 * The store is opened exclusively with sync off and written in large
 * transactions.
 *
 * Customer k (from 0) has email customer{k}@shop.example, channel k%3+1,
 * channel_code c{k} and phone +1555{k, 10 digits}, except that every third
 * one (k%3 == 2) takes the phone of customer k-1, so that the two share one
 * identity. Every customer adds one contact, so the contact id of customer
 * k is k+1 and the identity (primaryContactId) of customer k is k+1, or k
 * when k%3 == 2. created_date is the generation's start plus k milliseconds.
 * bench/run.sh and bench/customers_list.lua rely on these shapes.
 *
 * Prints the customers made and the contacts the store holds.
 *
 * Usage: idlink-gen-customers DIR N */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#include "idlink/log.h"
#include "idlink/resource.h"
#include "idlink/store.h"

#define PER_TXN 20000

static int64_t wall_us(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Creates customer k through the generic path. */
static enum idl_err create(struct idl_txn *txn, const struct idl_resource *res, uint64_t k,
                           int64_t start_us) {
  char email[64], phone[32], code[32];
  snprintf(email, sizeof(email), "customer%llu@shop.example", (unsigned long long)k);
  snprintf(phone, sizeof(phone), "+1555%010llu",
           (unsigned long long)(k % 3 == 2 ? k - 1 : k));
  snprintf(code, sizeof(code), "c%llu", (unsigned long long)k);
  json_t *body = json_pack("{s:I, s:s, s:s, s:s}", "channel", (json_int_t)(k % 3 + 1),
                           "email", email, "phone_number", phone, "channel_code", code);
  if (!body)
    return IDL_ERR_NOMEM;
  struct idl_errors errors = {0};
  uint64_t pk = 0;
  enum idl_err err = idl_write_create(txn, res, body, "", start_us + (int64_t)k * 1000,
                                      &errors, &pk);
  if (err == IDL_ERR_INVAL && errors.n)
    fprintf(stderr, "idlink-gen-customers: customer %llu refused: %s: %s\n",
            (unsigned long long)k, errors.v[0].field, errors.v[0].message);
  idl_errors_fini(&errors);
  json_decref(body);
  return err;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: idlink-gen-customers DIR N\n");
    return 2;
  }
  const struct idl_resource *res = idl_resource_find("customers");
  uint64_t want = strtoull(argv[2], NULL, 10), k = 0;
  struct idl_store_opts opts = {.sync_full = 0, .exclusive = 1};
  struct idl_store *s = NULL;
  struct idl_store_info info = {0};
  idl_log_set_level(IDL_LOG_ERROR);
  enum idl_err err = res ? idl_store_open(argv[1], &opts, &s) : IDL_ERR_NOTFOUND;
  int64_t start_us = wall_us();
  while (!err && k < want) {
    struct idl_txn *txn;
    if ((err = idl_txn_begin_write(s, NULL, &txn)))
      break;
    for (int i = 0; i < PER_TXN && !err && k < want; i++, k++)
      err = create(txn, res, k, start_us);
    if (err)
      idl_txn_abort(txn);
    else
      err = idl_txn_commit(txn);
  }
  if (!err)
    err = idl_store_sync(s);
  struct idl_txn *rtxn = NULL;
  if (!err && !(err = idl_txn_begin_read(s, &rtxn)))
    err = idl_store_info(rtxn, &info);
  idl_txn_abort(rtxn);
  idl_store_close(s);
  if (err) {
    fprintf(stderr, "idlink-gen-customers: %s\n", idl_strerror(err));
    return 1;
  }
  printf("%llu %llu\n", (unsigned long long)k, (unsigned long long)info.contacts);
  return 0;
}

#include "idlink/service.h"

#include <stdlib.h>
#include <string.h>

struct idl_service {
  struct idl_store *store;
  struct idl_writer *writer;
  struct idl_mirror *mirror;
};

static void wake_mirror(void *arg) {
  struct idl_service *svc = arg;
  idl_mirror_notify(svc->mirror);
}

static uint64_t mirror_floor(void *arg) {
  struct idl_service *svc = arg;
  return idl_mirror_applied(svc->mirror);
}

enum idl_err idl_service_open(const struct idl_service_opts *opts,
                              struct idl_service **out) {
  struct idl_service *svc = calloc(1, sizeof(*svc));
  if (!svc)
    return IDL_ERR_NOMEM;
  struct idl_store_opts so = {
      .sync_full = opts->sync_full, .map_size = opts->map_size, .exclusive = 1};
  struct idl_writer_opts wo = {.max_batch = opts->max_batch,
                               .log_retain = opts->log_retain,
                               .committed = opts->mirror ? wake_mirror : NULL,
                               .trim_floor = opts->mirror ? mirror_floor : NULL,
                               .arg = svc};
  enum idl_err err = idl_store_open(opts->data_dir, &so, &svc->store);
  if (!err && opts->mirror)
    err = idl_mirror_start(svc->store, opts->mirror, &svc->mirror);
  if (!err)
    err = idl_writer_start(svc->store, &wo, &svc->writer);
  if (err) {
    idl_service_close(svc);
    return err;
  }
  *out = svc;
  return IDL_ERR_OK;
}

void idl_service_close(struct idl_service *svc) {
  if (!svc)
    return;
  idl_writer_stop(svc->writer);
  idl_mirror_stop(svc->mirror, IDL_SERVICE_MIRROR_FLUSH_MS);
  idl_store_close(svc->store);
  free(svc);
}

enum idl_err idl_service_reconcile(struct idl_service *svc, const struct idl_request *req,
                                   struct idl_outcome *out) {
  struct idl_txn *txn;
  enum idl_err err = idl_txn_begin_read(svc->store, &txn);
  if (err)
    return err;
  err = idl_identity_reconcile(txn, req, idl_now_ms(), IDL_RECONCILE_READ, out);
  /* A snapshot newer than the writer's last finished commit may not be on
   * disk yet: let the writer answer, after that commit. */
  int fresh = idl_txn_id(txn) > idl_writer_durable_txnid(svc->writer);
  idl_txn_abort(txn);
  if (err || (!out->needs_write && !fresh))
    return err;
  if (!out->needs_write)
    idl_identity_fini(&out->identity);
  return idl_writer_submit(svc->writer, req, out);
}

/* Runs a read-only call in a read transaction of its own. */
#define WITH_READ(svc, call)                                                   \
  do {                                                                         \
    struct idl_txn *txn;                                                       \
    enum idl_err err_ = idl_txn_begin_read((svc)->store, &txn);                \
    if (err_)                                                                  \
      return err_;                                                             \
    err_ = (call);                                                             \
    idl_txn_abort(txn);                                                        \
    return err_;                                                               \
  } while (0)

enum idl_err idl_service_lookup(struct idl_service *svc, const struct idl_request *req,
                                struct idl_identity *out) {
  WITH_READ(svc, idl_identity_lookup(txn, req, out));
}

enum idl_err idl_service_identity(struct idl_service *svc, uint64_t id,
                                  struct idl_identity *out) {
  WITH_READ(svc, idl_identity_of_contact(txn, id, out));
}

enum idl_err idl_service_contact(struct idl_service *svc, uint64_t id,
                                 struct idl_contact *out) {
  WITH_READ(svc, idl_store_get(txn, id, out));
}

static enum idl_err changes_and_last(struct idl_txn *txn, uint64_t after, size_t limit,
                                     struct idl_change **out, size_t *n,
                                     uint64_t *last_seq) {
  struct idl_store_info info;
  enum idl_err err = idl_store_info(txn, &info);
  if (!err)
    err = idl_store_changes(txn, after, limit, out, n);
  if (!err)
    *last_seq = info.last_seq;
  return err;
}

enum idl_err idl_service_changes(struct idl_service *svc, uint64_t after, size_t limit,
                                 struct idl_change **out, size_t *n, uint64_t *last_seq) {
  WITH_READ(svc, changes_and_last(txn, after, limit, out, n, last_seq));
}

/* The store's counts and, with a mirror, how far behind Redis is. */
static enum idl_err health(struct idl_service *svc, struct idl_txn *txn,
                           struct idl_service_health *out) {
  memset(out, 0, sizeof(*out));
  enum idl_err err = idl_store_info(txn, &out->store);
  if (err || !svc->mirror)
    return err;
  out->mirrored = 1;
  idl_mirror_status(svc->mirror, &out->mirror);
  uint64_t applied = out->mirror.applied_seq;
  out->mirror_lag_entries = out->store.last_seq > applied ? out->store.last_seq - applied : 0;
  struct idl_change *next = NULL;
  size_t n = 0;
  if (out->mirror_lag_entries && !(err = idl_store_changes(txn, applied, 1, &next, &n)) && n)
    out->mirror_lag_seconds = (double)(idl_now_ms() - next[0].at_ms) / 1000.0;
  for (size_t i = 0; i < n; i++)
    idl_change_fini(&next[i]);
  free(next);
  return err;
}

enum idl_err idl_service_health(struct idl_service *svc, struct idl_service_health *out) {
  WITH_READ(svc, health(svc, txn, out));
}

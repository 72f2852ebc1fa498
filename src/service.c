#include "idlink/service.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "idlink/erasure.h"
#include "idlink/log.h"
#include "idlink/normalize.h"
#include "json.h"

/* Large identities are rendered once per snapshot: requests answered from
 * the same snapshot share the text (a batch of writes to one large identity
 * pays for it once, not once per request). Smaller ones are rendered anew,
 * which costs less than the copy the cache would make. */
#define TEXT_CACHE_SLOTS 8
#define TEXT_CACHE_MIN_CONTACTS 64

struct cached_text {
  uint64_t primary, txnid;
  char *json;
  size_t len;
};

struct idl_service {
  struct idl_store *store;
  struct idl_writer *writer;
  struct idl_mirror *mirror;
  pthread_mutex_t cache_lock;
  struct cached_text cache[TEXT_CACHE_SLOTS]; /* guarded by cache_lock */
  unsigned cache_next;                        /* guarded by cache_lock */
};

static void wake_mirror(void *arg) {
  struct idl_service *svc = arg;
  idl_mirror_notify(svc->mirror);
}

static uint64_t mirror_floor(void *arg) {
  struct idl_service *svc = arg;
  return idl_mirror_applied(svc->mirror);
}

/* The store keeps phones as it was built to: one built with a region (or
 * without) refuses to start with another, which would break matching. A
 * store without a record is recorded as it is started: an empty one with the
 * region given, one holding contacts with section 2's digits. */
static enum idl_err keep_phone_region(struct idl_txn *txn) {
  char *recorded = NULL;
  const char *region = idl_normalize_phone_region();
  struct idl_store_info info;
  enum idl_err err = idl_store_meta_get_text(txn, IDL_META_PHONE_REGION, &recorded);
  if (!err && !recorded && !(err = idl_store_info(txn, &info)))
    err = idl_store_meta_put_text(txn, IDL_META_PHONE_REGION, info.contacts ? "" : region);
  if (!err && recorded && strcmp(recorded, region)) {
    idl_log_error("the store keeps phones %s%s; starting it %s%s would break matching: start "
                  "it as it was built, or restore a snapshot into a new store",
                  *recorded ? "as E.164 of region " : "as section 2's digits", recorded,
                  *region ? "with --phone-region " : "without --phone-region", region);
    err = IDL_ERR_INVAL;
  }
  free(recorded);
  return err;
}

/* Before anything else writes to the store: a store from before bridges
 * gets the legacy bridges that keep each of its identities whole (once), and
 * the indexes follow the junk-value rules where they changed. */
static enum idl_err prepare_store(struct idl_store *s, int *rules_changed) {
  struct idl_txn *txn;
  uint64_t flag = 0, added = 0, moved = 0;
  enum idl_err err = idl_txn_begin_write(s, NULL, &txn);
  if (err)
    return err;
  err = idl_store_meta_get(txn, IDL_META_BRIDGES, &flag);
  if (err == IDL_ERR_NOTFOUND) {
    err = idl_links_legacy(txn, idl_now_ms(), &added);
    if (!err)
      err = idl_store_meta_put(txn, IDL_META_BRIDGES, 1);
    if (!err && added)
      idl_log_info("gave %llu legacy bridges to identities a request had joined, so that "
                   "each stays whole", (unsigned long long)added);
  }
  if (!err)
    err = keep_phone_region(txn);
  if (!err)
    err = idl_links_apply_blocklist(txn, idl_now_ms(), &moved);
  *rules_changed = moved > 0;
  if (!err && moved)
    idl_log_info("the junk-value rules changed: %llu contacts left or entered the match "
                 "indexes, and their identities were re-resolved", (unsigned long long)moved);
  if (!err)
    return idl_txn_commit(txn); /* nothing written: nothing committed */
  idl_txn_abort(txn);
  return err;
}

enum idl_err idl_service_open(const struct idl_service_opts *opts,
                              struct idl_service **out) {
  struct idl_service *svc = calloc(1, sizeof(*svc));
  if (!svc)
    return IDL_ERR_NOMEM;
  pthread_mutex_init(&svc->cache_lock, NULL);
  struct idl_store_opts so = {
      .sync_full = opts->sync_full, .map_size = opts->map_size, .exclusive = 1,
      .blocklist = opts->blocklist, .max_identity_contacts = opts->max_identity_contacts};
  struct idl_writer_opts wo = {.max_batch = opts->max_batch,
                               .log_retain = opts->log_retain,
                               .committed = opts->mirror ? wake_mirror : NULL,
                               .trim_floor = opts->mirror ? mirror_floor : NULL,
                               .arg = svc};
  enum idl_err err = idl_store_open(opts->data_dir, &so, &svc->store);
  int rules_changed = 0;
  if (!err)
    err = prepare_store(svc->store, &rules_changed);
  struct idl_mirror_opts mo = opts->mirror ? *opts->mirror : (struct idl_mirror_opts){0};
  mo.full_sync |= rules_changed;
  if (!err && opts->mirror)
    err = idl_mirror_start(svc->store, &mo, &svc->mirror);
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
  for (size_t i = 0; i < TEXT_CACHE_SLOTS; i++)
    free(svc->cache[i].json);
  pthread_mutex_destroy(&svc->cache_lock);
  free(svc);
}

void idl_identity_text_fini(struct idl_identity_text *t) {
  free(t->json);
  t->json = NULL;
  t->len = 0;
}

/* Copies the cached text of primary at snapshot txnid into out; -1 on a miss. */
static int cache_get(struct idl_service *svc, uint64_t primary, uint64_t txnid,
                     struct idl_identity_text *out) {
  int rc = -1;
  pthread_mutex_lock(&svc->cache_lock);
  for (size_t i = 0; i < TEXT_CACHE_SLOTS && rc; i++) {
    struct cached_text *c = &svc->cache[i];
    if (c->json && c->primary == primary && c->txnid == txnid &&
        (out->json = malloc(c->len + 1))) {
      memcpy(out->json, c->json, c->len + 1);
      out->len = c->len;
      rc = 0;
    }
  }
  pthread_mutex_unlock(&svc->cache_lock);
  return rc;
}

static void cache_put(struct idl_service *svc, uint64_t txnid,
                      const struct idl_identity_text *t) {
  char *copy = malloc(t->len + 1);
  if (!copy)
    return;
  memcpy(copy, t->json, t->len + 1);
  pthread_mutex_lock(&svc->cache_lock);
  struct cached_text *c = &svc->cache[svc->cache_next++ % TEXT_CACHE_SLOTS];
  free(c->json);
  *c = (struct cached_text){t->primary, txnid, copy, t->len};
  pthread_mutex_unlock(&svc->cache_lock);
}

/* The identity contact id belongs to, as text, from snapshot txn. */
static enum idl_err identity_text(struct idl_service *svc, struct idl_txn *txn, uint64_t id,
                                  struct idl_identity_text *out) {
  struct idl_contact c;
  enum idl_err err = idl_store_get(txn, id, &c);
  if (err)
    return err;
  if (c.deleted_ms != IDL_TIME_NULL) /* a deleted contact belongs to no identity */
    return IDL_ERR_NOTFOUND;
  out->primary = idl_contact_primary(&c);
  uint64_t txnid = idl_txn_id(txn);
  if (cache_get(svc, out->primary, txnid, out) == 0)
    return IDL_ERR_OK;
  struct idl_identity ident;
  if ((err = idl_identity_of_contact(txn, out->primary, &ident)))
    return err;
  err = idl_json_identity_text(&ident, IDL_FRAME_BARE, &out->json, &out->len);
  if (!err && ident.n >= TEXT_CACHE_MIN_CONTACTS)
    cache_put(svc, txnid, out);
  idl_identity_fini(&ident);
  return err;
}

/* Begins a read transaction whose snapshot is durable: one may see a commit
 * whose flush is still under way, and no answer shows what a crash could
 * take back. */
static enum idl_err begin_durable_read(struct idl_service *svc, struct idl_txn **txn) {
  enum idl_err err = idl_txn_begin_read(svc->store, txn);
  if (!err && (err = idl_writer_wait_durable(svc->writer, idl_txn_id(*txn))))
    idl_txn_abort(*txn);
  return err;
}

struct reconcile_job {
  const struct idl_request *req;
  struct idl_outcome out;
};

static enum idl_err apply_reconcile(struct idl_txn *txn, void *arg) {
  struct reconcile_job *job = arg;
  return idl_identity_reconcile(txn, job->req, idl_now_ms(), IDL_RECONCILE_WRITE, &job->out);
}

enum idl_err idl_service_reconcile(struct idl_service *svc, const struct idl_request *req,
                                   struct idl_reconciled *out) {
  memset(out, 0, sizeof(*out));
  struct reconcile_job job = {.req = req};
  struct idl_txn *txn;
  enum idl_err err = begin_durable_read(svc, &txn);
  if (err)
    return err;
  err = idl_identity_reconcile(txn, req, idl_now_ms(), IDL_RECONCILE_READ, &job.out);
  if (!err && !job.out.needs_write) {
    err = identity_text(svc, txn, job.out.primary, &out->identity);
    idl_txn_abort(txn);
    return err;
  }
  idl_txn_abort(txn);
  txn = NULL;
  /* The answer is read from the commit's own snapshot: a deletion committed
   * right after it (an erasure of the identity) cannot turn it into a 404. */
  if (!err)
    err = idl_writer_submit_read(svc->writer, apply_reconcile, &job, &txn);
  if (!err && (txn || !(err = begin_durable_read(svc, &txn)))) {
    err = identity_text(svc, txn, job.out.primary, &out->identity);
    idl_txn_abort(txn);
  }
  if (!err)
    out->created_id = job.out.created_id;
  return err;
}

/* Runs a read-only call in a durable read transaction of its own. */
#define WITH_READ(svc, call)                                                   \
  do {                                                                         \
    struct idl_txn *txn;                                                       \
    enum idl_err err_ = begin_durable_read((svc), &txn);                       \
    if (err_)                                                                  \
      return err_;                                                             \
    err_ = (call);                                                             \
    idl_txn_abort(txn);                                                        \
    return err_;                                                               \
  } while (0)

static enum idl_err lookup(struct idl_service *svc, struct idl_txn *txn,
                           const struct idl_request *req, struct idl_identity_text *out) {
  uint64_t primary;
  enum idl_err err = idl_identity_lookup(txn, req, &primary);
  return err ? err : identity_text(svc, txn, primary, out);
}

enum idl_err idl_service_lookup(struct idl_service *svc, const struct idl_request *req,
                                struct idl_identity_text *out) {
  WITH_READ(svc, lookup(svc, txn, req, out));
}

enum idl_err idl_service_identity(struct idl_service *svc, uint64_t id,
                                  struct idl_identity_text *out) {
  WITH_READ(svc, identity_text(svc, txn, id, out));
}

struct delete_job {
  uint64_t id;
  struct idl_deletion done;
};

static enum idl_err apply_delete(struct idl_txn *txn, void *arg) {
  struct delete_job *job = arg;
  idl_deletion_fini(&job->done); /* a job run again starts afresh */
  return idl_identity_delete(txn, job->id, idl_now_ms(), &job->done);
}

enum idl_err idl_service_delete_contact(struct idl_service *svc, uint64_t id,
                                        struct idl_deleted *out) {
  memset(out, 0, sizeof(*out));
  struct delete_job job = {.id = id};
  enum idl_err err = idl_writer_submit_deletion(svc->writer, apply_delete, &job);
  struct idl_txn *txn = NULL;
  if (!err && job.done.changed && job.done.parts.n) {
    if (!(out->parts = calloc(job.done.parts.n, sizeof(*out->parts))))
      err = IDL_ERR_NOMEM;
    else
      err = begin_durable_read(svc, &txn);
  }
  for (size_t i = 0; txn && !err && i < job.done.parts.n; i++, out->n++)
    err = identity_text(svc, txn, job.done.parts.v[i], &out->parts[i]);
  if (txn)
    idl_txn_abort(txn);
  out->changed = job.done.changed;
  idl_deletion_fini(&job.done);
  if (err)
    idl_deleted_fini(out);
  return err;
}

void idl_deleted_fini(struct idl_deleted *d) {
  for (size_t i = 0; i < d->n; i++)
    idl_identity_text_fini(&d->parts[i]);
  free(d->parts);
  memset(d, 0, sizeof(*d));
}

struct erase_job {
  const struct idl_erase_request *req;
  struct idl_erasure out;
};

static enum idl_err apply_erase(struct idl_txn *txn, void *arg) {
  struct erase_job *job = arg;
  return idl_erase(txn, job->req, idl_now_ms(), &job->out);
}

enum idl_err idl_service_erase(struct idl_service *svc, const struct idl_erase_request *req,
                               struct idl_erasure *out) {
  struct erase_job job = {.req = req};
  enum idl_err err = idl_writer_submit_deletion(svc->writer, apply_erase, &job);
  *out = job.out;
  return err;
}

static enum idl_err apply_write(struct idl_txn *txn, void *arg) {
  return idl_write_apply(txn, arg);
}

enum idl_err idl_service_write(struct idl_service *svc, struct idl_write *w) {
  if (w->op == IDL_WRITE_DELETE || w->op == IDL_WRITE_DELETE_MANY ||
      (w->op == IDL_WRITE_ACTION && w->action && w->action->deletes))
    return idl_writer_submit_deletion(svc->writer, apply_write, w);
  return idl_writer_submit_read(svc->writer, apply_write, w, &w->snapshot);
}

enum idl_err idl_service_run(struct idl_service *svc, idl_write_fn fn, void *arg) {
  return idl_writer_submit(svc->writer, fn, arg, NULL);
}

const struct idl_blocklist *idl_service_blocklist(const struct idl_service *svc) {
  return idl_store_blocklist(svc->store);
}

enum idl_err idl_service_read(struct idl_service *svc, idl_read_fn fn, void *arg) {
  WITH_READ(svc, fn(txn, arg));
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

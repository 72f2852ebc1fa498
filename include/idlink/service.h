/* The service: the store and its writer behind the calls the HTTP layer makes.
 * Every call is safe from any thread. */
#ifndef IDLINK_SERVICE_H
#define IDLINK_SERVICE_H

#include "idlink/identity.h"
#include "idlink/mirror.h"
#include "idlink/resource.h"
#include "idlink/store.h"
#include "idlink/writer.h"

struct idl_service;

struct idl_service_opts {
  const char *data_dir;
  int sync_full;
  size_t map_size;
  size_t max_batch;
  uint64_t log_retain;
  const struct idl_mirror_opts *mirror; /* NULL: no Redis mirror */
  /* The junk values never matched (NULL: none); must outlive the service.
   * Where they differ from the rules the store recorded, the store is
   * brought in line at open. */
  const struct idl_blocklist *blocklist;
  uint64_t max_identity_contacts; /* the hub guard's limit; 0: none */
};

/* How long shutdown gives the mirror to bring Redis up to date. */
#define IDL_SERVICE_MIRROR_FLUSH_MS 5000

/* Opens the store in opts->data_dir, holding its lock, and starts the writer.
 * IDL_ERR_LOCKED when another server holds the folder. */
enum idl_err idl_service_open(const struct idl_service_opts *opts,
                              struct idl_service **out);

/* Stops the writer (answering what it holds) and closes the store. NULL is a no-op. */
void idl_service_close(struct idl_service *svc);

/* An identity as answered: its primary and section 2's contact object as
 * compact JSON text. */
struct idl_identity_text {
  uint64_t primary;
  char *json; /* owned: idl_identity_text_fini */
  size_t len;
};

void idl_identity_text_fini(struct idl_identity_text *t);

struct idl_reconciled {
  uint64_t created_id;                /* the contact the request created, 0 when none */
  struct idl_identity_text identity;  /* the consolidated identity */
};

/* POST /identify and /api/create/: section 2's rules. Answered from a read
 * transaction when the request changes nothing, through the writer
 * otherwise; the identity is read after the change is durable (and may show
 * the other changes of its batch). On success the caller owns out->identity. */
enum idl_err idl_service_reconcile(struct idl_service *svc, const struct idl_request *req,
                                   struct idl_reconciled *out);

/* POST /api/identify/: the read-only lookup. IDL_ERR_NOTFOUND when nothing
 * matches. On success the caller owns *out. */
enum idl_err idl_service_lookup(struct idl_service *svc, const struct idl_request *req,
                                struct idl_identity_text *out);

/* GET /identities/{id}: the identity contact id belongs to. */
enum idl_err idl_service_identity(struct idl_service *svc, uint64_t id,
                                  struct idl_identity_text *out);

/* What DELETE /contacts/{id} did: the identities left of the contact's, each
 * read after the change is durable (none when it was deleted already). */
struct idl_deleted {
  int changed;
  struct idl_identity_text *parts;
  size_t n;
};

/* DELETE /contacts/{id}: SPEC section 10's soft delete and re-resolution.
 * IDL_ERR_NOTFOUND when there is no such contact. Free out with
 * idl_deleted_fini. */
enum idl_err idl_service_delete_contact(struct idl_service *svc, uint64_t id,
                                        struct idl_deleted *out);
void idl_deleted_fini(struct idl_deleted *d);

/* POST /erasure (SPEC section 10): erases the identity req names.
 * IDL_ERR_NOTFOUND when nothing holds the value. */
struct idl_erase_request;
struct idl_erasure;
enum idl_err idl_service_erase(struct idl_service *svc, const struct idl_erase_request *req,
                               struct idl_erasure *out);

/* The junk-value rules the service matches under (NULL: none). */
const struct idl_blocklist *idl_service_blocklist(const struct idl_service *svc);

/* Runs a write of the resource layer through the writer. IDL_ERR_INVAL with
 * w->errors when it was refused (nothing changed); on success the change is
 * durable and w->snapshot (when one could be begun) reads the store as its
 * commit left it, for the answer; idl_write_fini aborts it. */
enum idl_err idl_service_write(struct idl_service *svc, struct idl_write *w);

/* Runs fn(txn, arg) through the writer, in a transaction of its own (a bulk
 * import): an error undoes all it wrote; on success it is durable. */
enum idl_err idl_service_run(struct idl_service *svc, idl_write_fn fn, void *arg);

/* Runs fn(txn, arg) in a read transaction whose snapshot is durable. */
typedef enum idl_err (*idl_read_fn)(struct idl_txn *txn, void *arg);
enum idl_err idl_service_read(struct idl_service *svc, idl_read_fn fn, void *arg);

/* GET /contacts/{id}. */
enum idl_err idl_service_contact(struct idl_service *svc, uint64_t id,
                                 struct idl_contact *out);

/* GET /changes: up to limit entries after `after` (see idl_store_changes for
 * ownership), and the newest sequence number. */
enum idl_err idl_service_changes(struct idl_service *svc, uint64_t after, size_t limit,
                                 struct idl_change **out, size_t *n, uint64_t *last_seq);

struct idl_service_health {
  struct idl_store_info store;
  int mirrored;                     /* a mirror is configured */
  struct idl_mirror_status mirror;
  uint64_t mirror_lag_entries;      /* log entries Redis does not have yet */
  double mirror_lag_seconds;        /* age of the oldest of them */
};

/* GET /healthz: counts of the store and the mirror's state. */
enum idl_err idl_service_health(struct idl_service *svc, struct idl_service_health *out);

#endif

/* What the generic layers of the resource layer share (record.c,
 * record_json.c, filter.c, http_resource.c, the res_*.c files). Private:
 * this header may name jansson. */
#ifndef IDLINK_RECORD_INTERNAL_H
#define IDLINK_RECORD_INTERNAL_H

#include <jansson.h>

#include "idlink/resource.h"
#include "idlink/store.h"

#define IDL_KEY_MAX 512
#define IDL_MAX_INDEXES 12

/* The index keys of one record; keys point into buf. */
struct idl_text; /* json.h */

struct idl_keyset {
  struct idl_key key[IDL_MAX_INDEXES];
  char buf[IDL_MAX_INDEXES][IDL_KEY_MAX];
};

/* The table number of res in the store. */
size_t idl_resource_table(const struct idl_resource *res);

int idl_ftype_is_text(enum idl_ftype t);
void idl_value_clear(struct idl_value *v);
void idl_record_set_int(struct idl_record *rec, size_t i, int64_t value);
int idl_errors_has(const struct idl_errors *e, const char *field);

/* {"detail": msg} as text (malloc'd), valid UTF-8 whatever msg holds. */
char *idl_json_detail_text(const char *msg);

/* msgpack record of rec (stored fields only) into a new buffer *out. */
enum idl_err idl_record_encode(const struct idl_resource *res, const struct idl_record *rec,
                               char **out, size_t *len);
/* Decodes a stored record; out is initialized here (idl_record_fini). */
enum idl_err idl_record_decode(const struct idl_resource *res, uint64_t pk, const void *buf,
                               size_t len, struct idl_record *out);

/* The index keys of rec. */
enum idl_err idl_record_keys(const struct idl_resource *res, const struct idl_record *rec,
                             struct idl_keyset *ks);
void idl_key_int(int64_t v, unsigned char out[8]);

/* Reads record pk of res through txn into out (initialized here).
 * IDL_ERR_NOTFOUND when there is none. */
enum idl_err idl_record_get(struct idl_txn *txn, const struct idl_resource *res, uint64_t pk,
                            struct idl_record *out);

/* IDL_ERR_OK when res holds record pk, IDL_ERR_NOTFOUND when not; nothing
 * is decoded. */
enum idl_err idl_record_exists(struct idl_txn *txn, const struct idl_resource *res, uint64_t pk);

/* Fills rec's computed fields through res's compute hook, if it has one. */
enum idl_err idl_record_compute(struct idl_txn *txn, const struct idl_resource *res,
                                struct idl_record *rec);

/* Stores rec (write txn): a new pk when rec->pk is 0, its index entries
 * moved from old's (NULL for a new record), and a change-log entry
 * <singular>.created or .updated. */
enum idl_err idl_record_put(struct idl_txn *txn, const struct idl_resource *res,
                            struct idl_record *rec, const struct idl_record *old);

/* Deletes rec (write txn) and logs <singular>.deleted. */
enum idl_err idl_record_delete(struct idl_txn *txn, const struct idl_resource *res,
                               const struct idl_record *rec);

/* The pk of the record of res whose index `index` holds exactly the value
 * of key (built as idl_record_keys builds them), other than `except`; 0 when
 * none. */
enum idl_err idl_record_find(struct idl_txn *txn, const struct idl_resource *res,
                             size_t index, const struct idl_key *key, uint64_t except,
                             uint64_t *pk);

/* The index range that holds exactly key. */
struct idl_range idl_range_exact(const void *key, size_t len);
/* An idl_entry_fn that adds each entry's pk to the struct idl_ids arg. */
enum idl_err idl_entry_push_pk(uint64_t pk, const void *key, size_t key_len, void *arg);
/* Adds to pks the records of table whose index `index` holds exactly key. */
enum idl_err idl_index_pks(struct idl_txn *txn, size_t table, size_t index, const void *key,
                           size_t len, struct idl_ids *pks);

/* Adds to pks, in pk order, the records of res whose text field `field`
 * holds exactly value, by the field's index. A value as long as the store's
 * key limit shares its cut key with longer ones: those records are read and
 * only the exact ones kept. */
enum idl_err idl_record_pks_by_text(struct idl_txn *txn, const struct idl_resource *res,
                                    size_t field, const char *value, struct idl_ids *pks);

/* Whether a record of another collection names record pk of target through
 * an FK that protects it (not CASCADE). */
enum idl_err idl_record_referenced(struct idl_txn *txn, const struct idl_resource *target,
                                   uint64_t pk, int *referenced);
/* Deletes the records whose CASCADE FKs name record pk of target. */
enum idl_err idl_record_cascade(struct idl_txn *txn, const struct idl_resource *target,
                                uint64_t pk);

/* Calls fn with each record (read in the write txn, freed after) of every
 * collection whose indexed FK names record pk of target; only CASCADE FKs
 * when cascading is set. The first error stops the walk. */
typedef enum idl_err (*idl_referrer_fn)(struct idl_txn *txn, const struct idl_resource *res,
                                        const struct idl_record *rec, void *arg);
enum idl_err idl_record_each_referrer(struct idl_txn *txn, const struct idl_resource *target,
                                      uint64_t pk, int cascading, idl_referrer_fn fn,
                                      void *arg);

/* ------------------------------------------------------------- JSON in */

enum idl_parse_mode {
  IDL_PARSE_CREATE, /* every required field, defaults for the rest */
  IDL_PARSE_PATCH,  /* the fields sent */
  IDL_PARSE_PUT,    /* the fields sent, and those marked PUT_REQUIRED */
  IDL_PARSE_RESTORE, /* a snapshot's row: every stored field, the server's too */
};

/* Parses body into rec, which holds the stored record on PATCH and PUT (and
 * a fresh one on CREATE). Every field is checked; each error is added to e
 * under prefix + field name ("" or "customer."). Values are normalized
 * (emails, phones) as section 2 says. now_us sets the server's times. */
void idl_record_from_json(const struct idl_resource *res, const json_t *body,
                          enum idl_parse_mode mode, int64_t now_us, const char *prefix,
                          struct idl_record *rec, struct idl_errors *e);

/* Reads the body of action w->action by its field table (action->body):
 * args holds the values in that order (the caller finishes it). Returns
 * IDL_ERR_INVAL, with w->errors saying why, when the body is not valid. */
enum idl_err idl_action_read_body(struct idl_write *w, struct idl_record *args);

/* Parses one value of field f; errors go to e under name. */
void idl_value_from_json(const struct idl_field *f, const json_t *j, const char *name,
                         struct idl_value *out, struct idl_errors *e);

/* Parses a value of field f given as text (a filter's, an import's): what
 * the JSON parser would take from the string, and for BOOL, INT, MONEY, FK
 * and the times their text forms. Returns 0, or -1 when it is not one. */
int idl_value_from_text(const struct idl_field *f, const char *text, struct idl_value *out);

/* ------------------------------------------------------------ JSON out */

/* The JSON value of v as the API shows field f. New reference. */
json_t *idl_value_to_json(const struct idl_field *f, const struct idl_value *v);

/* The record as the API shows it: every field, in table order. New reference. */
json_t *idl_record_to_json(const struct idl_resource *res, const struct idl_record *rec);

/* The same record appended to t as the text json_dumps makes of it with
 * IDL_JSON_DUMP_FLAGS, written directly: the read path of lists and
 * records builds no json_t tree. */
void idl_record_put_json(struct idl_text *t, const struct idl_resource *res,
                         const struct idl_record *rec);

/* The text of v as an export cell shows it ("" for null); *out is malloc'd. */
char *idl_value_to_text(const struct idl_field *f, const struct idl_value *v);

/* The DRF body of e (field errors nested by path, or e->body). */
char *idl_errors_text(const struct idl_errors *e);

/* Parses ISO 8601 dates and datetimes (no zone: UTC); -1 when not one. */
int idl_parse_date(const char *s, int64_t *days);
int idl_parse_datetime(const char *s, int64_t *us);

/* Microseconds since the epoch, from the real-time clock. */
int64_t idl_now_wall_us(void);

#endif

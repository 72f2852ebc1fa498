/* The resource layer: every /api/v1/ collection (customers, orders, ...) is
 * described once, as data: a table of its fields and its indexes, and a few
 * hooks where its rules really differ. Generic code derives the rest from the
 * table: validation with DRF's messages, JSON in and out, the msgpack record,
 * the query filters, paging, ordering and export (SPEC section 7).
 *
 * A record is an array of values, one per field, in the table's order. */
#ifndef IDLINK_RESOURCE_H
#define IDLINK_RESOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "idlink/contact.h"
#include "idlink/err.h"

struct idl_txn;
struct idl_resource;

enum idl_ftype {
  IDL_F_PK,    /* the record's key: u64, read-only */
  IDL_F_INT,   /* int64 within [min, max] */
  IDL_F_STR,   /* text of at most max characters */
  IDL_F_EMAIL, /* section 2's email, normalized */
  IDL_F_PHONE, /* section 2's phone, normalized */
  IDL_F_BOOL,
  IDL_F_DATE,  /* a day: days since 1970-01-01 */
  IDL_F_TIME,  /* an instant: microseconds since the epoch, UTC */
  IDL_F_ENUM,  /* one of choices */
  IDL_F_MONEY, /* cents: at most 12 digits, 2 of them decimals */
  IDL_F_FK,    /* the pk of a record of resource fk */
  IDL_F_JSON,  /* a JSON object, kept as compact text */
};

/* Field flags. */
enum {
  IDL_FF_REQUIRED = 1 << 0,   /* a create must send it */
  IDL_FF_READ_ONLY = 1 << 1,  /* set by the server; sent values are ignored */
  IDL_FF_NULLABLE = 1 << 2,   /* null is a value */
  IDL_FF_ORDERABLE = 1 << 3,  /* ordering=FIELD */
  IDL_FF_COMPUTED = 1 << 4,   /* not stored: filled by the resource's hooks when shown */
  IDL_FF_BLANK = 1 << 5,      /* "" is a value (else "This field may not be blank.") */
  IDL_FF_PERSONAL = 1 << 6,   /* personal data: masked in logs, cleared by erasure */
  IDL_FF_NOW = 1 << 7,        /* a TIME the server sets to now on create (and update: NOW_ALWAYS) */
  IDL_FF_NOW_ALWAYS = 1 << 8,
  IDL_FF_DEFAULT_NOW = 1 << 9, /* a TIME that defaults to now when not sent */
  IDL_FF_FIXED = 1 << 10,     /* cannot change after creation (the hook says how to refuse) */
  IDL_FF_PUT_REQUIRED = 1 << 11, /* PUT must send it */
  IDL_FF_CASCADE = 1 << 12,   /* FK: the record goes when the one it names is deleted */
  IDL_FF_ARRAY = 1 << 13,     /* a JSON field holding an array rather than an object */
};

/* Lookups a filter offers (django-filter's lookup types). */
enum {
  IDL_L_EXACT = 1 << 0,
  IDL_L_STARTSWITH = 1 << 1,
  IDL_L_GT = 1 << 2,
  IDL_L_GTE = 1 << 3,
  IDL_L_LT = 1 << 4,
  IDL_L_LTE = 1 << 5,
  IDL_L_DATE = 1 << 6,
  IDL_L_IN = 1 << 7,
  IDL_L_ISNULL = 1 << 8,
  IDL_L_KEY = 1 << 9, /* JSON fields: FIELD__KEY=VALUE */
};

#define IDL_L_RANGE (IDL_L_GT | IDL_L_GTE | IDL_L_LT | IDL_L_LTE)

struct idl_field {
  const char *name;
  enum idl_ftype type;
  unsigned flags;
  unsigned lookups;              /* the filters offered on it */
  int index;                     /* the index answering its filters, -1: none;
                                    the second field of a two-field index is
                                    answered by a skip scan of it */
  int64_t min, max;              /* INT: bounds; STR: max characters (0: none) */
  const char *const *choices;    /* ENUM: NULL-terminated */
  const char *fk;                /* FK: the collection it names */
  const char *alias;             /* a second filter name ("id" for "pk") */
  const char *def;               /* the default when a create does not send it, as
                                    JSON ("true", "\"\"", "{}"); NULL: null */
  /* A computed field's filter: the pks of the records it selects for value. */
  enum idl_err (*select)(struct idl_txn *txn, const char *value, struct idl_ids *pks);
};

/* An index: records by the value of one field (or two, the first an INT),
 * in the value's order, for exact, range and prefix filters. */
struct idl_index_def {
  const char *name;
  int fields[2];   /* field positions; fields[1] -1 when one */
  int unique;      /* at most one record per value (nulls aside) */
};

/* One value of a record. Strings (STR, EMAIL, PHONE, ENUM, JSON) are owned by
 * the record; the other types live in i. */
struct idl_value {
  int null;
  int borrowed; /* s lies in its record's own block (a decoded record): never
                 * freed alone; idl_value_clear and idl_record_fini know */
  int64_t i;
  char *s;
  size_t len;
};

struct idl_record {
  uint64_t pk;
  size_t n;             /* the resource's field count, hidden fields included */
  struct idl_value *v;  /* n values, in field order */
};

/* What is wrong with a request, as DRF says it: field errors (a field may be
 * a path, "customer.email", for a nested object; "non_field_errors" for the
 * record as a whole), or a status and a body of their own. */
struct idl_field_error {
  char *field;
  char *message;
};

struct idl_errors {
  struct idl_field_error *v;
  size_t n, cap;
  int status;   /* 0: 400 with the field errors */
  char *body;   /* with status: the whole JSON body to answer */
};

/* Adds a message for field, printf-style. Out of memory, it is dropped but
 * the request still fails (n stays counted through nomem). */
void idl_errors_add(struct idl_errors *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets a status and a whole body (a detail, or seed 004's own bodies). */
void idl_errors_set(struct idl_errors *e, int status, const char *body);
/* {"detail": message} with status. */
void idl_errors_detail(struct idl_errors *e, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int idl_errors_any(const struct idl_errors *e);
void idl_errors_fini(struct idl_errors *e);

/* A write to a collection, as the writer runs it (resource.c): what to do,
 * and what came of it. */
enum idl_write_op {
  IDL_WRITE_CREATE,
  IDL_WRITE_PATCH,
  IDL_WRITE_PUT,
  IDL_WRITE_DELETE,
  IDL_WRITE_ACTION,      /* w->action on record w->pk */
  IDL_WRITE_DELETE_MANY, /* every record whose delete_by field is w->pk; w->count */
};

struct json_t; /* jansson's, opaque here */

struct idl_write {
  const struct idl_resource *res;
  enum idl_write_op op;
  const struct json_t *body;  /* the request's JSON (not for DELETE) */
  uint64_t pk;                /* the record updated or deleted; set by a create */
  int64_t now_us;
  int status;                 /* the success status: 201 created, 200, 204 */
  struct idl_errors errors;   /* why it failed, when it did */
  const struct idl_action *action; /* IDL_WRITE_ACTION */
  uint64_t count;             /* IDL_WRITE_DELETE_MANY: the records deleted */
  struct idl_record *prepared; /* a create parsed before the writer (idl_write_prepare) */
  struct idl_txn *snapshot;   /* after idl_service_write: its commit, to answer from */
};

/* The hooks of a collection, each optional. */
struct idl_hooks {
  /* Checks what the field table cannot say (a unique set, a rule between
   * fields), in the write transaction, after the fields are valid: adds to
   * errors (the request then fails and changes nothing). old is the stored
   * record on an update, else NULL. */
  enum idl_err (*validate)(struct idl_txn *txn, const struct idl_record *rec,
                           const struct idl_record *old, struct idl_errors *errors);
  /* Runs in the write transaction once rec is valid, before it is stored:
   * reconciles a customer's email and phone, for example, and may set the
   * fields the server derives (the hidden ones). */
  enum idl_err (*storing)(struct idl_txn *txn, struct idl_record *rec,
                          const struct idl_record *old);
  /* Fills the computed fields of rec for showing it. */
  enum idl_err (*compute)(struct idl_txn *txn, struct idl_record *rec);
  /* Before rec is deleted: refuses (adds to errors) or deletes what goes
   * with it. */
  enum idl_err (*deleting)(struct idl_txn *txn, const struct idl_record *rec,
                           struct idl_errors *errors);
  /* Replaces the generic create (an order's upsert of its customer). */
  enum idl_err (*create)(struct idl_txn *txn, struct idl_write *w);
};

/* Parses a generic create's body into w->prepared outside the writer, which
 * then only checks what needs the store and stores it. IDL_ERR_INVAL with
 * w->errors when the fields are refused. A no-op for other writes and for a
 * collection with its own create. Free with idl_write_fini. */
enum idl_err idl_write_prepare(struct idl_write *w);

/* Frees what w holds: its errors and its prepared record. */
void idl_write_fini(struct idl_write *w);

/* Runs w in txn (the writer's): parses, checks, stores, logs. IDL_ERR_INVAL
 * with w->errors filled when the request is refused. */
enum idl_err idl_write_apply(struct idl_txn *txn, struct idl_write *w);

/* The generic create of w->res from body, under a prefix for nested
 * errors: the hooks' create builds on it. On success *pk names the record. */
enum idl_err idl_write_create(struct idl_txn *txn, const struct idl_resource *res,
                              const struct json_t *body, const char *prefix,
                              int64_t now_us, struct idl_errors *errors, uint64_t *pk);

/* Deletes record pk of res (its hooks' refusal in errors), as DELETE does. */
enum idl_err idl_write_delete(struct idl_txn *txn, const struct idl_resource *res,
                              uint64_t pk, struct idl_errors *errors);

/* The generic update of record pk of res from body (PATCH or PUT). */
enum idl_err idl_write_update(struct idl_txn *txn, const struct idl_resource *res,
                              uint64_t pk, const struct json_t *body, enum idl_write_op op,
                              const char *prefix, int64_t now_us, struct idl_errors *errors);

/* Operations a collection offers. */
enum {
  IDL_OP_LIST = 1 << 0,
  IDL_OP_CREATE = 1 << 1,
  IDL_OP_RETRIEVE = 1 << 2,
  IDL_OP_UPDATE = 1 << 3,
  IDL_OP_DELETE = 1 << 4,
  IDL_OP_EXPORT = 1 << 5,
};

/* An action on one record, POST /api/v1/{collection}/{pk}/{name}/ (a
 * ticket's close): run by the writer with the request's body, like a write. */
struct idl_action {
  const char *name;
  enum idl_err (*apply)(struct idl_txn *txn, struct idl_write *w);
  /* The fields its body takes (n_body of them; NULL: none), as apply reads
   * them: the OpenAPI document describes the body from them. */
  const struct idl_field *body;
  size_t n_body;
  int deletes; /* it deletes what it names: committed in a batch of its own */
};

struct idl_resource {
  const char *name;      /* the collection: "customers", its path and table */
  const char *singular;  /* "customer": change-log kinds customer.created, ... */
  const struct idl_field *fields;
  size_t n_fields;
  /* Fields past n_fields in fields: stored with the record and kept by its
   * copies, never part of the API (no JSON in or out, filter, ordering,
   * export, import, OpenAPI or snapshot), which knows only n_fields. What
   * the server keeps for itself: a customer's contact, for one. */
  size_t n_hidden;
  const struct idl_index_def *indexes;
  size_t n_indexes;
  unsigned ops;
  const struct idl_hooks *hooks;
  const struct idl_action *actions; /* NULL-named end; NULL: none */
  /* DELETE of the collection, by a required filter field (products of a
   * customer): its name, or NULL when the collection offers none. */
  const char *delete_by;
  /* Its writes are not in the change log: a table of the contact graph's
   * own (bridges), whose changes the contact entries already tell. */
  int unlogged;
};

/* Every collection, in a fixed order (its position is its table number). */
extern const struct idl_resource *const idl_resources[];
extern const size_t idl_n_resources;

/* The collection named name (its path segment), or NULL. */
const struct idl_resource *idl_resource_find(const char *name);

/* The position of field name in res (its filter alias counts), or -1. */
int idl_resource_field(const struct idl_resource *res, const char *name);

/* ------------------------------------------------------------ records */

/* Allocates rec's values for res, all null. IDL_ERR_NOMEM without memory. */
enum idl_err idl_record_init(struct idl_record *rec, const struct idl_resource *res);

/* Frees what rec owns. A zeroed record is a no-op. */
void idl_record_fini(struct idl_record *rec);

/* Makes dst a deep copy of src (dst uninitialized). */
enum idl_err idl_record_copy(struct idl_record *dst, const struct idl_record *src);

/* Sets value i of rec to a copy of len bytes of s (NULL: null). */
enum idl_err idl_record_set_str(struct idl_record *rec, size_t i, const char *s, size_t len);

/* Whether two values of a field are equal. */
int idl_value_equal(const struct idl_value *a, const struct idl_value *b);

#endif

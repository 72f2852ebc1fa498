/* The generic writes of the resource layer: create, update (PATCH, PUT) and
 * delete of any collection, run by the writer in its transaction. The field
 * table says how to parse and check; the hooks add a collection's own rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record_internal.h"

/* Every FK of rec names an existing record (the ones changed from old). */
static enum idl_err check_fks(struct idl_txn *txn, const struct idl_resource *res,
                              const struct idl_record *rec, const struct idl_record *old,
                              const char *prefix, struct idl_errors *e) {
  for (size_t i = 0; i < res->n_fields; i++) {
    const struct idl_field *f = &res->fields[i];
    const struct idl_value *v = &rec->v[i];
    if (f->type != IDL_F_FK || v->null || (old && idl_value_equal(v, &old->v[i])))
      continue;
    const struct idl_resource *target = idl_resource_find(f->fk);
    struct idl_record t;
    enum idl_err err = target ? idl_record_get(txn, target, (uint64_t)v->i, &t)
                              : IDL_ERR_NOTFOUND;
    if (err == IDL_ERR_NOTFOUND) {
      char name[160];
      snprintf(name, sizeof(name), "%s%s", prefix, f->name);
      idl_errors_add(e, name, "Invalid pk \"%lld\" - object does not exist.", (long long)v->i);
    } else if (err) {
      return err;
    } else {
      idl_record_fini(&t);
    }
  }
  return IDL_ERR_OK;
}

/* Checks and stores rec (old: the stored record, or NULL for a new one). */
static enum idl_err check_and_store(struct idl_txn *txn, const struct idl_resource *res,
                                    struct idl_record *rec, const struct idl_record *old,
                                    const char *prefix, struct idl_errors *e) {
  /* FKs are checked beside the fields' own errors, as DRF reports them. */
  enum idl_err err = check_fks(txn, res, rec, old, prefix, e);
  if (!err && !idl_errors_any(e) && res->hooks && res->hooks->validate)
    err = res->hooks->validate(txn, rec, old, e);
  if (!err && idl_errors_any(e))
    return IDL_ERR_INVAL;
  if (!err && res->hooks && res->hooks->storing)
    err = res->hooks->storing(txn, rec, old);
  if (!err)
    err = idl_record_put(txn, res, rec, old);
  return err;
}

enum idl_err idl_write_create(struct idl_txn *txn, const struct idl_resource *res,
                              const struct json_t *body, const char *prefix,
                              int64_t now_us, struct idl_errors *errors, uint64_t *pk) {
  struct idl_record rec;
  enum idl_err err = idl_record_init(&rec, res);
  if (err)
    return err;
  idl_record_from_json(res, (const json_t *)body, IDL_PARSE_CREATE, now_us, prefix, &rec, errors);
  err = check_and_store(txn, res, &rec, NULL, prefix, errors);
  if (!err)
    *pk = rec.pk;
  idl_record_fini(&rec);
  return err;
}

/* Whether rec differs from old in a stored field other than the server's
 * modification time. */
static int changed(const struct idl_resource *res, const struct idl_record *rec,
                   const struct idl_record *old) {
  for (size_t i = 0; i < res->n_fields; i++) {
    const struct idl_field *f = &res->fields[i];
    if (!(f->flags & (IDL_FF_COMPUTED | IDL_FF_NOW_ALWAYS)) &&
        !idl_value_equal(&rec->v[i], &old->v[i]))
      return 1;
  }
  return 0;
}

enum idl_err idl_write_update(struct idl_txn *txn, const struct idl_resource *res,
                              uint64_t pk, const struct json_t *body, enum idl_write_op op,
                              const char *prefix, int64_t now_us, struct idl_errors *errors) {
  struct idl_record old, rec;
  enum idl_err err = idl_record_get(txn, res, pk, &old);
  if (err)
    return err;
  if ((err = idl_record_copy(&rec, &old))) {
    idl_record_fini(&old);
    return err;
  }
  idl_record_from_json(res, (const json_t *)body,
                       op == IDL_WRITE_PUT ? IDL_PARSE_PUT : IDL_PARSE_PATCH, now_us, prefix,
                       &rec, errors);
  /* A request that changes nothing is answered without a write. */
  if (!idl_errors_any(errors) && !changed(res, &rec, &old))
    err = IDL_ERR_OK;
  else
    err = check_and_store(txn, res, &rec, &old, prefix, errors);
  idl_record_fini(&rec);
  idl_record_fini(&old);
  return err;
}

enum idl_err idl_write_delete(struct idl_txn *txn, const struct idl_resource *res,
                              uint64_t pk, struct idl_errors *errors) {
  struct idl_record rec;
  enum idl_err err = idl_record_get(txn, res, pk, &rec);
  if (err)
    return err;
  if (res->hooks && res->hooks->deleting)
    err = res->hooks->deleting(txn, &rec, errors);
  if (!err && idl_errors_any(errors))
    err = IDL_ERR_INVAL;
  if (!err)
    err = idl_record_cascade(txn, res, rec.pk);
  if (!err)
    err = idl_record_delete(txn, res, &rec);
  idl_record_fini(&rec);
  return err;
}

/* Deletes every record whose delete_by field (an indexed FK) is w->pk. */
static enum idl_err delete_many(struct idl_txn *txn, struct idl_write *w) {
  int field = idl_resource_field(w->res, w->res->delete_by);
  unsigned char key[8];
  idl_key_int((int64_t)w->pk, key);
  struct idl_ids pks = {0};
  enum idl_err err = field < 0 || w->res->fields[field].index < 0
                         ? IDL_ERR_INVAL
                         : idl_index_pks(txn, idl_resource_table(w->res),
                                         (size_t)w->res->fields[field].index, key, 8, &pks);
  for (size_t i = 0; !err && i < pks.n; i++)
    err = idl_write_delete(txn, w->res, pks.v[i], &w->errors);
  if (!err)
    w->count = pks.n;
  idl_ids_fini(&pks);
  return err;
}

enum idl_err idl_write_prepare(struct idl_write *w) {
  if (w->op != IDL_WRITE_CREATE || (w->res->hooks && w->res->hooks->create))
    return IDL_ERR_OK;
  struct idl_record *rec = malloc(sizeof(*rec));
  if (!rec || idl_record_init(rec, w->res)) {
    free(rec);
    return IDL_ERR_NOMEM;
  }
  w->prepared = rec;
  idl_record_from_json(w->res, (const json_t *)w->body, IDL_PARSE_CREATE, w->now_us, "", rec,
                       &w->errors);
  if (!idl_errors_any(&w->errors))
    return IDL_ERR_OK;
  /* FKs are checked in the store, and reported beside the fields' errors:
   * a refused create naming one goes to the writer all the same. */
  for (size_t i = 0; i < w->res->n_fields; i++)
    if (w->res->fields[i].type == IDL_F_FK && !rec->v[i].null)
      return IDL_ERR_OK;
  return IDL_ERR_INVAL;
}

void idl_write_fini(struct idl_write *w) {
  idl_txn_abort(w->snapshot);
  w->snapshot = NULL;
  if (w->prepared) {
    idl_record_fini(w->prepared);
    free(w->prepared);
    w->prepared = NULL;
  }
  idl_errors_fini(&w->errors);
}

enum idl_err idl_action_read_body(struct idl_write *w, struct idl_record *args) {
  /* The body's fields are a table like a collection's: read as a create
   * reads a record, with DRF's messages. */
  const struct idl_resource body = {.name = w->action->name, .fields = w->action->body,
                                    .n_fields = w->action->n_body};
  enum idl_err err = idl_record_init(args, &body);
  if (err)
    return err;
  idl_record_from_json(&body, (const json_t *)w->body, IDL_PARSE_CREATE, w->now_us, "", args,
                       &w->errors);
  if (!idl_errors_any(&w->errors))
    return IDL_ERR_OK;
  idl_record_fini(args);
  return IDL_ERR_INVAL;
}

enum idl_err idl_write_apply(struct idl_txn *txn, struct idl_write *w) {
  switch (w->op) {
  case IDL_WRITE_CREATE:
    w->status = 201;
    if (w->res->hooks && w->res->hooks->create)
      return w->res->hooks->create(txn, w);
    if (w->prepared) {
      /* A failed try leaves the record as parsed: the pk is taken anew. */
      w->prepared->pk = 0;
      enum idl_err err = check_and_store(txn, w->res, w->prepared, NULL, "", &w->errors);
      w->pk = w->prepared->pk;
      return err;
    }
    return idl_write_create(txn, w->res, w->body, "", w->now_us, &w->errors, &w->pk);
  case IDL_WRITE_PATCH:
  case IDL_WRITE_PUT:
    w->status = 200;
    return idl_write_update(txn, w->res, w->pk, w->body, w->op, "", w->now_us, &w->errors);
  case IDL_WRITE_DELETE:
    w->status = 204;
    return idl_write_delete(txn, w->res, w->pk, &w->errors);
  case IDL_WRITE_ACTION:
    w->status = 200;
    return w->action->apply(txn, w);
  case IDL_WRITE_DELETE_MANY:
    w->status = 200;
    return delete_many(txn, w);
  }
  return IDL_ERR_INVAL;
}

/* ------------------------------------------------------------ references */

struct any_arg {
  int found;
};

static enum idl_err found_one(uint64_t pk, const void *key, size_t key_len, void *arg) {
  (void)pk;
  (void)key;
  (void)key_len;
  ((struct any_arg *)arg)->found = 1;
  return IDL_ERR_STOP;
}

enum idl_err idl_record_referenced(struct idl_txn *txn, const struct idl_resource *target,
                                   uint64_t pk, int *referenced) {
  unsigned char key[8];
  idl_key_int((int64_t)pk, key);
  struct idl_range r = idl_range_exact(key, 8);
  struct any_arg a = {0};
  for (size_t t = 0; t < idl_n_resources && !a.found; t++) {
    const struct idl_resource *res = idl_resources[t];
    for (size_t i = 0; i < res->n_fields; i++) {
      const struct idl_field *f = &res->fields[i];
      if (f->type != IDL_F_FK || strcmp(f->fk, target->name) || f->index < 0 ||
          (f->flags & IDL_FF_CASCADE))
        continue;
      enum idl_err err = idl_table_index_scan(txn, t, (size_t)f->index, &r, found_one, &a);
      if (err)
        return err;
    }
  }
  *referenced = a.found;
  return IDL_ERR_OK;
}

enum idl_err idl_record_each_referrer(struct idl_txn *txn, const struct idl_resource *target,
                                      uint64_t pk, int cascading, idl_referrer_fn fn,
                                      void *arg) {
  unsigned char key[8];
  idl_key_int((int64_t)pk, key);
  enum idl_err err = IDL_ERR_OK;
  for (size_t t = 0; t < idl_n_resources && !err; t++) {
    const struct idl_resource *res = idl_resources[t];
    for (size_t i = 0; i < res->n_fields && !err; i++) {
      const struct idl_field *f = &res->fields[i];
      if (f->type != IDL_F_FK || strcmp(f->fk, target->name) || f->index < 0 ||
          (cascading && !(f->flags & IDL_FF_CASCADE)))
        continue;
      struct idl_ids pks = {0};
      err = idl_index_pks(txn, t, (size_t)f->index, key, 8, &pks);
      for (size_t k = 0; k < pks.n && !err; k++) {
        struct idl_record rec;
        if (!(err = idl_record_get(txn, res, pks.v[k], &rec))) {
          err = fn(txn, res, &rec, arg);
          idl_record_fini(&rec);
        }
      }
      idl_ids_fini(&pks);
    }
  }
  return err;
}

static enum idl_err delete_referrer(struct idl_txn *txn, const struct idl_resource *res,
                                    const struct idl_record *rec, void *arg) {
  (void)arg;
  return idl_record_delete(txn, res, rec);
}

enum idl_err idl_record_cascade(struct idl_txn *txn, const struct idl_resource *target,
                                uint64_t pk) {
  return idl_record_each_referrer(txn, target, pk, 1, delete_referrer, NULL);
}

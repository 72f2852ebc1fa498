/* Records of the resource layer: values, DRF-shaped errors, the msgpack
 * record and index keys. Everything here is driven by the field tables. */
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"
#include "idlink/codec.h"
#include "idlink/normalize.h"
#include "idlink/resource.h"
#include "record_internal.h"

/* ---------------------------------------------------------------- errors */

static char *vformat(const char *fmt, va_list ap) {
  char *out = NULL;
  return vasprintf(&out, fmt, ap) < 0 ? NULL : out;
}

/* A copy of s made valid UTF-8: messages and parameter names may quote
 * what a client sent, and JSON carries UTF-8 only. */
static char *clean_copy(const char *s) {
  size_t cap = strlen(s) + 4;
  char *out = malloc(cap);
  if (out)
    idl_utf8_clean(s, out, cap);
  return out;
}

void idl_errors_add(struct idl_errors *e, const char *field, const char *fmt, ...) {
  struct idl_field_error *v = idl_grow(e->v, &e->cap, e->n, sizeof(*v));
  va_list ap;
  va_start(ap, fmt);
  char *raw = vformat(fmt, ap);
  va_end(ap);
  char *msg = raw ? clean_copy(raw) : NULL;
  free(raw);
  char *name = clean_copy(field);
  if (!v || !msg || !name) {
    free(msg);
    free(name);
    if (!e->status)
      idl_errors_set(e, 500, "{\"detail\":\"Out of memory.\"}");
    return;
  }
  e->v = v;
  e->v[e->n++] = (struct idl_field_error){name, msg};
}

void idl_errors_set(struct idl_errors *e, int status, const char *body) {
  free(e->body);
  e->status = status;
  e->body = strdup(body);
}

void idl_errors_detail(struct idl_errors *e, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = vformat(fmt, ap);
  va_end(ap);
  char *body = msg ? idl_json_detail_text(msg) : NULL;
  idl_errors_set(e, status, body ? body : "{\"detail\":\"Out of memory.\"}");
  free(body);
  free(msg);
}

int idl_errors_any(const struct idl_errors *e) { return e->n > 0 || e->status != 0; }

int idl_errors_has(const struct idl_errors *e, const char *field) {
  for (size_t i = 0; i < e->n; i++)
    if (strcmp(e->v[i].field, field) == 0)
      return 1;
  return 0;
}

void idl_errors_fini(struct idl_errors *e) {
  for (size_t i = 0; i < e->n; i++) {
    free(e->v[i].field);
    free(e->v[i].message);
  }
  free(e->v);
  free(e->body);
  memset(e, 0, sizeof(*e));
}

/* --------------------------------------------------------------- records */

const struct idl_resource *idl_resource_find(const char *name) {
  for (size_t t = 0; t < idl_n_resources; t++)
    if (strcmp(idl_resources[t]->name, name) == 0)
      return idl_resources[t];
  return NULL;
}

size_t idl_resource_table(const struct idl_resource *res) {
  for (size_t t = 0; t < idl_n_resources; t++)
    if (idl_resources[t] == res)
      return t;
  return (size_t)-1;
}

int idl_resource_field(const struct idl_resource *res, const char *name) {
  for (size_t i = 0; i < res->n_fields; i++)
    if (strcmp(res->fields[i].name, name) == 0 ||
        (res->fields[i].alias && strcmp(res->fields[i].alias, name) == 0))
      return (int)i;
  return -1;
}

/* The fields a record holds: the API's, then the hidden ones. */
static size_t all_fields(const struct idl_resource *res) {
  return res->n_fields + res->n_hidden;
}

enum idl_err idl_record_init(struct idl_record *rec, const struct idl_resource *res) {
  rec->pk = 0;
  rec->n = all_fields(res);
  rec->v = calloc(rec->n, sizeof(*rec->v));
  if (!rec->v)
    return IDL_ERR_NOMEM;
  for (size_t i = 0; i < rec->n; i++)
    rec->v[i].null = 1;
  return IDL_ERR_OK;
}

void idl_record_fini(struct idl_record *rec) {
  for (size_t i = 0; rec->v && i < rec->n; i++)
    if (!rec->v[i].borrowed)
      free(rec->v[i].s);
  free(rec->v);
  rec->v = NULL;
  rec->n = 0;
}

enum idl_err idl_record_copy(struct idl_record *dst, const struct idl_record *src) {
  dst->pk = src->pk;
  dst->n = src->n;
  dst->v = calloc(src->n ? src->n : 1, sizeof(*dst->v));
  if (!dst->v)
    return IDL_ERR_NOMEM;
  for (size_t i = 0; i < src->n; i++) {
    dst->v[i] = src->v[i];
    dst->v[i].s = NULL;
    dst->v[i].borrowed = 0;
    if (src->v[i].s && !(dst->v[i].s = malloc(src->v[i].len + 1))) {
      idl_record_fini(dst);
      return IDL_ERR_NOMEM;
    }
    if (src->v[i].s)
      memcpy(dst->v[i].s, src->v[i].s, src->v[i].len + 1);
  }
  return IDL_ERR_OK;
}

void idl_value_clear(struct idl_value *v) {
  if (!v->borrowed)
    free(v->s);
  *v = (struct idl_value){.null = 1};
}

enum idl_err idl_record_set_str(struct idl_record *rec, size_t i, const char *s, size_t len) {
  struct idl_value *v = &rec->v[i];
  idl_value_clear(v);
  if (!s)
    return IDL_ERR_OK;
  if (!(v->s = malloc(len + 1)))
    return IDL_ERR_NOMEM;
  memcpy(v->s, s, len);
  v->s[len] = '\0';
  v->len = len;
  v->null = 0;
  return IDL_ERR_OK;
}

void idl_record_set_int(struct idl_record *rec, size_t i, int64_t value) {
  idl_value_clear(&rec->v[i]);
  rec->v[i].null = 0;
  rec->v[i].i = value;
}

int idl_ftype_is_text(enum idl_ftype t) {
  return t == IDL_F_STR || t == IDL_F_EMAIL || t == IDL_F_PHONE || t == IDL_F_ENUM ||
         t == IDL_F_JSON;
}

int idl_value_equal(const struct idl_value *a, const struct idl_value *b) {
  if (a->null || b->null)
    return a->null && b->null;
  if (a->s || b->s)
    return a->s && b->s && a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
  return a->i == b->i;
}

/* ---------------------------------------------------------------- msgpack */

/* A stored record is an array of its stored fields (computed ones left out)
 * in the table's order: nil, an integer, or a string. Fields added to a
 * table later come last, so an older, shorter array reads with them null. */

struct sbuf {
  char *data;
  size_t len, cap;
};

static int sbuf_write(void *data, const char *buf, size_t len) {
  struct sbuf *b = data;
  if (b->len + len > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + len)
      cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown)
      return -1;
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, buf, len);
  b->len += len;
  return 0;
}

static size_t stored_fields(const struct idl_resource *res) {
  size_t n = 0;
  for (size_t i = 0; i < all_fields(res); i++)
    n += !(res->fields[i].flags & IDL_FF_COMPUTED) && res->fields[i].type != IDL_F_PK;
  return n;
}

enum idl_err idl_record_encode(const struct idl_resource *res, const struct idl_record *rec,
                               char **out, size_t *len) {
  struct sbuf b = {0};
  msgpack_packer pk;
  msgpack_packer_init(&pk, &b, sbuf_write);
  int rc = msgpack_pack_array(&pk, stored_fields(res));
  for (size_t i = 0; !rc && i < all_fields(res); i++) {
    const struct idl_field *f = &res->fields[i];
    const struct idl_value *v = &rec->v[i];
    if ((f->flags & IDL_FF_COMPUTED) || f->type == IDL_F_PK)
      continue;
    if (v->null)
      rc = msgpack_pack_nil(&pk);
    else if (idl_ftype_is_text(f->type))
      rc = msgpack_pack_str_with_body(&pk, v->s, v->len);
    else
      rc = msgpack_pack_int64(&pk, v->i);
  }
  if (rc) {
    free(b.data);
    return IDL_ERR_NOMEM;
  }
  *out = b.data;
  *len = b.len;
  return IDL_ERR_OK;
}

/* One stored value into v; a text is copied into *arena (with its NUL),
 * which advances. */
static enum idl_err unpack_value(const struct idl_field *f, const msgpack_object *o,
                                 struct idl_value *v, char **arena) {
  *v = (struct idl_value){.null = 1};
  if (o->type == MSGPACK_OBJECT_NIL)
    return IDL_ERR_OK;
  if (idl_ftype_is_text(f->type)) {
    if (o->type != MSGPACK_OBJECT_STR || memchr(o->via.str.ptr, '\0', o->via.str.size))
      return IDL_ERR_CORRUPT;
    v->s = *arena;
    v->borrowed = 1;
    memcpy(v->s, o->via.str.ptr, o->via.str.size);
    v->s[o->via.str.size] = '\0';
    v->len = o->via.str.size;
    *arena += o->via.str.size + 1;
  } else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
    v->i = (int64_t)o->via.u64;
  } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
    v->i = o->via.i64;
  } else {
    return IDL_ERR_CORRUPT;
  }
  v->null = 0;
  return IDL_ERR_OK;
}

/* The stored object of field i: the next of the array's items, or NULL for
 * the pk, a computed field and a field the stored row is too short for (a
 * field added after the row was written). */
static const msgpack_object *stored_item(const struct idl_field *f, const msgpack_object_array *a,
                                         size_t *k) {
  if (f->type == IDL_F_PK || (f->flags & IDL_FF_COMPUTED) || *k >= a->size)
    return NULL;
  return &a->ptr[(*k)++];
}

struct decoding {
  const struct idl_resource *res;
  uint64_t pk;
  struct idl_record *out;
};

/* A decoded record is one block: its values, then the bytes of its texts,
 * so that a page of records costs a malloc per record, not one per text. */
static enum idl_err decode_array(const msgpack_object *o, void *arg) {
  struct decoding *d = arg;
  const struct idl_resource *res = d->res;
  if (o->type != MSGPACK_OBJECT_ARRAY)
    return IDL_ERR_CORRUPT;
  const msgpack_object_array *a = &o->via.array;
  size_t n = all_fields(res), bytes = 0, k = 0;
  for (size_t i = 0; i < n; i++) {
    const msgpack_object *x = stored_item(&res->fields[i], a, &k);
    if (x && x->type == MSGPACK_OBJECT_STR)
      bytes += x->via.str.size + 1;
  }
  struct idl_value *v = malloc(n * sizeof(*v) + bytes);
  if (!v)
    return IDL_ERR_NOMEM;
  for (size_t i = 0; i < n; i++)
    v[i] = (struct idl_value){.null = 1};
  *d->out = (struct idl_record){.pk = d->pk, .n = n, .v = v};
  char *arena = (char *)(v + n);
  enum idl_err err = IDL_ERR_OK;
  k = 0;
  for (size_t i = 0; !err && i < n; i++) {
    const struct idl_field *f = &res->fields[i];
    const msgpack_object *x = stored_item(f, a, &k);
    if (f->type == IDL_F_PK)
      v[i] = (struct idl_value){.i = (int64_t)d->pk};
    else if (x)
      err = unpack_value(f, x, &v[i], &arena);
  }
  return err;
}

enum idl_err idl_record_decode(const struct idl_resource *res, uint64_t pk, const void *buf,
                               size_t len, struct idl_record *out) {
  *out = (struct idl_record){0};
  struct decoding d = {res, pk, out};
  enum idl_err err = idl_msgpack_with_object(buf, len, decode_array, &d);
  if (err)
    idl_record_fini(out);
  return err;
}

/* ------------------------------------------------------------ index keys */

/* An integer as 8 big-endian bytes with the sign bit flipped, so that
 * memcmp orders keys as the numbers. */
void idl_key_int(int64_t v, unsigned char out[8]) {
  uint64_t u = (uint64_t)v ^ (UINT64_C(1) << 63);
  for (int i = 7; i >= 0; i--, u >>= 8)
    out[i] = (unsigned char)(u & 0xff);
}

/* The key of value v of field f into buf (cap bytes): text as it is, the
 * other types as idl_key_int. Returns the length, or 0 for no key. */
static size_t value_key(const struct idl_field *f, const struct idl_value *v, char *buf,
                        size_t cap) {
  if (v->null)
    return 0;
  if (idl_ftype_is_text(f->type)) {
    size_t n = v->len < cap ? v->len : cap;
    memcpy(buf, v->s, n);
    return n;
  }
  idl_key_int(v->i, (unsigned char *)buf);
  return 8;
}

enum idl_err idl_record_keys(const struct idl_resource *res, const struct idl_record *rec,
                             struct idl_keyset *ks) {
  memset(ks, 0, sizeof(*ks));
  for (size_t i = 0; i < res->n_indexes; i++) {
    const struct idl_index_def *ix = &res->indexes[i];
    char *buf = ks->buf[i];
    size_t len = value_key(&res->fields[ix->fields[0]], &rec->v[ix->fields[0]], buf,
                           IDL_KEY_MAX);
    if (len && ix->fields[1] >= 0) {
      size_t more = value_key(&res->fields[ix->fields[1]], &rec->v[ix->fields[1]],
                              buf + len, IDL_KEY_MAX - len);
      len = more ? len + more : 0;
    }
    ks->key[i] = (struct idl_key){buf, len, len == 0};
  }
  return IDL_ERR_OK;
}

/* ---------------------------------------------------------------- storage */

struct decode_arg {
  const struct idl_resource *res;
  struct idl_record *out;
};

static enum idl_err decode_cb(uint64_t pk, const void *data, size_t len, void *arg) {
  struct decode_arg *d = arg;
  return idl_record_decode(d->res, pk, data, len, d->out);
}

enum idl_err idl_record_get(struct idl_txn *txn, const struct idl_resource *res, uint64_t pk,
                            struct idl_record *out) {
  struct decode_arg d = {res, out};
  return idl_table_get(txn, idl_resource_table(res), pk, decode_cb, &d);
}

static enum idl_err found(uint64_t pk, const void *data, size_t len, void *arg) {
  (void)pk, (void)data, (void)len, (void)arg;
  return IDL_ERR_OK;
}

enum idl_err idl_record_exists(struct idl_txn *txn, const struct idl_resource *res, uint64_t pk) {
  return idl_table_get(txn, idl_resource_table(res), pk, found, NULL);
}

static enum idl_err log_change(struct idl_txn *txn, const struct idl_resource *res,
                               uint64_t pk, const char *verb) {
  if (res->unlogged)
    return IDL_ERR_OK;
  struct idl_change c = {.at_ms = idl_now_ms(), .kind = IDL_CHANGE_RECORD, .pk = pk};
  snprintf(c.name, sizeof(c.name), "%s.%s", res->singular, verb);
  enum idl_err err = idl_store_log(txn, &c);
  idl_change_fini(&c);
  return err;
}

enum idl_err idl_record_put(struct idl_txn *txn, const struct idl_resource *res,
                            struct idl_record *rec, const struct idl_record *old) {
  size_t t = idl_resource_table(res);
  enum idl_err err = IDL_ERR_OK;
  if (!rec->pk)
    err = idl_table_next_pk(txn, t, &rec->pk);
  struct idl_keyset *now = malloc(sizeof(*now)), *was = old ? malloc(sizeof(*was)) : NULL;
  char *data = NULL;
  size_t len = 0;
  if (!now || (old && !was))
    err = IDL_ERR_NOMEM;
  if (!err)
    err = idl_record_keys(res, rec, now);
  if (!err && old)
    err = idl_record_keys(res, old, was);
  if (!err)
    err = idl_record_encode(res, rec, &data, &len);
  if (!err)
    err = idl_table_put(txn, t, rec->pk, data, len, was ? was->key : NULL, now->key);
  if (!err)
    err = log_change(txn, res, rec->pk, old ? "updated" : "created");
  free(data);
  free(now);
  free(was);
  return err;
}

enum idl_err idl_record_delete(struct idl_txn *txn, const struct idl_resource *res,
                               const struct idl_record *rec) {
  struct idl_keyset *was = malloc(sizeof(*was));
  if (!was)
    return IDL_ERR_NOMEM;
  enum idl_err err = idl_record_keys(res, rec, was);
  if (!err)
    err = idl_table_del(txn, idl_resource_table(res), rec->pk, was->key);
  if (!err)
    err = log_change(txn, res, rec->pk, "deleted");
  free(was);
  return err;
}

struct find_arg {
  const struct idl_key *key;
  uint64_t except, found;
};

static enum idl_err find_cb(uint64_t pk, const void *key, size_t key_len, void *arg) {
  struct find_arg *f = arg;
  (void)key;
  (void)key_len;
  if (pk == f->except)
    return IDL_ERR_OK;
  f->found = pk;
  return IDL_ERR_STOP;
}

enum idl_err idl_record_compute(struct idl_txn *txn, const struct idl_resource *res,
                                struct idl_record *rec) {
  return res->hooks && res->hooks->compute ? res->hooks->compute(txn, rec) : IDL_ERR_OK;
}

struct idl_range idl_range_exact(const void *key, size_t len) {
  return (struct idl_range){.lo = key, .lo_len = len, .lo_incl = 1,
                            .hi = key, .hi_len = len, .hi_incl = 1};
}

enum idl_err idl_entry_push_pk(uint64_t pk, const void *key, size_t key_len, void *arg) {
  (void)key;
  (void)key_len;
  return idl_ids_push(arg, pk);
}

enum idl_err idl_index_pks(struct idl_txn *txn, size_t table, size_t index, const void *key,
                           size_t len, struct idl_ids *pks) {
  struct idl_range r = idl_range_exact(key, len);
  return idl_table_index_scan(txn, table, index, &r, idl_entry_push_pk, pks);
}

enum idl_err idl_record_pks_by_text(struct idl_txn *txn, const struct idl_resource *res,
                                    size_t field, const char *value, struct idl_ids *pks) {
  size_t len = strlen(value), first = pks->n, kept = first;
  enum idl_err err = idl_index_pks(txn, idl_resource_table(res), (size_t)res->fields[field].index,
                                   value, len, pks);
  if (err || len < idl_store_max_key(idl_txn_store(txn)))
    return err;
  for (size_t i = first; !err && i < pks->n; i++) {
    struct idl_record rec;
    if ((err = idl_record_get(txn, res, pks->v[i], &rec)))
      break;
    const struct idl_value *v = &rec.v[field];
    if (!v->null && v->len == len && memcmp(v->s, value, len) == 0)
      pks->v[kept++] = pks->v[i];
    idl_record_fini(&rec);
  }
  if (!err)
    pks->n = kept;
  return err;
}

enum idl_err idl_record_find(struct idl_txn *txn, const struct idl_resource *res,
                             size_t index, const struct idl_key *key, uint64_t except,
                             uint64_t *pk) {
  *pk = 0;
  if (key->null)
    return IDL_ERR_OK;
  size_t max = idl_store_max_key(idl_txn_store(txn));
  if (key->len >= max)
    return IDL_ERR_OK; /* a cut key: too long to be unique; not enforced */
  struct idl_range r = idl_range_exact(key->data, key->len);
  struct find_arg f = {key, except, 0};
  enum idl_err err = idl_table_index_scan(txn, idl_resource_table(res), index, &r, find_cb, &f);
  *pk = f.found;
  return err;
}

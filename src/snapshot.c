/* Snapshot writer, reader and restore. */
#include "idlink/snapshot.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "codec_internal.h"
#include "idlink/toolkit.h"
#include "record_internal.h"

#define PROGRESS_EVERY 65536

#define ULL(x) ((unsigned long long)(x))

const char *const idl_snapshot_tables[IDL_SNAPSHOT_TABLES] = {
    "customers", "orders", "products", "feedback", "tickets", "bridges", "conflicts"};

/* The collection of snapshot table i; NULL when this idlink holds no table
 * of that name yet (its rows are then 0). */
static const struct idl_resource *table_res(size_t i) {
  return idl_resource_find(idl_snapshot_tables[i]);
}

/* ----------------------------------------------------- JSON <-> msgpack */

/* A table's row is a map of the record's fields as the API shows them. */
static int pack_json(msgpack_packer *pk, const json_t *j) {
  switch (json_typeof(j)) {
  case JSON_OBJECT: {
    const char *key;
    const json_t *v;
    if (msgpack_pack_map(pk, json_object_size(j)))
      return -1;
    json_object_foreach((json_t *)j, key, v)
      if (msgpack_pack_str_with_body(pk, key, strlen(key)) || pack_json(pk, v))
        return -1;
    return 0;
  }
  case JSON_ARRAY: {
    if (msgpack_pack_array(pk, json_array_size(j)))
      return -1;
    for (size_t i = 0; i < json_array_size(j); i++)
      if (pack_json(pk, json_array_get(j, i)))
        return -1;
    return 0;
  }
  case JSON_STRING:
    return msgpack_pack_str_with_body(pk, json_string_value(j), json_string_length(j));
  case JSON_INTEGER:
    return msgpack_pack_int64(pk, json_integer_value(j));
  case JSON_REAL:
    return msgpack_pack_double(pk, json_real_value(j));
  case JSON_TRUE:
    return msgpack_pack_true(pk);
  case JSON_FALSE:
    return msgpack_pack_false(pk);
  default:
    return msgpack_pack_nil(pk);
  }
}

/* The JSON value of a msgpack object; NULL for what JSON cannot hold (a key
 * that is not a string, binary data, text that is not UTF-8). */
static json_t *to_json(const msgpack_object *o, int depth) {
  if (depth > 64)
    return NULL;
  switch (o->type) {
  case MSGPACK_OBJECT_NIL:
    return json_null();
  case MSGPACK_OBJECT_BOOLEAN:
    return json_boolean(o->via.boolean);
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    return o->via.u64 > INT64_MAX ? NULL : json_integer((json_int_t)o->via.u64);
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    return json_integer(o->via.i64);
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    return json_real(o->via.f64);
  case MSGPACK_OBJECT_STR: /* msgpack-c may give "" a NULL ptr */
    if (o->via.str.size == 0)
      return json_string("");
    return memchr(o->via.str.ptr, '\0', o->via.str.size)
               ? NULL
               : json_stringn(o->via.str.ptr, o->via.str.size);
  case MSGPACK_OBJECT_ARRAY: {
    json_t *a = json_array();
    for (uint32_t i = 0; a && i < o->via.array.size; i++) {
      json_t *v = to_json(&o->via.array.ptr[i], depth + 1);
      if (!v || json_array_append_new(a, v)) {
        json_decref(a);
        return NULL;
      }
    }
    return a;
  }
  case MSGPACK_OBJECT_MAP: {
    json_t *m = json_object();
    for (uint32_t i = 0; m && i < o->via.map.size; i++) {
      const msgpack_object_kv *kv = &o->via.map.ptr[i];
      char key[256];
      if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size >= sizeof(key)) {
        json_decref(m);
        return NULL;
      }
      if (kv->key.via.str.size) /* "" may have a NULL ptr */
        memcpy(key, kv->key.via.str.ptr, kv->key.via.str.size);
      key[kv->key.via.str.size] = '\0';
      json_t *v = to_json(&kv->val, depth + 1);
      if (!v || json_object_set_new(m, key, v)) {
        json_decref(m);
        return NULL;
      }
    }
    return m;
  }
  default:
    return NULL;
  }
}

/* ---------------------------------------------------------------- writer */

/* A buffered fd that keeps the CRC-32 of what it has written. */
struct out {
  int fd;
  int failed; /* errno of the first failed write */
  uLong crc;
  size_t len;
  char buf[1 << 16];
};

static int out_flush(struct out *o) {
  size_t off = 0;
  o->crc = crc32_z(o->crc, (const Bytef *)o->buf, o->len);
  while (off < o->len && !o->failed) {
    ssize_t n = write(o->fd, o->buf + off, o->len - off);
    if (n < 0 && errno != EINTR)
      o->failed = errno;
    else if (n > 0)
      off += (size_t)n;
  }
  o->len = 0;
  return o->failed ? -1 : 0;
}

static int out_write(void *data, const char *buf, size_t len) {
  struct out *o = data;
  while (len) {
    if (o->len == sizeof(o->buf) && out_flush(o))
      return -1;
    size_t n = sizeof(o->buf) - o->len < len ? sizeof(o->buf) - o->len : len;
    memcpy(o->buf + o->len, buf, n);
    o->len += n;
    buf += n;
    len -= n;
  }
  return 0;
}

static int pack_cstr(msgpack_packer *pk, const char *s) {
  return msgpack_pack_str_with_body(pk, s, strlen(s));
}

struct dump {
  msgpack_packer pk;
  uint64_t rows, total;
  idl_progress_fn progress;
  void *arg;
};

static enum idl_err dump_row(const struct idl_contact *c, void *arg) {
  struct dump *d = arg;
  enum idl_err err = idl_codec_pack_contact(&d->pk, c);
  if (err)
    return IDL_ERR_IO;
  if (++d->rows % PROGRESS_EVERY == 0 && d->progress)
    d->progress(d->rows, d->total, d->arg);
  return IDL_ERR_OK;
}

/* Version 2's maps: the tables' row counts, and every next id. */
static int pack_tables(msgpack_packer *pk, const struct idl_snapshot_header *h) {
  int rc = pack_cstr(pk, "tables") || msgpack_pack_map(pk, IDL_SNAPSHOT_TABLES);
  for (size_t i = 0; !rc && i < IDL_SNAPSHOT_TABLES; i++)
    rc = pack_cstr(pk, idl_snapshot_tables[i]) || msgpack_pack_uint64(pk, h->rows[i]);
  rc = rc || pack_cstr(pk, "next_ids") || msgpack_pack_map(pk, IDL_SNAPSHOT_TABLES + 1) ||
       pack_cstr(pk, "contacts") || msgpack_pack_uint64(pk, h->next_contact_id);
  for (size_t i = 0; !rc && i < IDL_SNAPSHOT_TABLES; i++)
    rc = pack_cstr(pk, idl_snapshot_tables[i]) || msgpack_pack_uint64(pk, h->next_ids[i]);
  return rc;
}

/* Returns non-zero when the packer failed, which only writing can. A store
 * that blocks junk values says so in "blocklist" (its rules, as
 * idl_blocklist_text writes them), so that the rows are checked and
 * restored under the same rules. */
static int pack_header(msgpack_packer *pk, const struct idl_snapshot_header *h,
                       const char *blocklist, const char *region) {
  size_t extra = (*blocklist ? 1 : 0) + (*region ? 1 : 0);
  return msgpack_pack_map(pk, (h->version == 1 ? 5 : 7) + extra) ||
         (*blocklist && (pack_cstr(pk, "blocklist") || pack_cstr(pk, blocklist))) ||
         (*region && (pack_cstr(pk, "phone_region") || pack_cstr(pk, region))) ||
         pack_cstr(pk, "format") ||
         pack_cstr(pk, IDL_SNAPSHOT_FORMAT) || pack_cstr(pk, "version") ||
         msgpack_pack_uint64(pk, h->version) || pack_cstr(pk, "created_at") ||
         msgpack_pack_int64(pk, h->created_at) || pack_cstr(pk, "contacts") ||
         msgpack_pack_uint64(pk, h->contacts) || pack_cstr(pk, "last_seq") ||
         msgpack_pack_uint64(pk, h->last_seq) || (h->version > 1 && pack_tables(pk, h));
}

/* The tables' counts and next ids; version 2 once any table was ever used
 * (a version 1 reader would lose it), else version 1. The contact graph's
 * bridges and conflicts count too: GET /identities/{id}/explain and GET
 * /conflicts show them, and a snapshot holds whatever the API can return. */
static enum idl_err table_positions(struct idl_txn *txn, struct idl_snapshot_header *h) {
  enum idl_err err = IDL_ERR_OK;
  h->version = 1;
  for (size_t i = 0; !err && i < IDL_SNAPSHOT_TABLES; i++) {
    const struct idl_resource *res = table_res(i);
    h->rows[i] = 0;
    h->next_ids[i] = 1;
    if (!res)
      continue;
    size_t t = idl_resource_table(res);
    if (!(err = idl_table_count(txn, t, &h->rows[i])))
      err = idl_table_peek_pk(txn, t, &h->next_ids[i]);
    if (h->rows[i] || h->next_ids[i] > 1)
      h->version = 2;
  }
  return err;
}

struct dump_table {
  struct dump *d;
  const struct idl_resource *res;
};

/* One record as a map of its fields as the API shows them, computed fields
 * (identity) left out. */
static enum idl_err dump_record(uint64_t pk, const void *data, size_t len, void *arg) {
  struct dump_table *dt = arg;
  struct idl_record rec;
  enum idl_err err = idl_record_decode(dt->res, pk, data, len, &rec);
  if (err)
    return err;
  json_t *j = idl_record_to_json(dt->res, &rec);
  idl_record_fini(&rec);
  if (!j)
    return IDL_ERR_NOMEM;
  for (size_t i = 0; i < dt->res->n_fields; i++)
    if (dt->res->fields[i].flags & IDL_FF_COMPUTED)
      json_object_del(j, dt->res->fields[i].name);
  int rc = pack_json(&dt->d->pk, j);
  json_decref(j);
  if (rc)
    return IDL_ERR_IO;
  if (++dt->d->rows % PROGRESS_EVERY == 0 && dt->d->progress)
    dt->d->progress(dt->d->rows, dt->d->total, dt->d->arg);
  return IDL_ERR_OK;
}

static enum idl_err dump_tables(struct idl_txn *txn, struct dump *d,
                                const struct idl_snapshot_header *h) {
  enum idl_err err = IDL_ERR_OK;
  for (size_t i = 0; !err && h->version > 1 && i < IDL_SNAPSHOT_TABLES; i++) {
    struct dump_table dt = {d, table_res(i)};
    if (dt.res)
      err = idl_table_scan(txn, idl_resource_table(dt.res), 1, 0, dump_record, &dt);
  }
  return err;
}

/* The trailer's CRC covers every byte before it: those are flushed first. */
static int pack_trailer(struct dump *d, struct out *o) {
  return out_flush(o) || msgpack_pack_map(&d->pk, 2) || pack_cstr(&d->pk, "count") ||
         msgpack_pack_uint64(&d->pk, d->rows) || pack_cstr(&d->pk, "crc32") ||
         msgpack_pack_uint32(&d->pk, (uint32_t)o->crc) || out_flush(o);
}

enum idl_err idl_snapshot_write(struct idl_txn *txn, int fd, const struct idl_dump_opts *opts,
                                struct idl_snapshot_header *header, char *why,
                                size_t why_len) {
  struct idl_store_info info;
  struct out *o = NULL;
  enum idl_err err = idl_store_info(txn, &info);
  if (!err && !(o = calloc(1, sizeof(*o))))
    err = IDL_ERR_NOMEM;
  if (err)
    return idl_why(why, why_len, err, "%s: %s", opts->store, idl_strerror(err));
  o->fd = fd;
  o->crc = crc32_z(0, NULL, 0);
  struct dump d = {.total = info.contacts, .progress = opts->progress, .arg = opts->arg};
  msgpack_packer_init(&d.pk, o, out_write);
  struct idl_snapshot_header h = {.version = IDL_SNAPSHOT_VERSION,
                                  .created_at = idl_now_ms(),
                                  .contacts = info.contacts,
                                  .last_seq = info.last_seq};
  h.next_contact_id = info.next_id;
  err = table_positions(txn, &h);
  for (size_t i = 0; i < IDL_SNAPSHOT_TABLES; i++)
    d.total += h.rows[i];
  char *blocklist = NULL, *region = NULL;
  if (!err)
    err = idl_store_recorded_blocklist(txn, &blocklist);
  if (!err)
    err = idl_store_meta_get_text(txn, IDL_META_PHONE_REGION, &region);
  if (!err)
    err = pack_header(&d.pk, &h, blocklist ? blocklist : "", region ? region : "")
              ? IDL_ERR_IO
              : idl_store_scan_contacts(txn, dump_row, &d);
  free(blocklist);
  free(region);
  if (!err)
    err = dump_tables(txn, &d, &h);
  if (!err && pack_trailer(&d, o))
    err = IDL_ERR_IO;
  /* Writing fails on the output's side (a full disk, a closed pipe): the
   * output is named, with the system's reason; anything else is the store's. */
  if (o->failed)
    err = idl_why(why, why_len, idl_errno_err(o->failed), "%s: %s", opts->output,
              strerror(o->failed));
  else if (err)
    idl_why(why, why_len, err, "%s: %s", opts->store, idl_strerror(err));
  else if (d.rows != d.total)
    err = idl_why(why, why_len, IDL_ERR_CORRUPT, "%s: the tables count %llu rows, "
              "but %llu were read", opts->store, ULL(d.total), ULL(d.rows));
  free(o);
  if (err)
    return err;
  if (opts->progress)
    opts->progress(d.rows, d.total, opts->arg);
  *header = h;
  return IDL_ERR_OK;
}

/* ---------------------------------------------------------------- reader */

struct reader {
  const char *buf;
  size_t len, off;
  msgpack_unpacked u;
  char *why;
  size_t why_len;
  struct idl_checker *ck;
  const struct idl_snapshot_read_opts *opts;
  uint64_t violations;
  char first[320];  /* the first violation */
  uint64_t row;     /* the row being handed to the checker, 0 between rows */
  size_t row_at;    /* its byte */
  struct idl_blocklist *blocklist; /* the header's, when it has one */
};

#define bad(r, err, ...) idl_why((r)->why, (r)->why_len, err, __VA_ARGS__)

/* The big-endian unsigned integer of n bytes at p. */
static uint64_t be_uint(const unsigned char *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

/* Whether the msgpack object at buf + off, len bytes on, declares no more
 * bytes and elements than there are left. msgpack-c allocates the elements
 * of an array or map as its head declares them, before reading any: five
 * bytes of a damaged file could ask it for 64 GiB. A byte that is not
 * msgpack passes here and is refused by msgpack-c. */
static int fits(const unsigned char *buf, size_t len, size_t off) {
  /* the bytes each head byte from 0xc4 to 0xdf is followed by, before the
   * data: the length of the size, or the data itself */
  static const unsigned char head[] = {1, 2, 4, 1, 2, 4, 4, 8, 1, 2, 4, 8, 1, 2,
                                       4, 8, 2, 3, 5, 9, 17, 1, 2, 4, 2, 4, 2, 4};
  uint64_t pending = 1; /* objects still to come */
  while (pending && off < len) {
    unsigned t = buf[off++];
    uint64_t n = 0, skip = 0; /* elements it holds, bytes it spans */
    pending--;
    if (t >= 0x80 && t <= 0x8f)
      n = 2 * (t & 0x0f);
    else if (t >= 0x90 && t <= 0x9f)
      n = t & 0x0f;
    else if (t >= 0xa0 && t <= 0xbf)
      skip = t & 0x1f;
    else if (t >= 0xc4 && t <= 0xdf) {
      size_t h = head[t - 0xc4];
      if (h > len - off)
        return 0;
      int sized = t <= 0xc9 || (t >= 0xd9 && t <= 0xdf); /* bin, ext, str, array, map */
      uint64_t size = sized ? be_uint(buf + off, h) : 0;
      if (!sized)
        skip = h;
      else if (t >= 0xdc)
        n = t >= 0xde ? 2 * size : size;
      else
        skip = h + size + (t >= 0xc7 && t <= 0xc9); /* an ext's type byte */
      off += sized && t >= 0xdc ? h : 0;
    }
    if (skip > len - off)
      return 0;
    off += skip;
    pending += n;
    if (pending > len - off) /* each element takes a byte at least */
      return 0;
  }
  return pending == 0;
}

/* Reads the next object into r->u. what names it for messages: "row" with
 * row number row, or anything else on its own. */
static enum idl_err next_object(struct reader *r, const char *what, uint64_t row) {
  size_t at = r->off;
  char name[64];
  int rc = at == r->len || !fits((const unsigned char *)r->buf, r->len, at)
               ? MSGPACK_UNPACK_CONTINUE
               : msgpack_unpack_next(&r->u, r->buf, r->len, &r->off);
  if (rc == MSGPACK_UNPACK_SUCCESS || rc == MSGPACK_UNPACK_EXTRA_BYTES)
    return IDL_ERR_OK;
  if (strcmp(what, "row") == 0)
    snprintf(name, sizeof(name), "row %llu (or the trailer)", ULL(row));
  else
    snprintf(name, sizeof(name), "%s", what);
  if (at == r->len)
    return bad(r, IDL_ERR_CORRUPT, "truncated at byte %zu: %s is missing", at, name);
  if (rc == MSGPACK_UNPACK_CONTINUE)
    return bad(r, IDL_ERR_CORRUPT, "truncated at byte %zu: %s at byte %zu is incomplete",
               r->len, name, at);
  if (rc == MSGPACK_UNPACK_NOMEM_ERROR)
    return bad(r, IDL_ERR_NOMEM, "out of memory reading %s at byte %zu", name, at);
  return bad(r, IDL_ERR_CORRUPT, "not msgpack at byte %zu (%s)", at, name);
}

static int key_is(const msgpack_object_kv *kv, const char *name) {
  return idl_msgpack_key_is(&kv->key, name);
}

/* The value of the first key name in map o whose value is of type type (-1:
 * of any type), or NULL. */
static const msgpack_object *map_find(const msgpack_object *o, const char *name, int type) {
  for (uint32_t i = 0; i < o->via.map.size; i++) {
    const msgpack_object_kv *kv = &o->via.map.ptr[i];
    if (key_is(kv, name) && (type < 0 || kv->val.type == (msgpack_object_type)type))
      return &kv->val;
  }
  return NULL;
}

/* Finds key name in map o holding an unsigned integer. */
static int map_uint(const msgpack_object *o, const char *name, uint64_t *out) {
  const msgpack_object *v = map_find(o, name, MSGPACK_OBJECT_POSITIVE_INTEGER);
  if (v)
    *out = v->via.u64;
  return v != NULL;
}

static int map_has_str(const msgpack_object *o, const char *name, const char *value) {
  for (uint32_t i = 0; i < o->via.map.size; i++) {
    const msgpack_object_kv *kv = &o->via.map.ptr[i];
    if (key_is(kv, name) && kv->val.type == MSGPACK_OBJECT_STR &&
        kv->val.via.str.size == strlen(value) &&
        memcmp(kv->val.via.str.ptr, value, kv->val.via.str.size) == 0)
      return 1;
  }
  return 0;
}

/* The map named name of the header o; NULL when there is none. */
static const msgpack_object *map_map(const msgpack_object *o, const char *name) {
  return map_find(o, name, MSGPACK_OBJECT_MAP);
}

/* Version 2's tables and next_ids (version 1: no tables, next ids past the
 * rows). Every table must be listed in both. */
static enum idl_err read_tables_header(struct reader *r, const msgpack_object *o,
                                       struct idl_snapshot_header *h) {
  h->next_contact_id = 0;
  for (size_t i = 0; i < IDL_SNAPSHOT_TABLES; i++) {
    h->rows[i] = 0;
    h->next_ids[i] = 1;
  }
  if (h->version == 1)
    return IDL_ERR_OK;
  const msgpack_object *tables = map_map(o, "tables"), *next = map_map(o, "next_ids");
  if (!tables || !next || !map_uint(next, "contacts", &h->next_contact_id))
    return bad(r, IDL_ERR_CORRUPT, "header: version 2 needs the maps tables and next_ids "
               "(with contacts)");
  for (size_t i = 0; i < IDL_SNAPSHOT_TABLES; i++) {
    const char *name = idl_snapshot_tables[i];
    if (!map_uint(tables, name, &h->rows[i]) || !map_uint(next, name, &h->next_ids[i]))
      return bad(r, IDL_ERR_CORRUPT, "header: table %s is missing from tables or next_ids "
                 "(every table is listed, 0 included)", name);
    if (h->next_ids[i] < 1 || h->next_ids[i] > IDL_CHECK_MAX_ID + 1)
      return bad(r, IDL_ERR_CORRUPT, "header: next id %llu of %s is out of range",
                 ULL(h->next_ids[i]), name);
    if (h->rows[i] && !table_res(i))
      return bad(r, IDL_ERR_CORRUPT, "header: %llu rows of %s, a table this idlink does not "
                 "hold", ULL(h->rows[i]), name);
  }
  return IDL_ERR_OK;
}

/* The optional "blocklist": the rules the rows were kept under, for the
 * checker and for the caller (a restore keeps them). */
static enum idl_err read_blocklist(struct reader *r, const msgpack_object *o) {
  const msgpack_object *v = NULL;
  for (uint32_t i = 0; i < o->via.map.size; i++)
    if (key_is(&o->via.map.ptr[i], "blocklist"))
      v = &o->via.map.ptr[i].val;
  if (!v)
    return IDL_ERR_OK;
  if (v->type != MSGPACK_OBJECT_STR)
    return bad(r, IDL_ERR_CORRUPT, "header: blocklist must be a string");
  char *text = malloc(v->via.str.size + 1);
  enum idl_err err = text && !idl_blocklist_new(&r->blocklist) ? IDL_ERR_OK : IDL_ERR_NOMEM;
  if (!err) {
    if (v->via.str.size) /* "" may have a NULL ptr */
      memcpy(text, v->via.str.ptr, v->via.str.size);
    text[v->via.str.size] = '\0';
    err = idl_blocklist_add_text(r->blocklist, text);
  }
  free(text);
  if (err)
    return bad(r, err, "header: blocklist is not a list of email: and phone: rules");
  idl_checker_set_blocklist(r->ck, r->blocklist);
  if (r->opts->blocklist && (err = r->opts->blocklist(r->blocklist, r->opts->arg)))
    return bad(r, err, "cannot take the blocklist: %s", idl_strerror(err));
  return IDL_ERR_OK;
}

/* The optional "phone_region": the --phone-region the store parsed phones
 * in, two letters, for the caller (a restore keeps it). */
static enum idl_err read_phone_region(struct reader *r, const msgpack_object *o) {
  for (uint32_t i = 0; i < o->via.map.size; i++) {
    const msgpack_object *v = &o->via.map.ptr[i].val;
    if (!key_is(&o->via.map.ptr[i], "phone_region"))
      continue;
    if (v->type != MSGPACK_OBJECT_STR || v->via.str.size != 2)
      return bad(r, IDL_ERR_CORRUPT, "header: phone_region must be a two-letter region");
    char region[3] = {v->via.str.ptr[0], v->via.str.ptr[1], '\0'};
    enum idl_err err = r->opts->phone_region ? r->opts->phone_region(region, r->opts->arg)
                                             : IDL_ERR_OK;
    return err ? bad(r, err, "cannot take the phone region: %s", idl_strerror(err)) : err;
  }
  return IDL_ERR_OK;
}

static enum idl_err read_header(struct reader *r, struct idl_snapshot_header *h) {
  if (r->len == 0)
    return bad(r, IDL_ERR_CORRUPT, "empty file: not an idlink snapshot");
  enum idl_err err = next_object(r, "the header", 0);
  if (err)
    return err;
  const msgpack_object *o = &r->u.data;
  if (o->type != MSGPACK_OBJECT_MAP || !map_has_str(o, "format", IDL_SNAPSHOT_FORMAT))
    return bad(r, IDL_ERR_CORRUPT,
               "not an idlink snapshot: byte 0 holds no header map with format \"%s\"",
               IDL_SNAPSHOT_FORMAT);
  if (!map_uint(o, "version", &h->version))
    return bad(r, IDL_ERR_CORRUPT, "header: no version");
  if (h->version < 1 || h->version > IDL_SNAPSHOT_VERSION)
    return bad(r, IDL_ERR_VERSION,
               "header: snapshot version %llu is not supported (this idlink reads "
               "versions 1 to %d)", ULL(h->version), IDL_SNAPSHOT_VERSION);
  uint64_t created;
  if (!map_uint(o, "created_at", &created) || !map_uint(o, "contacts", &h->contacts) ||
      !map_uint(o, "last_seq", &h->last_seq))
    return bad(r, IDL_ERR_CORRUPT,
               "header: created_at, contacts and last_seq must be unsigned integers");
  h->created_at = (int64_t)created;
  if ((err = read_tables_header(r, o, h)) || (err = read_blocklist(r, o)) ||
      (err = read_phone_region(r, o)))
    return err;
  if (h->last_seq > IDL_CHECK_MAX_ID)
    return bad(r, IDL_ERR_CORRUPT, "header: last_seq %llu is above %llu, the largest "
               "sequence number a store hands out (they are served as int64)", ULL(h->last_seq),
               ULL(IDL_CHECK_MAX_ID));
  return IDL_ERR_OK;
}

static enum idl_err read_trailer(struct reader *r, uint64_t rows, size_t at,
                                 const struct idl_snapshot_header *h) {
  const msgpack_object *o = &r->u.data;
  uint64_t count, crc;
  /* Table rows are maps too: one the header does not count reads as a
   * trailer without a trailer's keys. */
  if (h->version > 1 && !map_find(o, "count", -1) && !map_find(o, "crc32", -1))
    return bad(r, IDL_ERR_CORRUPT, "byte %zu: a map without count and crc32 where the "
               "trailer was expected, after the %llu rows the header counts: a row too "
               "many?", at, ULL(rows));
  if (!map_uint(o, "count", &count) || !map_uint(o, "crc32", &crc))
    return bad(r, IDL_ERR_CORRUPT, "trailer at byte %zu: count and crc32 must be "
               "unsigned integers", at);
  uLong actual = crc32_z(crc32_z(0, NULL, 0), (const Bytef *)r->buf, at);
  if (crc != actual)
    return bad(r, IDL_ERR_CORRUPT, "checksum mismatch: the trailer at byte %zu says "
               "crc32 %08llx, the bytes before it give %08lx", at, ULL(crc), actual);
  if (count != rows)
    return bad(r, IDL_ERR_CORRUPT, "trailer at byte %zu: count %llu, but %llu rows "
               "precede it", at, ULL(count), ULL(rows));
  uint64_t want = h->contacts;
  for (size_t i = 0; i < IDL_SNAPSHOT_TABLES; i++)
    want += h->rows[i];
  if (want != rows)
    return bad(r, IDL_ERR_CORRUPT, "header: %llu rows (contacts and tables), but %llu rows "
               "follow", ULL(want), ULL(rows));
  if (r->off != r->len)
    return bad(r, IDL_ERR_CORRUPT, "%zu unexpected bytes after the trailer, from byte %zu",
               r->len - r->off, r->off);
  return IDL_ERR_OK;
}

/* Takes the checker's violations: one found while a row is handed over is
 * about that row, and says which. */
static void note_violation(const char *line, void *arg) {
  struct reader *r = arg;
  char full[sizeof(r->first)];
  if (r->row)
    snprintf(full, sizeof(full), "row %llu at byte %zu: %s", ULL(r->row), r->row_at, line);
  else
    snprintf(full, sizeof(full), "%s", line);
  if (r->violations++ == 0)
    memcpy(r->first, full, sizeof(full));
  if (r->opts->violation)
    r->opts->violation(full, r->opts->arg);
}

/* A row's ids: ascending after last_id, and with room above them for the id
 * the restored store hands out next. */
static enum idl_err check_ids(struct reader *r, const struct idl_contact *c, uint64_t row,
                              size_t at, uint64_t last_id) {
  if (c->id <= last_id)
    return bad(r, IDL_ERR_CORRUPT, "row %llu at byte %zu: id %llu does not follow id "
               "%llu (ids ascend, without repeats)", ULL(row), at, ULL(c->id),
               ULL(last_id));
  if (c->id > IDL_CHECK_MAX_ID || c->linked_id > IDL_CHECK_MAX_ID)
    return bad(r, IDL_ERR_CORRUPT, "row %llu at byte %zu: %s %llu is above %llu, the largest "
               "id a store hands out (ids are served as int64)", ULL(row), at,
               c->id > IDL_CHECK_MAX_ID ? "id" : "linked_id",
               ULL(c->id > IDL_CHECK_MAX_ID ? c->id : c->linked_id), ULL(IDL_CHECK_MAX_ID));
  return IDL_ERR_OK;
}

/* Hands row number row (at byte at) to the checker, then to the caller. */
static enum idl_err take_row(struct reader *r, const struct idl_contact *c, uint64_t row,
                             size_t at) {
  r->row = row;
  r->row_at = at;
  enum idl_err err = idl_checker_add(c, r->ck);
  r->row = 0;
  if (err)
    return bad(r, err, "row %llu: %s", ULL(row), idl_strerror(err));
  if (r->opts->row && (err = r->opts->row(c, r->opts->arg)))
    return bad(r, err, "row %llu: %s", ULL(row), idl_strerror(err));
  return IDL_ERR_OK;
}

/* A unique index's key of one row, hashed, for the duplicates check. */
struct unique_key {
  uint64_t hash;
  uint64_t pk;
};

static int cmp_unique(const void *pa, const void *pb) {
  const struct unique_key *a = pa, *b = pb;
  if (a->hash != b->hash)
    return a->hash < b->hash ? -1 : 1;
  return (a->pk > b->pk) - (a->pk < b->pk);
}


/* What the table rows read so far imply: each table's pks (ascending), for
 * the FKs of later tables, and its unique keys. */
struct tables_seen {
  struct idl_ids pks[IDL_SNAPSHOT_TABLES];
  struct unique_key *keys[IDL_MAX_INDEXES];
  size_t n_keys[IDL_MAX_INDEXES], cap_keys[IDL_MAX_INDEXES];
};

static void tables_seen_fini(struct tables_seen *ts) {
  for (size_t i = 0; i < IDL_SNAPSHOT_TABLES; i++)
    idl_ids_fini(&ts->pks[i]);
  for (size_t i = 0; i < IDL_MAX_INDEXES; i++)
    free(ts->keys[i]);
}

/* The snapshot table a collection's FK names: its position, or -1. */
static int table_of(const char *name) {
  for (size_t i = 0; i < IDL_SNAPSHOT_TABLES; i++)
    if (!strcmp(idl_snapshot_tables[i], name))
      return (int)i;
  return -1;
}

/* One table row: a map of the record's fields, valid as the API would
 * store them, its pk ascending and below the table's next id, its FKs naming
 * rows of the tables before it. */
static enum idl_err read_record(struct reader *r, size_t table, uint64_t row, size_t at,
                                struct tables_seen *ts, uint64_t next_id,
                                struct idl_record *rec) {
  const struct idl_resource *res = table_res(table);
  const char *name = idl_snapshot_tables[table];
  json_t *j = r->u.data.type == MSGPACK_OBJECT_MAP ? to_json(&r->u.data, 0) : NULL;
  const char *pk_name = "pk"; /* the API's name of the table's pk ("id" for conflicts) */
  for (size_t i = 0; res && i < res->n_fields; i++)
    if (res->fields[i].type == IDL_F_PK)
      pk_name = res->fields[i].name;
  json_t *jpk = j ? json_object_get(j, pk_name) : NULL;
  if (!json_is_integer(jpk) || json_integer_value(jpk) < 1) {
    json_decref(j);
    return bad(r, IDL_ERR_CORRUPT, "row %llu at byte %zu: not a row of %s (a map of its "
               "fields with a positive %s)", ULL(row), at, name, pk_name);
  }
  uint64_t pk = (uint64_t)json_integer_value(jpk);
  struct idl_ids *pks = &ts->pks[table];
  if (pks->n && pk <= pks->v[pks->n - 1]) {
    json_decref(j);
    return bad(r, IDL_ERR_CORRUPT, "row %llu at byte %zu: %s pk %llu does not follow pk %llu "
               "(pks ascend, without repeats)", ULL(row), at, name, ULL(pk),
               ULL(pks->v[pks->n - 1]));
  }
  if (pk >= next_id) {
    json_decref(j);
    return bad(r, IDL_ERR_CORRUPT, "row %llu at byte %zu: %s pk %llu is not below its next "
               "id %llu", ULL(row), at, name, ULL(pk), ULL(next_id));
  }
  struct idl_errors e = {0};
  enum idl_err err = idl_record_init(rec, res);
  if (!err) {
    idl_record_from_json(res, j, IDL_PARSE_RESTORE, 0, "", rec, &e);
    rec->pk = pk;
  }
  json_decref(j);
  if (!err && idl_errors_any(&e))
    err = bad(r, IDL_ERR_CORRUPT, "row %llu at byte %zu: %s %llu: %s: %s", ULL(row), at,
              res->singular, ULL(pk), e.n ? e.v[0].field : "row",
              e.n ? e.v[0].message : "refused");
  for (size_t i = 0; !err && i < res->n_fields; i++) {
    const struct idl_field *f = &res->fields[i];
    int target = f->type == IDL_F_FK ? table_of(f->fk) : -1;
    uint64_t want = (uint64_t)rec->v[i].i;
    if (target >= 0 && !rec->v[i].null &&
        !bsearch(&want, ts->pks[target].v, ts->pks[target].n, sizeof(uint64_t),
                 idl_cmp_leading_id))
      err = bad(r, IDL_ERR_CORRUPT, "row %llu at byte %zu: %s %llu: %s %llu is not in the "
                "snapshot", ULL(row), at, res->singular, ULL(pk), f->name, ULL(want));
  }
  if (!err)
    err = idl_ids_push(pks, pk);
  idl_errors_fini(&e);
  if (err)
    idl_record_fini(rec);
  return err;
}

/* Notes rec's unique keys; reports a key two rows share once the table is read. */
static enum idl_err note_unique(struct reader *r, const struct idl_resource *res,
                                const struct idl_record *rec, struct tables_seen *ts) {
  struct idl_keyset *ks = malloc(sizeof(*ks));
  enum idl_err err = ks ? idl_record_keys(res, rec, ks) : IDL_ERR_NOMEM;
  for (size_t i = 0; !err && i < res->n_indexes; i++) {
    if (!res->indexes[i].unique || ks->key[i].null)
      continue;
    struct unique_key *v = idl_grow(ts->keys[i], &ts->cap_keys[i], ts->n_keys[i], sizeof(*v));
    if (!v) {
      err = IDL_ERR_NOMEM;
      break;
    }
    ts->keys[i] = v;
    v[ts->n_keys[i]++] = (struct unique_key){idl_hash64(ks->key[i].data, ks->key[i].len),
                                             rec->pk};
  }
  free(ks);
  (void)r;
  return err;
}

static enum idl_err check_unique(struct reader *r, const struct idl_resource *res,
                                 struct tables_seen *ts) {
  for (size_t i = 0; i < res->n_indexes; i++) {
    if (ts->n_keys[i] > 1)
      qsort(ts->keys[i], ts->n_keys[i], sizeof(*ts->keys[i]), cmp_unique);
    for (size_t k = 1; k < ts->n_keys[i]; k++)
      if (ts->keys[i][k].hash == ts->keys[i][k - 1].hash)
        return bad(r, IDL_ERR_CORRUPT, "%s %llu and %llu share their %s, which is unique",
                   res->name, ULL(ts->keys[i][k - 1].pk), ULL(ts->keys[i][k].pk),
                   res->indexes[i].name);
    ts->n_keys[i] = 0;
  }
  return IDL_ERR_OK;
}

/* Reads the tables' rows, table by table in the header's order. */
static enum idl_err read_table_rows(struct reader *r, const struct idl_snapshot_header *h,
                                    uint64_t *rows) {
  struct tables_seen ts;
  memset(&ts, 0, sizeof(ts));
  enum idl_err err = IDL_ERR_OK;
  for (size_t t = 0; !err && t < IDL_SNAPSHOT_TABLES; t++) {
    for (uint64_t k = 0; !err && k < h->rows[t]; k++) {
      size_t at = r->off;
      struct idl_record rec;
      if ((err = next_object(r, "row", *rows + 1)))
        break;
      ++*rows;
      if ((err = read_record(r, t, *rows, at, &ts, h->next_ids[t], &rec)))
        break;
      err = note_unique(r, table_res(t), &rec, &ts);
      if (!err && r->opts->record && (err = r->opts->record(table_res(t), &rec,
                                                            r->opts->arg)))
        bad(r, err, "row %llu: %s", ULL(*rows), idl_strerror(err));
      idl_record_fini(&rec);
    }
    if (!err && h->rows[t])
      err = check_unique(r, table_res(t), &ts);
  }
  tables_seen_fini(&ts);
  return err;
}

/* Reads rows up to and including the trailer; *last_id is the last contact
 * row's id. Version 2: the contact rows the header counts, then each table's. */
static enum idl_err read_rows(struct reader *r, const struct idl_snapshot_header *h,
                              uint64_t *last_id) {
  uint64_t rows = 0;
  for (;;) {
    size_t at = r->off;
    if (h->version > 1 && rows == h->contacts) {
      enum idl_err err = read_table_rows(r, h, &rows);
      size_t trailer = r->off;
      if (!err)
        err = next_object(r, "the trailer", 0);
      if (!err && r->u.data.type != MSGPACK_OBJECT_MAP)
        err = bad(r, IDL_ERR_CORRUPT, "byte %zu: the trailer (a map) was expected after "
                  "the %llu rows the header counts%s", trailer, ULL(rows),
                  r->u.data.type == MSGPACK_OBJECT_ARRAY ? ", not another row" : "");
      return err ? err : read_trailer(r, rows, trailer, h);
    }
    enum idl_err err = next_object(r, "row", rows + 1);
    if (err)
      return err;
    if (r->u.data.type == MSGPACK_OBJECT_MAP && h->version == 1)
      return read_trailer(r, rows, at, h);
    if (r->u.data.type == MSGPACK_OBJECT_MAP)
      return bad(r, IDL_ERR_CORRUPT, "row %llu at byte %zu: a map where the header counts "
                 "%llu contact rows", ULL(rows + 1), at, ULL(h->contacts));
    struct idl_contact c;
    rows++;
    if (idl_codec_unpack_contact(&r->u.data, &c))
      return bad(r, IDL_ERR_CORRUPT, "row %llu at byte %zu: not a contact row (an array "
                 "of id, email, phone, linked_id, precedence, created_ms, updated_ms, "
                 "deleted_ms with valid types)", ULL(rows), at);
    if ((err = check_ids(r, &c, rows, at, *last_id)) || (err = take_row(r, &c, rows, at)))
      return err;
    *last_id = c.id;
  }
}

enum idl_err idl_snapshot_read(const void *buf, size_t len,
                               const struct idl_snapshot_read_opts *opts,
                               struct idl_snapshot_header *header, char *why,
                               size_t why_len) {
  static const struct idl_snapshot_read_opts none = {0};
  struct reader r = {.buf = buf, .len = len, .why = why, .why_len = why_len,
                     .opts = opts ? opts : &none};
  uint64_t last_id = 0;
  struct idl_check_report rep;
  msgpack_unpacked_init(&r.u);
  enum idl_err err = idl_checker_new(note_violation, &r, &r.ck);
  if (err)
    bad(&r, err, "out of memory");
  if (!err)
    err = read_header(&r, header);
  if (!err)
    err = read_rows(&r, header, &last_id);
  /* The position the restored store takes: next id above the last row (or
   * version 2's own, which must be above it too). */
  if (!err && header->version > 1 && header->next_contact_id <= last_id)
    err = bad(&r, IDL_ERR_CORRUPT, "header: next id of contacts %llu is not above the last "
              "contact id %llu", ULL(header->next_contact_id), ULL(last_id));
  if (!err && header->version == 1)
    header->next_contact_id = last_id + 1;
  if (!err && (err = idl_checker_finish(r.ck, header->next_contact_id, header->last_seq, &rep)))
    bad(&r, err, "checking the rows: %s", idl_strerror(err));
  if (!err && r.violations)
    err = bad(&r, IDL_ERR_CORRUPT, "the snapshot breaks the store's invariants (%llu "
              "violation%s), the first: %s", ULL(r.violations), r.violations > 1 ? "s" : "",
              r.first);
  msgpack_unpacked_destroy(&r.u);
  idl_checker_free(r.ck);
  idl_blocklist_free(r.blocklist);
  return err;
}

/* --------------------------------------------------------------- restore */

struct loader {
  struct idl_store *store;
  struct idl_blocklist *blocklist; /* the snapshot's rules, the new store's too */
  struct idl_txn *txn;
  struct idl_bulk *bulk;
  const struct idl_snapshot_header *header; /* filled once the header is read */
  uint64_t rows;
  enum idl_err failed; /* the store's error on the next row */
  idl_progress_fn progress;
  void *arg;
};

/* The new store indexes the rows under the snapshot's rules, and keeps them. */
static enum idl_err load_blocklist(const struct idl_blocklist *bl, void *arg) {
  struct loader *l = arg;
  char *text = idl_blocklist_text(bl);
  enum idl_err err = text ? idl_blocklist_new(&l->blocklist) : IDL_ERR_NOMEM;
  if (!err)
    err = idl_blocklist_add_text(l->blocklist, text);
  free(text);
  if (!err)
    idl_store_set_blocklist(l->store, l->blocklist);
  return err;
}

/* The new store keeps phones as the snapshot's did. */
static enum idl_err load_phone_region(const char *region, void *arg) {
  struct loader *l = arg;
  return idl_store_meta_put_text(l->txn, IDL_META_PHONE_REGION, region);
}

static enum idl_err load_row(const struct idl_contact *c, void *arg) {
  struct loader *l = arg;
  enum idl_err err = idl_bulk_add(l->bulk, c);
  if (err)
    return l->failed = err;
  if (++l->rows % PROGRESS_EVERY == 0 && l->progress)
    l->progress(l->rows, l->header->contacts, l->arg);
  return IDL_ERR_OK;
}

/* A table row goes into its table as it is, with no change-log entry: the
 * restored store's log starts empty. */
static enum idl_err load_record(const struct idl_resource *res, const struct idl_record *rec,
                                void *arg) {
  struct loader *l = arg;
  struct idl_keyset *ks = malloc(sizeof(*ks));
  char *data = NULL;
  size_t len = 0;
  enum idl_err err = ks ? idl_record_keys(res, rec, ks) : IDL_ERR_NOMEM;
  if (!err)
    err = idl_record_encode(res, rec, &data, &len);
  if (!err)
    err = idl_table_put(l->txn, idl_resource_table(res), rec->pk, data, len, NULL, ks->key);
  free(data);
  free(ks);
  if (err)
    return l->failed = err;
  if (++l->rows % PROGRESS_EVERY == 0 && l->progress)
    l->progress(l->rows, l->header->contacts, l->arg);
  return IDL_ERR_OK;
}

/* The next ids of the restored store: version 2's own, else past the rows. */
static enum idl_err set_positions(struct idl_txn *txn, const struct idl_snapshot_header *h) {
  enum idl_err err = idl_store_set_position(txn, h->next_contact_id, h->last_seq);
  for (size_t i = 0; !err && i < IDL_SNAPSHOT_TABLES; i++)
    if (table_res(i))
      err = idl_table_set_next_pk(txn, idl_resource_table(table_res(i)), h->next_ids[i]);
  return err;
}

/* Loads buf into the new, empty store s in one write transaction. When the
 * file is refused, *refused is set and why says why; a failure of the store
 * leaves why to the caller. */
static enum idl_err load(struct idl_store *s, const void *buf, size_t len, struct loader *l,
                         struct idl_snapshot_header *h, char *why, size_t why_len,
                         int *refused) {
  struct idl_snapshot_read_opts ro = {.row = load_row, .record = load_record,
                                      .blocklist = load_blocklist,
                                      .phone_region = load_phone_region, .arg = l};
  struct idl_txn *txn = NULL;
  enum idl_err err = idl_txn_begin_write(s, NULL, &txn);
  l->txn = txn;
  if (!err)
    err = idl_bulk_begin(txn, &l->bulk);
  if (!err && (err = idl_snapshot_read(buf, len, &ro, h, why, why_len)))
    *refused = !l->failed;
  if (!err) {
    err = idl_bulk_finish(l->bulk);
    l->bulk = NULL;
  }
  idl_bulk_abort(l->bulk);
  if (!err)
    err = set_positions(txn, h);
  if (!err && l->blocklist)
    err = idl_store_record_blocklist(txn);
  if (!err) {
    err = idl_txn_commit(txn);
    txn = NULL;
  }
  idl_txn_abort(txn);
  return err;
}

/* Builds the store of buf in the new folder tmp: loaded, verified, synced.
 * The rows are verified as they are read, by the checker idlink-check runs
 * (idl_snapshot_read); the indexes and members are derived from them by the
 * bulk load, so the new store is not checked again, which would add a scan of
 * every table to the restore. */
static enum idl_err build(const char *tmp, const void *buf, size_t len,
                          const struct idl_restore_opts *opts,
                          struct idl_snapshot_header *h, char *why, size_t why_len) {
  struct idl_store_opts so = {.sync_full = 0};
  struct idl_store *s;
  enum idl_err err = idl_store_open(tmp, &so, &s);
  if (err)
    return idl_why(why, why_len, err, "cannot create the new store in %s: %s", tmp,
               idl_strerror(err));
  struct loader l = {.store = s, .header = h, .progress = opts->progress, .arg = opts->arg};
  int refused = 0;
  err = load(s, buf, len, &l, h, why, why_len, &refused);
  if (!err)
    err = idl_store_sync(s);
  idl_store_close(s);
  idl_blocklist_free(l.blocklist);
  if (err && refused)
    return err;
  if (err && l.failed)
    return idl_why(why, why_len, err, "cannot write the new store in %s (row %llu): %s", tmp,
               ULL(l.rows + 1), idl_strerror(err));
  if (err)
    return idl_why(why, why_len, err, "cannot write the new store in %s: %s", tmp,
               idl_strerror(err));
  if (opts->progress)
    opts->progress(l.rows, h->contacts, opts->arg);
  return IDL_ERR_OK;
}

/* What folder dir held before the restore. */
struct held {
  enum idl_err err; /* the store could not be read */
  int found;        /* a store is there */
  uint64_t contacts, last_seq;
};

static void held(const char *dir, struct held *out) {
  struct idl_store_opts ro = {.read_only = 1};
  struct idl_store *s;
  struct idl_txn *txn = NULL;
  struct idl_store_info info = {0};
  *out = (struct held){.err = idl_store_open(dir, &ro, &s)};
  if (out->err == IDL_ERR_NOTFOUND)
    out->err = IDL_ERR_OK;
  else if (!out->err) {
    out->found = 1;
    out->err = idl_txn_begin_read(s, &txn);
    if (!out->err)
      out->err = idl_store_info(txn, &info);
    idl_txn_abort(txn);
    idl_store_close(s);
    out->contacts = info.contacts;
    out->last_seq = info.last_seq;
  }
}

/* Whether the restore may replace what dir holds: an empty store, or with
 * force anything, even a store that cannot be read (a damaged one). */
static enum idl_err may_replace(const char *dir, int force, const struct held *h, char *why,
                                size_t why_len) {
  if (force)
    return IDL_ERR_OK;
  if (h->err)
    return idl_why(why, why_len, h->err, "cannot read the store in %s (%s); --force replaces it",
               dir, idl_strerror(h->err));
  if (h->contacts || h->last_seq)
    return idl_why(why, why_len, IDL_ERR_INVAL, "%s holds a store with %llu contacts: restore "
               "refuses to replace it without --force", dir, ULL(h->contacts));
  return IDL_ERR_OK;
}

/* Builds the new store in dir/restore.tmp and moves it over dir's. A bad file
 * leaves only that store behind, which is removed. */
static enum idl_err replace(const char *dir, const void *buf, size_t len,
                            const struct idl_restore_opts *opts,
                            struct idl_snapshot_header *h, char *why, size_t why_len) {
  char tmp[4096];
  snprintf(tmp, sizeof(tmp), "%s/restore.tmp", dir);
  idl_store_remove(tmp); /* what an interrupted restore left */
  enum idl_err err = build(tmp, buf, len, opts, h, why, why_len);
  if (!err && (err = idl_store_install(tmp, dir)))
    idl_why(why, why_len, err, "cannot move the new store into %s: %s", dir, idl_strerror(err));
  idl_store_remove(tmp);
  return err;
}

/* Into out, the outermost folder on the way to dir that does not exist: the
 * one the restore creates, with those below it. "" when dir exists. */
static void first_missing(const char *dir, char *out, size_t size) {
  char path[4096], up[4096];
  struct stat st;
  out[0] = '\0';
  snprintf(path, sizeof(path), "%s", dir);
  while (stat(path, &st) != 0 && errno == ENOENT && strcmp(path, out) != 0) {
    snprintf(out, size, "%s", path);
    snprintf(up, sizeof(up), "%s", path);
    snprintf(path, sizeof(path), "%s", dirname(up));
  }
}

/* Removes dir, which the restore created with all it holds, and the folders
 * it created above it, up to created. */
static void remove_created(const char *dir, const char *created) {
  char path[4096], up[4096];
  snprintf(path, sizeof(path), "%s", dir);
  idl_store_remove(path);
  while (strlen(path) > strlen(created)) {
    snprintf(up, sizeof(up), "%s", path);
    snprintf(path, sizeof(path), "%s", dirname(up));
    rmdir(path);
  }
}

enum idl_err idl_snapshot_restore(const char *dir, const void *buf, size_t len,
                                  const struct idl_restore_opts *opts,
                                  struct idl_snapshot_header *header, char *why,
                                  size_t why_len) {
  struct idl_snapshot_header h;
  char created[4096];
  int lock = -1;
  first_missing(dir, created, sizeof(created));
  enum idl_err err = idl_store_lock(dir, &lock);
  if (err == IDL_ERR_LOCKED)
    return idl_why(why, why_len, err, "%s is in use by a running idlinkd (or another restore)",
               dir);
  if (err)
    idl_why(why, why_len, err, "cannot lock %s: %s", dir, idl_strerror(err));
  struct held before;
  if (!err) {
    held(dir, &before);
    /* A folder that holds a store is not the restore's to remove, though it
     * was missing a moment ago: another process made it before the lock. */
    if (before.err || before.found)
      created[0] = '\0';
    err = may_replace(dir, opts->force, &before, why, why_len);
  }
  if (!err)
    err = replace(dir, buf, len, opts, &h, why, why_len);
  /* A failure leaves no folder behind that was not there. The lock file goes
   * while it is held: a process that opened it meanwhile fails to lock it,
   * rather than holding a lock on a file that is gone. */
  if (err && *created)
    remove_created(dir, created);
  idl_store_unlock(lock);
  if (!err)
    *header = h;
  return err;
}

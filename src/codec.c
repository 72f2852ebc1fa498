#include "codec_internal.h"

#include <stdlib.h>

#include <string.h>

#define PK(call)                                                               \
  do {                                                                         \
    if ((call) != 0)                                                           \
      return IDL_ERR_NOMEM;                                                    \
  } while (0)

/* The contact graph's kinds, and the key of each one's list of ids (NULL:
 * it names a contact instead). */
static const struct {
  const char *name, *list;
} kinds[] = {
    [IDL_CHANGE_CONTACT_CREATED] = {"contact.created", NULL},
    [IDL_CHANGE_IDENTITY_MERGED] = {"identity.merged", "absorbed"},
    [IDL_CHANGE_RECORD] = {NULL, NULL},
    [IDL_CHANGE_CONTACT_DELETED] = {"contact.deleted", NULL},
    [IDL_CHANGE_IDENTITY_SPLIT] = {"identity.split", "parts"},
    [IDL_CHANGE_IDENTITY_ERASED] = {"identity.erased", "contacts"},
};
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

const char *idl_change_list_key(const struct idl_change *c) {
  return c->kind == IDL_CHANGE_RECORD ? NULL : kinds[c->kind].list;
}

const char *idl_change_name(const struct idl_change *c) {
  return c->kind == IDL_CHANGE_RECORD ? c->name : kinds[c->kind].name;
}

void idl_change_fini(struct idl_change *c) { idl_ids_fini(&c->absorbed); }

static int pack_str_or_nil(msgpack_packer *pk, const char *s) {
  size_t len = strlen(s);
  if (len == 0)
    return msgpack_pack_nil(pk);
  if (msgpack_pack_str(pk, len) != 0)
    return -1;
  return msgpack_pack_str_body(pk, s, len);
}

static int pack_time_or_nil(msgpack_packer *pk, int64_t ms) {
  return ms == IDL_TIME_NULL ? msgpack_pack_nil(pk) : msgpack_pack_int64(pk, ms);
}

enum idl_err idl_codec_pack_contact(msgpack_packer *pk, const struct idl_contact *c) {
  PK(msgpack_pack_array(pk, 8));
  PK(msgpack_pack_uint64(pk, c->id));
  PK(pack_str_or_nil(pk, c->email));
  PK(pack_str_or_nil(pk, c->phone));
  PK(c->linked_id ? msgpack_pack_uint64(pk, c->linked_id) : msgpack_pack_nil(pk));
  PK(msgpack_pack_uint8(pk, (uint8_t)c->precedence));
  PK(msgpack_pack_int64(pk, c->created_ms));
  PK(msgpack_pack_int64(pk, c->updated_ms));
  PK(pack_time_or_nil(pk, c->deleted_ms));
  return IDL_ERR_OK;
}

static int get_uint(const msgpack_object *o, uint64_t *out) {
  if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    return -1;
  *out = o->via.u64;
  return 0;
}

static int get_int(const msgpack_object *o, int64_t *out) {
  if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
    *out = o->via.i64;
    return 0;
  }
  if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > INT64_MAX)
    return -1;
  *out = (int64_t)o->via.u64;
  return 0;
}

static int get_str(const msgpack_object *o, char *out, size_t max) {
  if (o->type == MSGPACK_OBJECT_NIL) {
    out[0] = '\0';
    return 0;
  }
  if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 || o->via.str.size > max ||
      memchr(o->via.str.ptr, '\0', o->via.str.size))
    return -1;
  memcpy(out, o->via.str.ptr, o->via.str.size);
  out[o->via.str.size] = '\0';
  return 0;
}

/* A timestamp from 1970 to the end of year 9999, in ms. */
static int time_ok(int64_t ms) { return ms >= 0 && ms <= 253402300799999LL; }

enum idl_err idl_codec_unpack_contact(const msgpack_object *o, struct idl_contact *out) {
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 8)
    return IDL_ERR_CORRUPT;
  const msgpack_object *f = o->via.array.ptr;
  uint64_t prec;
  if (get_uint(&f[0], &out->id) || out->id == 0 ||
      get_str(&f[1], out->email, IDL_EMAIL_MAX_BYTES) ||
      get_str(&f[2], out->phone, IDL_PHONE_MAX_BYTES) || get_uint(&f[4], &prec) ||
      prec > IDL_SECONDARY || get_int(&f[5], &out->created_ms) ||
      get_int(&f[6], &out->updated_ms))
    return IDL_ERR_CORRUPT;
  out->precedence = (enum idl_precedence)prec;
  if (!time_ok(out->created_ms) || !time_ok(out->updated_ms))
    return IDL_ERR_CORRUPT;
  out->linked_id = 0;
  if (f[3].type != MSGPACK_OBJECT_NIL && get_uint(&f[3], &out->linked_id))
    return IDL_ERR_CORRUPT;
  out->deleted_ms = IDL_TIME_NULL;
  if (f[7].type != MSGPACK_OBJECT_NIL &&
      (get_int(&f[7], &out->deleted_ms) || !time_ok(out->deleted_ms)))
    return IDL_ERR_CORRUPT;
  /* A primary names no primary; a secondary names one. */
  if ((out->precedence == IDL_PRIMARY) != (out->linked_id == 0))
    return IDL_ERR_CORRUPT;
  return IDL_ERR_OK;
}

/* The zone holds the objects of one row, a few dozen of 24 bytes each (the
 * strings stay in buf): one small chunk, which malloc serves from its
 * per-thread cache, where msgpack_unpack_next would allocate a zone of 8 KiB
 * per row. It grows by itself when a row needs more. */
#define ROW_ZONE_CHUNK 1024

enum idl_err idl_msgpack_with_object(const void *buf, size_t len,
                                     enum idl_err (*fn)(const msgpack_object *, void *),
                                     void *arg) {
  msgpack_zone zone;
  if (!msgpack_zone_init(&zone, ROW_ZONE_CHUNK))
    return IDL_ERR_NOMEM;
  msgpack_object o;
  size_t off = 0;
  enum idl_err rc = IDL_ERR_CORRUPT;
  if (msgpack_unpack(buf, len, &off, &zone, &o) == MSGPACK_UNPACK_SUCCESS && off == len)
    rc = fn(&o, arg);
  msgpack_zone_destroy(&zone);
  return rc;
}

static enum idl_err unpack_contact_cb(const msgpack_object *o, void *arg) {
  return idl_codec_unpack_contact(o, arg);
}

enum idl_err idl_codec_decode_contact(const void *buf, size_t len, struct idl_contact *out) {
  return idl_msgpack_with_object(buf, len, unpack_contact_cb, out);
}

static int pack_key(msgpack_packer *pk, const char *key) {
  size_t len = strlen(key);
  if (msgpack_pack_str(pk, len) != 0)
    return -1;
  return msgpack_pack_str_body(pk, key, len);
}

/* Hands the buffer of sbuf over to *out (sbuf is left empty), or frees it. */
static enum idl_err take_buffer(msgpack_sbuffer *sbuf, enum idl_err err, char **out,
                                size_t *len) {
  if (err) {
    msgpack_sbuffer_destroy(sbuf);
    return err;
  }
  *len = sbuf->size;
  *out = msgpack_sbuffer_release(sbuf);
  return IDL_ERR_OK;
}

enum idl_err idl_codec_encode_contact(const struct idl_contact *c, char **out, size_t *len) {
  msgpack_sbuffer sbuf;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sbuf);
  msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
  return take_buffer(&sbuf, idl_codec_pack_contact(&pk, c), out, len);
}

static enum idl_err pack_change(msgpack_sbuffer *sbuf, const struct idl_change *c);

enum idl_err idl_codec_encode_change(const struct idl_change *c, char **out, size_t *len) {
  msgpack_sbuffer sbuf;
  msgpack_sbuffer_init(&sbuf);
  return take_buffer(&sbuf, pack_change(&sbuf, c), out, len);
}

static enum idl_err pack_change(msgpack_sbuffer *sbuf, const struct idl_change *c) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sbuf, msgpack_sbuffer_write);
  const char *list = idl_change_list_key(c);
  if (c->kind == IDL_CHANGE_RECORD) {
    PK(msgpack_pack_map(&pk, 3));
    PK(pack_key(&pk, "at"));
    PK(msgpack_pack_int64(&pk, c->at_ms));
    PK(pack_key(&pk, "kind"));
    PK(pack_key(&pk, c->name));
    PK(pack_key(&pk, "pk"));
    PK(msgpack_pack_uint64(&pk, c->pk));
    return IDL_ERR_OK;
  }
  PK(msgpack_pack_map(&pk, 4));
  PK(pack_key(&pk, "at"));
  PK(msgpack_pack_int64(&pk, c->at_ms));
  PK(pack_key(&pk, "kind"));
  PK(pack_key(&pk, idl_change_name(c)));
  PK(pack_key(&pk, "primary"));
  PK(msgpack_pack_uint64(&pk, c->primary));
  if (list) {
    PK(pack_key(&pk, list));
    PK(msgpack_pack_array(&pk, c->absorbed.n));
    for (size_t i = 0; i < c->absorbed.n; i++)
      PK(msgpack_pack_uint64(&pk, c->absorbed.v[i]));
  } else {
    PK(pack_key(&pk, "contact"));
    PK(msgpack_pack_uint64(&pk, c->contact));
  }
  return IDL_ERR_OK;
}

int idl_msgpack_key_is(const msgpack_object *k, const char *name) {
  return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(name) &&
         memcmp(k->via.str.ptr, name, k->via.str.size) == 0;
}

static enum idl_err unpack_absorbed(const msgpack_object *v, struct idl_ids *out) {
  if (v->type != MSGPACK_OBJECT_ARRAY)
    return IDL_ERR_CORRUPT;
  for (uint32_t i = 0; i < v->via.array.size; i++) {
    uint64_t id;
    if (get_uint(&v->via.array.ptr[i], &id))
      return IDL_ERR_CORRUPT;
    if (idl_ids_push(out, id))
      return IDL_ERR_NOMEM;
  }
  return IDL_ERR_OK;
}

static enum idl_err unpack_change_cb(const msgpack_object *o, void *arg) {
  struct idl_change *out = arg;
  if (o->type != MSGPACK_OBJECT_MAP)
    return IDL_ERR_CORRUPT;
  int have_kind = 0;
  for (uint32_t i = 0; i < o->via.map.size; i++) {
    const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
    enum idl_err rc = IDL_ERR_OK;
    if (idl_msgpack_key_is(k, "at")) {
      rc = get_int(v, &out->at_ms) ? IDL_ERR_CORRUPT : IDL_ERR_OK;
    } else if (idl_msgpack_key_is(k, "kind")) {
      have_kind = 1;
      size_t kind = 0;
      while (kind < N_KINDS && (!kinds[kind].name || !idl_msgpack_key_is(v, kinds[kind].name)))
        kind++;
      if (kind < N_KINDS)
        out->kind = (enum idl_change_kind)kind;
      else if (v->type == MSGPACK_OBJECT_STR && v->via.str.size < IDL_CHANGE_NAME_MAX &&
               memchr(v->via.str.ptr, '.', v->via.str.size) &&
               !memchr(v->via.str.ptr, '\0', v->via.str.size)) {
        out->kind = IDL_CHANGE_RECORD;
        memcpy(out->name, v->via.str.ptr, v->via.str.size);
        out->name[v->via.str.size] = '\0';
      } else {
        rc = IDL_ERR_CORRUPT;
      }
    } else if (idl_msgpack_key_is(k, "primary")) {
      rc = get_uint(v, &out->primary) ? IDL_ERR_CORRUPT : IDL_ERR_OK;
    } else if (idl_msgpack_key_is(k, "contact")) {
      rc = get_uint(v, &out->contact) ? IDL_ERR_CORRUPT : IDL_ERR_OK;
    } else if (idl_msgpack_key_is(k, "pk")) {
      rc = get_uint(v, &out->pk) ? IDL_ERR_CORRUPT : IDL_ERR_OK;
    } else if (idl_msgpack_key_is(k, "absorbed") || idl_msgpack_key_is(k, "parts") || idl_msgpack_key_is(k, "contacts")) {
      rc = unpack_absorbed(v, &out->absorbed);
    }
    if (rc)
      return rc;
  }
  return have_kind ? IDL_ERR_OK : IDL_ERR_CORRUPT;
}

enum idl_err idl_codec_decode_change(const void *buf, size_t len, struct idl_change *out) {
  memset(out, 0, sizeof(*out));
  enum idl_err rc = idl_msgpack_with_object(buf, len, unpack_change_cb, out);
  if (rc)
    idl_change_fini(out);
  return rc;
}

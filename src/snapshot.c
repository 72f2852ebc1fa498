/* Snapshot writer, reader and restore. */
#include "idlink/snapshot.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "idlink/check.h"
#include "idlink/codec.h"
#include "idlink/log.h"
#include "idlink/normalize.h"

#define PROGRESS_EVERY 65536

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

enum idl_err idl_snapshot_write(struct idl_txn *txn, int fd, idl_progress_fn progress,
                                void *arg, struct idl_snapshot_header *header) {
  struct idl_store_info info;
  enum idl_err err = idl_store_info(txn, &info);
  if (err)
    return err;
  struct out *o = calloc(1, sizeof(*o));
  if (!o)
    return IDL_ERR_NOMEM;
  o->fd = fd;
  o->crc = crc32_z(0, NULL, 0);
  struct dump d = {.total = info.contacts, .progress = progress, .arg = arg};
  msgpack_packer_init(&d.pk, o, out_write);
  struct idl_snapshot_header h = {IDL_SNAPSHOT_VERSION, idl_now_ms(), info.contacts,
                                  info.last_seq};
  int packed_badly = msgpack_pack_map(&d.pk, 5) || pack_cstr(&d.pk, "format") ||
            pack_cstr(&d.pk, IDL_SNAPSHOT_FORMAT) || pack_cstr(&d.pk, "version") ||
            msgpack_pack_uint64(&d.pk, h.version) || pack_cstr(&d.pk, "created_at") ||
            msgpack_pack_int64(&d.pk, h.created_at) || pack_cstr(&d.pk, "contacts") ||
            msgpack_pack_uint64(&d.pk, h.contacts) || pack_cstr(&d.pk, "last_seq") ||
            msgpack_pack_uint64(&d.pk, h.last_seq);
  err = packed_badly ? IDL_ERR_IO : idl_store_scan_contacts(txn, dump_row, &d);
  /* The trailer's CRC covers every byte before it: flush them first. */
  if (!err && out_flush(o) == 0) {
    packed_badly = msgpack_pack_map(&d.pk, 2) || pack_cstr(&d.pk, "count") ||
          msgpack_pack_uint64(&d.pk, d.rows) || pack_cstr(&d.pk, "crc32") ||
          msgpack_pack_uint32(&d.pk, (uint32_t)o->crc) || out_flush(o);
    err = packed_badly ? IDL_ERR_IO : IDL_ERR_OK;
  }
  if (!err && o->failed)
    err = IDL_ERR_IO;
  if (o->failed)
    idl_log_error("snapshot: write failed: %s", strerror(o->failed));
  if (!err && d.rows != h.contacts)
    err = IDL_ERR_CORRUPT; /* the table's count and its rows disagree */
  if (!err && progress)
    progress(d.rows, d.total, arg);
  int failed = o->failed;
  free(o);
  if (!err)
    *header = h;
  return (failed == ENOSPC || failed == EDQUOT) ? IDL_ERR_FULL : err;
}

/* ---------------------------------------------------------------- reader */

struct link {
  uint64_t id, linked;
  uint64_t row;
  size_t at;
  uint8_t precedence;
};

struct reader {
  const char *buf;
  size_t len, off;
  msgpack_unpacked u;
  char *why;
  size_t why_len;
  struct link *links;
  size_t n, cap;
};

/* Writes a message into why and returns err. */
static enum idl_err say(char *why, size_t why_len, enum idl_err err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum idl_err say(char *why, size_t why_len, enum idl_err err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, why_len, fmt, ap);
  va_end(ap);
  return err;
}

#define bad(r, err, ...) say((r)->why, (r)->why_len, err, __VA_ARGS__)

#define ULL(x) ((unsigned long long)(x))

/* Reads the next object into r->u. what names it for messages: "row" with
 * row number row, or anything else on its own. */
static enum idl_err next_object(struct reader *r, const char *what, uint64_t row) {
  size_t at = r->off;
  char name[64];
  int rc = at == r->len ? MSGPACK_UNPACK_CONTINUE
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
  return kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(name) &&
         memcmp(kv->key.via.str.ptr, name, kv->key.via.str.size) == 0;
}

/* Finds key name in map o holding an unsigned integer. */
static int map_uint(const msgpack_object *o, const char *name, uint64_t *out) {
  for (uint32_t i = 0; i < o->via.map.size; i++) {
    const msgpack_object_kv *kv = &o->via.map.ptr[i];
    if (key_is(kv, name) && kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
      *out = kv->val.via.u64;
      return 1;
    }
  }
  return 0;
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
  if (h->version != IDL_SNAPSHOT_VERSION)
    return bad(r, IDL_ERR_VERSION,
               "header: snapshot version %llu is not supported (this idlink reads "
               "version %d)", ULL(h->version), IDL_SNAPSHOT_VERSION);
  uint64_t created;
  if (!map_uint(o, "created_at", &created) || !map_uint(o, "contacts", &h->contacts) ||
      !map_uint(o, "last_seq", &h->last_seq))
    return bad(r, IDL_ERR_CORRUPT,
               "header: created_at, contacts and last_seq must be unsigned integers");
  h->created_at = (int64_t)created;
  return IDL_ERR_OK;
}

static enum idl_err note_link(struct reader *r, const struct idl_contact *c, uint64_t row,
                              size_t at) {
  struct link *v = idl_grow(r->links, &r->cap, r->n, sizeof(*v));
  if (!v)
    return bad(r, IDL_ERR_NOMEM, "out of memory at row %llu", ULL(row));
  r->links = v;
  r->links[r->n++] = (struct link){c->id, c->linked_id, row, at, (uint8_t)c->precedence};
  return IDL_ERR_OK;
}

static const struct link *find_link(const struct reader *r, uint64_t id) {
  return bsearch(&id, r->links, r->n, sizeof(*r->links), idl_cmp_leading_id);
}

/* Every secondary names a primary that is in the snapshot. */
static enum idl_err check_links(struct reader *r) {
  for (size_t i = 0; i < r->n; i++) {
    const struct link *l = &r->links[i];
    if (l->precedence != IDL_SECONDARY)
      continue;
    const struct link *p = find_link(r, l->linked);
    if (!p || p->precedence != IDL_PRIMARY)
      return bad(r, IDL_ERR_CORRUPT,
                 "row %llu at byte %zu: contact %llu links to %llu, which is not a "
                 "primary in the snapshot", ULL(l->row), l->at, ULL(l->id), ULL(l->linked));
  }
  return IDL_ERR_OK;
}

static enum idl_err read_trailer(struct reader *r, uint64_t rows, size_t at,
                                 const struct idl_snapshot_header *h) {
  const msgpack_object *o = &r->u.data;
  uint64_t count, crc;
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
  if (h->contacts != rows)
    return bad(r, IDL_ERR_CORRUPT, "header: %llu contacts, but %llu rows follow",
               ULL(h->contacts), ULL(rows));
  if (r->off != r->len)
    return bad(r, IDL_ERR_CORRUPT, "%zu unexpected bytes after the trailer, from byte %zu",
               r->len - r->off, r->off);
  return IDL_ERR_OK;
}

/* Whether c's email and phone are what normalization would have stored. */
static int normalized(const struct idl_contact *c) {
  char email[IDL_EMAIL_MAX_BYTES + 1], phone[IDL_PHONE_MAX_BYTES + 1];
  return (!*c->email || (!idl_normalize_email(c->email, strlen(c->email), email) &&
                         strcmp(email, c->email) == 0)) &&
         (!*c->phone || (!idl_normalize_phone(c->phone, strlen(c->phone), phone) &&
                         strcmp(phone, c->phone) == 0));
}

/* Reads rows up to and including the trailer. */
static enum idl_err read_rows(struct reader *r, const struct idl_snapshot_header *h,
                              idl_contact_fn row_fn, void *arg) {
  uint64_t rows = 0, last_id = 0;
  for (;;) {
    size_t at = r->off;
    enum idl_err err = next_object(r, "row", rows + 1);
    if (err)
      return err;
    if (r->u.data.type == MSGPACK_OBJECT_MAP)
      return read_trailer(r, rows, at, h);
    struct idl_contact c;
    rows++;
    if (idl_codec_unpack_contact(&r->u.data, &c))
      return bad(r, IDL_ERR_CORRUPT, "row %llu at byte %zu: not a contact row (an array "
                 "of id, email, phone, linked_id, precedence, created_ms, updated_ms, "
                 "deleted_ms with valid types)", ULL(rows), at);
    if (!normalized(&c))
      return bad(r, IDL_ERR_CORRUPT, "row %llu at byte %zu: contact %llu holds an email or "
                 "phone that is not valid and normalized", ULL(rows), at, ULL(c.id));
    if (c.id <= last_id)
      return bad(r, IDL_ERR_CORRUPT, "row %llu at byte %zu: id %llu does not follow id "
                 "%llu (ids ascend, without repeats)", ULL(rows), at, ULL(c.id),
                 ULL(last_id));
    last_id = c.id;
    if ((err = note_link(r, &c, rows, at)))
      return err;
    if (row_fn && (err = row_fn(&c, arg)))
      return bad(r, err, "row %llu: %s", ULL(rows), idl_strerror(err));
  }
}

enum idl_err idl_snapshot_read(const void *buf, size_t len, idl_contact_fn row, void *arg,
                               struct idl_snapshot_header *header, char *why,
                               size_t why_len) {
  struct reader r = {.buf = buf, .len = len, .why = why, .why_len = why_len};
  msgpack_unpacked_init(&r.u);
  enum idl_err err = read_header(&r, header);
  if (!err)
    err = read_rows(&r, header, row, arg);
  if (!err)
    err = check_links(&r);
  msgpack_unpacked_destroy(&r.u);
  free(r.links);
  return err;
}

/* --------------------------------------------------------------- restore */

struct loader {
  struct idl_txn *txn;
  struct idl_bulk *bulk;
  const struct idl_snapshot_header *header; /* filled once the header is read */
  uint64_t rows, max_id;
  idl_progress_fn progress;
  void *arg;
};

static enum idl_err load_row(const struct idl_contact *c, void *arg) {
  struct loader *l = arg;
  enum idl_err err = idl_bulk_add(l->bulk, c);
  if (err)
    return err;
  l->max_id = c->id;
  if (++l->rows % PROGRESS_EVERY == 0 && l->progress)
    l->progress(l->rows, l->header->contacts, l->arg);
  return IDL_ERR_OK;
}

/* How many contacts and log entries the store in dir holds (0 when none). */
static enum idl_err held(const char *dir, uint64_t *contacts, uint64_t *last_seq) {
  struct idl_store_opts ro = {.read_only = 1};
  struct idl_store *s;
  struct idl_txn *txn = NULL;
  struct idl_store_info info = {0};
  enum idl_err err = idl_store_open(dir, &ro, &s);
  if (err == IDL_ERR_NOTFOUND) {
    *contacts = *last_seq = 0;
    return IDL_ERR_OK;
  }
  if (err)
    return err;
  err = idl_txn_begin_read(s, &txn);
  if (!err)
    err = idl_store_info(txn, &info);
  idl_txn_abort(txn);
  idl_store_close(s);
  *contacts = info.contacts;
  *last_seq = info.last_seq;
  return err;
}

struct first_violation {
  char line[256];
  uint64_t n;
};

static void keep_first(const char *line, void *arg) {
  struct first_violation *v = arg;
  if (v->n++ == 0)
    snprintf(v->line, sizeof(v->line), "%s", line);
}

/* Loads buf into a new store in folder tmp and verifies it. */
static enum idl_err build(const char *tmp, const void *buf, size_t len,
                          const struct idl_restore_opts *opts,
                          struct idl_snapshot_header *h, char *why, size_t why_len) {
  struct idl_store_opts so = {.sync_full = 0};
  struct idl_store *s;
  enum idl_err err = idl_store_open(tmp, &so, &s);
  if (err)
    return say(why, why_len, err, "cannot create the new store in %s: %s", tmp, idl_strerror(err));
  struct loader l = {.header = h, .progress = opts->progress, .arg = opts->arg};
  err = idl_txn_begin_write(s, NULL, &l.txn);
  if (!err)
    err = idl_bulk_begin(l.txn, &l.bulk);
  if (!err)
    err = idl_snapshot_read(buf, len, load_row, &l, h, why, why_len);
  if (!err) {
    err = idl_bulk_finish(l.bulk);
    l.bulk = NULL;
  }
  idl_bulk_abort(l.bulk);
  if (!err)
    err = idl_store_set_position(l.txn, l.max_id + 1, h->last_seq);
  if (!err) {
    err = idl_txn_commit(l.txn);
    l.txn = NULL;
  }
  idl_txn_abort(l.txn);
  struct first_violation v = {0};
  struct idl_check_report rep;
  struct idl_txn *txn = NULL;
  if (!err && !(err = idl_txn_begin_read(s, &txn)))
    err = idl_check_store(txn, keep_first, &v, &rep);
  idl_txn_abort(txn);
  if (!err && v.n)
    err = say(why, why_len, IDL_ERR_CORRUPT, "the snapshot breaks the store's invariants (%llu violations), first: %s",
              ULL(v.n), v.line);
  if (!err)
    err = idl_store_sync(s);
  if (!err && opts->progress)
    opts->progress(l.rows, h->contacts, opts->arg);
  idl_store_close(s);
  return err;
}

enum idl_err idl_snapshot_restore(const char *dir, const void *buf, size_t len,
                                  const struct idl_restore_opts *opts,
                                  struct idl_snapshot_header *header, char *why,
                                  size_t why_len) {
  struct idl_snapshot_header h;
  int lock = -1;
  enum idl_err err = idl_store_lock(dir, &lock);
  if (err == IDL_ERR_LOCKED)
    return say(why, why_len, err, "%s is in use by a running idlinkd (or another restore)", dir);
  if (err)
    return say(why, why_len, err, "cannot lock %s: %s", dir, idl_strerror(err));
  /* --force replaces even a store that cannot be read (a damaged one). */
  uint64_t contacts = 0, last_seq = 0;
  if ((err = held(dir, &contacts, &last_seq)) && opts->force)
    err = IDL_ERR_OK;
  else if (err)
    say(why, why_len, err, "cannot read the store in %s (%s); --force replaces it", dir,
        idl_strerror(err));
  if (!err && (contacts || last_seq) && !opts->force)
    err = say(why, why_len, IDL_ERR_INVAL, "%s holds a store with %llu contacts: restore refuses "
              "to replace it without --force", dir, ULL(contacts));
  char tmp[4096];
  snprintf(tmp, sizeof(tmp), "%s/restore.tmp", dir);
  /* The file is verified as it loads into a store of its own: a bad file
   * leaves only that store behind, which is removed. */
  if (!err) {
    idl_store_remove(tmp); /* what an interrupted restore left */
    err = build(tmp, buf, len, opts, &h, why, why_len);
  }
  if (!err && (err = idl_store_install(tmp, dir)))
    say(why, why_len, err, "cannot move the new store into %s: %s", dir, idl_strerror(err));
  idl_store_remove(tmp);
  idl_store_unlock(lock);
  if (!err)
    *header = h;
  return err;
}

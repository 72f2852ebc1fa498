/* The Redis side the mirror thread (mirror.c) and idlink-check's comparison
 * (mirror_check.c) share: Redis URLs, the connection, the pipeline, the
 * mirror's keys and the two reads of them, SCAN and the position. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "mirror_internal.h"

/* ------------------------------------------------------------------ URLs */

/* Parses a decimal in [min, max] from s[0..len); -1 when it is not one. */
static long parse_num(const char *s, size_t len, long min, long max) {
  long v = 0;
  if (len == 0 || len > 9)
    return -1;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v < min || v > max ? -1 : v;
}

static int copy_part(char *out, size_t cap, const char *s, size_t len) {
  if (len >= cap)
    return -1;
  memcpy(out, s, len);
  out[len] = '\0';
  return 0;
}

enum idl_err idl_redis_url_parse(const char *url, struct idl_redis_url *out, char *why,
                                 size_t why_len) {
  static const char scheme[] = "redis://";
  memset(out, 0, sizeof(*out));
  out->port = 6379;
  if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
    return idl_why(why, why_len, IDL_ERR_INVAL, "expected redis://[:password@]host[:port][/db], got '%s'",
                    url);
  const char *p = url + sizeof(scheme) - 1, *at = strrchr(p, '@');
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (!colon || copy_part(out->user, sizeof(out->user), p, (size_t)(colon - p)) ||
        copy_part(out->password, sizeof(out->password), colon + 1, (size_t)(at - colon - 1)))
      return idl_why(why, why_len, IDL_ERR_INVAL, "expected ':password@' before the host in '%s'", url);
    p = at + 1;
  }
  size_t host_len = strcspn(p, ":/");
  if (host_len == 0 || copy_part(out->host, sizeof(out->host), p, host_len))
    return idl_why(why, why_len, IDL_ERR_INVAL, "no host in '%s'", url);
  p += host_len;
  if (*p == ':') {
    size_t len = strcspn(p + 1, "/");
    long port = parse_num(p + 1, len, 1, 65535);
    if (port < 0)
      return idl_why(why, why_len, IDL_ERR_INVAL, "the port in '%s' is not a number from 1 to 65535", url);
    out->port = (int)port;
    p += 1 + len;
  }
  if (*p == '/' && p[1]) {
    long db = parse_num(p + 1, strlen(p + 1), 0, 100000);
    if (db < 0)
      return idl_why(why, why_len, IDL_ERR_INVAL, "the database in '%s' is not a number", url);
    out->db = (int)db;
  } else if (*p && strcmp(p, "/") != 0) {
    return idl_why(why, why_len, IDL_ERR_INVAL, "unexpected '%s' in '%s'", p, url);
  }
  return IDL_ERR_OK;
}

int idl_mirror_prefix_ok(const char *prefix) {
  size_t len = strlen(prefix);
  if (len == 0 || len > 48)
    return 0;
  for (const char *p = prefix; *p; p++)
    if ((unsigned char)*p <= ' ' || (unsigned char)*p == 0x7f || strchr("*?[]\\", *p))
      return 0;
  return 1;
}

/* ------------------------------------------------------------- connection */

redisContext *idl_redis_open(const struct idl_redis_url *u, char *why, size_t why_len) {
  struct timeval connect_tv = {1, 0}, io_tv = {5, 0};
  redisContext *c = redisConnectWithTimeout(u->host, u->port, connect_tv);
  if (!c) {
    snprintf(why, why_len, "out of memory");
    return NULL;
  }
  if (c->err) {
    snprintf(why, why_len, "%s", c->errstr);
    redisFree(c);
    return NULL;
  }
  redisSetTimeout(c, io_tv);
  redisEnableKeepAlive(c);
  redisReply *r = NULL;
  if (*u->password) {
    r = *u->user ? redisCommand(c, "AUTH %s %s", u->user, u->password)
                 : redisCommand(c, "AUTH %s", u->password);
    if (!r || r->type == REDIS_REPLY_ERROR)
      goto fail;
    freeReplyObject(r);
  }
  if (u->db) {
    r = redisCommand(c, "SELECT %d", u->db);
    if (!r || r->type == REDIS_REPLY_ERROR)
      goto fail;
    freeReplyObject(r);
  }
  return c;
fail:
  snprintf(why, why_len, "%s", r ? r->str : c->errstr);
  freeReplyObject(r);
  redisFree(c);
  return NULL;
}

int idl_pipe_flush(struct idl_pipe *p) {
  while (p->pending) {
    void *reply = NULL;
    if (redisGetReply(p->c, &reply) != REDIS_OK) {
      p->failed = 1;
      return -1;
    }
    p->pending--;
    if (p->on_reply && p->on_reply(p, reply))
      p->failed = 1;
    freeReplyObject(reply);
  }
  return p->failed ? -1 : 0;
}

int idl_pipe_cmd(struct idl_pipe *p, int argc, const char **argv) {
  size_t lens[16];
  for (int i = 0; i < argc; i++)
    lens[i] = strlen(argv[i]);
  if (p->failed || redisAppendCommandArgv(p->c, argc, argv, lens) != REDIS_OK) {
    p->failed = 1;
    return -1;
  }
  if (++p->pending >= PIPELINE_DEPTH)
    return idl_pipe_flush(p);
  return 0;
}

/* ------------------------------------------------------------------- keys */

const char *const idl_mirror_key_names[KEY_KINDS] = {
    [KEY_FOREIGN] = NULL,         [KEY_EMAIL] = "email",   [KEY_PHONE] = "phone",
    [KEY_IDENTITY] = "identity", [KEY_EVENTS] = "events", [KEY_SEQ] = "mirror:seq",
};

void idl_mirror_make_key(const char *prefix, char *buf, enum key_kind kind, const char *value) {
  snprintf(buf, KEY_MAX, "%s%s%s%s", prefix, idl_mirror_key_names[kind], *value ? ":" : "",
           value);
}

/* SCAN MATCH prefix* also finds the keys of a mirror whose prefix extends
 * ours ("idlink:n:email:x" under "idlink:"), so a key is ours only when one
 * of our names comes right after the prefix: email:VALUE, phone:VALUE,
 * identity:ID, events or mirror:seq, the last two exactly. An ID is digits
 * alone, so that the keys of a mirror prefixed "idlink:identity:" are not
 * ours either. Values may hold ':' and are not checked further; a prefix
 * that extends another by "email:" or "phone:" therefore remains
 * indistinguishable from that other mirror's keys. */
enum key_kind idl_mirror_key_kind(const char *prefix, const char *key, const char **value) {
  size_t len = strlen(prefix);
  if (strncmp(key, prefix, len) != 0)
    return KEY_FOREIGN;
  const char *rest = key + len;
  for (int k = KEY_FOREIGN + 1; k < KEY_KINDS; k++) {
    size_t n = strlen(idl_mirror_key_names[k]);
    if (strncmp(rest, idl_mirror_key_names[k], n) != 0)
      continue;
    const char *v = rest + n;
    if (k == KEY_EVENTS || k == KEY_SEQ) {
      if (*v)
        continue; /* these two exactly */
    } else if (*v++ != ':' || !*v || (k == KEY_IDENTITY && v[strspn(v, "0123456789")])) {
      continue; /* NAME:VALUE, an identity's VALUE its digits */
    }
    if (value)
      *value = v;
    return (enum key_kind)k;
  }
  return KEY_FOREIGN;
}

int idl_mirror_key_ours(const char *prefix, const char *key) {
  return idl_mirror_key_kind(prefix, key, NULL) != KEY_FOREIGN;
}

int idl_mirror_value_keyed(const struct idl_store *s, enum key_kind kind, const char *value) {
  return *value && !idl_store_blocked(s, kind == KEY_EMAIL ? IDL_INDEX_EMAIL : IDL_INDEX_PHONE,
                                      value);
}

void idl_mirror_id_str(uint64_t id, char *buf) { snprintf(buf, 24, "%" PRIu64, id); }

char *idl_mirror_identity_json(const struct idl_identity *ident) {
  char *text = NULL;
  size_t len;
  return idl_json_identity_text(ident, IDL_FRAME_BARE, &text, &len) ? NULL : text;
}

/* ---------------------------------------------------------------- reading */

/* SCAN's answer: a cursor and an array of key strings. */
static int scan_reply_ok(const redisReply *r) {
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
      r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY)
    return 0;
  for (size_t i = 0; i < r->element[1]->elements; i++)
    if (r->element[1]->element[i]->type != REDIS_REPLY_STRING)
      return 0;
  return 1;
}

enum idl_err idl_mirror_scan_keys(redisContext *c, const char *prefix, struct idl_pipe *p,
                                  idl_mirror_key_fn fn, void *arg) {
  char pattern[KEY_MAX], cursor[32] = "0";
  snprintf(pattern, sizeof(pattern), "%s*", prefix);
  do {
    redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
    if (!scan_reply_ok(r)) {
      freeReplyObject(r);
      return IDL_ERR_IO;
    }
    snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
    enum idl_err err = IDL_ERR_OK;
    for (size_t i = 0; i < r->element[1]->elements && !err; i++) {
      const char *key = r->element[1]->element[i]->str, *value;
      enum key_kind kind = idl_mirror_key_kind(prefix, key, &value);
      if (kind != KEY_FOREIGN) /* else another mirror's, under a longer prefix */
        err = fn(key, kind, value, arg);
    }
    freeReplyObject(r);
    if (!err && p && idl_pipe_flush(p))
      err = IDL_ERR_IO;
    if (err)
      return err;
  } while (strcmp(cursor, "0") != 0);
  return IDL_ERR_OK;
}

enum idl_got idl_redis_got(const redisReply *r) {
  return r->type == REDIS_REPLY_STRING ? IDL_GOT_STRING
         : r->type == REDIS_REPLY_NIL  ? IDL_GOT_NONE
                                       : IDL_GOT_OTHER;
}

void idl_mirror_seq_of(const redisReply *r, struct idl_mirror_seq *out) {
  out->got = idl_redis_got(r);
  out->seq = out->got == IDL_GOT_STRING ? strtoull(r->str, NULL, 10) : 0;
  snprintf(out->text, sizeof(out->text), "%s", out->got == IDL_GOT_STRING ? r->str : "");
}

enum idl_err idl_mirror_read_seq(redisContext *c, const char *prefix, struct idl_mirror_seq *out) {
  char key[KEY_MAX];
  idl_mirror_make_key(prefix, key, KEY_SEQ, "");
  redisReply *r = redisCommand(c, "GET %s", key);
  if (!r)
    return IDL_ERR_IO;
  idl_mirror_seq_of(r, out);
  freeReplyObject(r);
  return IDL_ERR_OK;
}

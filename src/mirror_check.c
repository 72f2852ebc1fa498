/* idlink-check --redis: compares every key the store implies with Redis,
 * and every key of the mirror's in Redis with the store. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idlink/check.h"
#include "mirror_internal.h"

/* One expected key of a pipelined comparison. */
struct expect {
  char key[KEY_MAX];
  char *want; /* owned */
  enum key_kind kind;
  uint64_t contact;
};

struct compare {
  struct idl_txn *txn;
  const char *prefix;
  int show_values;
  idl_mirror_diff_fn fn;
  void *arg;
  uint64_t *differences;
  struct expect *pending; /* PIPELINE_DEPTH of them */
  size_t n, next;
};

#define DIFFER(c, ...) idl_report_finding((c)->fn, (c)->arg, (c)->differences, __VA_ARGS__)

/* Whether keys of this kind hold a customer's email or phone in their name,
 * shown only with show_values. */
static int personal(enum key_kind kind) { return kind == KEY_EMAIL || kind == KEY_PHONE; }

/* A key as shown: in full with show_values, else with the value hidden. */
static void shown_key(const struct compare *c, const struct expect *e, char *out) {
  const char *name = idl_mirror_key_names[e->kind];
  if (c->show_values || !personal(e->kind))
    snprintf(out, KEY_MAX, "%s", e->key);
  else
    snprintf(out, KEY_MAX, "%s%s:<%s of contact %" PRIu64 ">", c->prefix, name, name,
             e->contact);
}

/* Says how what a GET of key found (got, and value when a string) differs
 * from want, if it does. */
static void judge(struct compare *c, const char *key, enum key_kind kind, enum idl_got got,
                  const char *value, const char *want) {
  if (got == IDL_GOT_NONE)
    DIFFER(c, "missing: %s", key);
  else if (got != IDL_GOT_STRING)
    DIFFER(c, "stale: %s is not a string", key);
  else if (strcmp(value, want) != 0 && kind == KEY_IDENTITY)
    DIFFER(c, "stale: %s differs from the store's identity", key);
  else if (strcmp(value, want) != 0)
    DIFFER(c, "stale: %s is %s, the store says %s", key, value, want);
}

static int on_compare_reply(struct idl_pipe *p, redisReply *r) {
  struct compare *c = p->arg;
  struct expect *e = &c->pending[c->next++];
  char key[KEY_MAX];
  shown_key(c, e, key);
  enum idl_got got = idl_redis_got(r);
  judge(c, key, e->kind, got, got == IDL_GOT_STRING ? r->str : NULL, e->want);
  free(e->want);
  e->want = NULL;
  return 0;
}

static enum idl_err expect_key(struct compare *c, struct idl_pipe *p, enum key_kind kind,
                               const char *value, uint64_t contact, char *want) {
  if (!want)
    return IDL_ERR_NOMEM;
  if (c->n == PIPELINE_DEPTH - 1) {
    c->next = 0;
    int failed = idl_pipe_flush(p);
    for (size_t i = 0; i < c->n; i++)
      free(c->pending[i].want);
    c->n = 0;
    if (failed) {
      free(want);
      return IDL_ERR_IO;
    }
  }
  struct expect *e = &c->pending[c->n++];
  idl_mirror_make_key(c->prefix, e->key, kind, value);
  e->want = want;
  e->kind = kind;
  e->contact = contact;
  const char *argv[] = {"GET", e->key};
  return idl_pipe_cmd(p, 2, argv) ? IDL_ERR_IO : IDL_ERR_OK;
}

static char *id_dup(uint64_t id) {
  char buf[24];
  idl_mirror_id_str(id, buf);
  return strdup(buf);
}

static enum idl_err compare_contact(const struct idl_contact *ct, void *arg) {
  struct idl_pipe *p = arg;
  struct compare *c = p->arg;
  if (ct->deleted_ms != IDL_TIME_NULL)
    return IDL_ERR_OK;
  uint64_t primary = idl_contact_primary(ct);
  enum idl_err err = IDL_ERR_OK;
  const struct idl_store *s = idl_txn_store(c->txn);
  if (idl_mirror_value_keyed(s, KEY_EMAIL, ct->email))
    err = expect_key(c, p, KEY_EMAIL, ct->email, ct->id, id_dup(primary));
  if (!err && idl_mirror_value_keyed(s, KEY_PHONE, ct->phone))
    err = expect_key(c, p, KEY_PHONE, ct->phone, ct->id, id_dup(primary));
  if (!err && ct->precedence == IDL_PRIMARY) {
    struct idl_identity ident = {0};
    char id[24];
    idl_mirror_id_str(ct->id, id);
    if (!(err = idl_identity_of_contact(c->txn, ct->id, &ident)))
      err = expect_key(c, p, KEY_IDENTITY, id, ct->id, idl_mirror_identity_json(&ident));
    idl_identity_fini(&ident);
  }
  return err;
}

/* Whether Redis holds the position the store has reached. */
static enum idl_err compare_seq(struct compare *c, redisContext *rc, uint64_t last_seq) {
  struct idl_mirror_seq held;
  char key[KEY_MAX], want[24];
  enum idl_err err = idl_mirror_read_seq(rc, c->prefix, &held);
  if (err)
    return err;
  idl_mirror_make_key(c->prefix, key, KEY_SEQ, "");
  idl_mirror_id_str(last_seq, want);
  judge(c, key, KEY_SEQ, held.got, held.text, want);
  return IDL_ERR_OK;
}

/* Whether a key of the mirror's, of the given kind and value, is one the
 * store implies. */
static enum idl_err key_known(struct compare *c, enum key_kind kind, const char *value,
                              int *known) {
  *known = kind == KEY_SEQ || kind == KEY_EVENTS;
  if (personal(kind)) {
    uint64_t id;
    enum idl_err err = strlen(value) > IDL_EMAIL_MAX_BYTES ? IDL_ERR_NOTFOUND
        : idl_store_find_first(c->txn, kind == KEY_EMAIL ? IDL_INDEX_EMAIL : IDL_INDEX_PHONE,
                               value, &id);
    *known = err == IDL_ERR_OK;
    return err == IDL_ERR_NOTFOUND ? IDL_ERR_OK : err;
  }
  if (kind == KEY_IDENTITY) {
    char *end;
    uint64_t id = strtoull(value, &end, 10);
    struct idl_contact ct;
    enum idl_err err = *end || !id ? IDL_ERR_NOTFOUND : idl_store_get(c->txn, id, &ct);
    *known = !err && ct.precedence == IDL_PRIMARY && ct.deleted_ms == IDL_TIME_NULL;
    return err == IDL_ERR_NOTFOUND ? IDL_ERR_OK : err;
  }
  return IDL_ERR_OK;
}

/* A key of the mirror's that SCAN found: extra unless the store implies it. */
static enum idl_err extra_key(const char *key, enum key_kind kind, const char *value,
                              void *arg) {
  struct compare *c = arg;
  int known;
  enum idl_err err = key_known(c, kind, value, &known);
  if (!err && !known && (c->show_values || !personal(kind)))
    DIFFER(c, "extra: %s", key);
  else if (!err && !known)
    DIFFER(c, "extra: %s%s:<%zu bytes hidden>", c->prefix, idl_mirror_key_names[kind],
           strlen(value));
  return err;
}

enum idl_err idl_mirror_compare(struct idl_txn *txn, const struct idl_redis_url *url,
                                const char *prefix, int show_values, idl_mirror_diff_fn fn,
                                void *arg, uint64_t *differences, char *why,
                                size_t why_len) {
  redisContext *rc = idl_redis_open(url, why, why_len);
  if (!rc)
    return IDL_ERR_IO;
  *differences = 0;
  struct compare c = {.txn = txn, .prefix = prefix, .show_values = show_values, .fn = fn,
                      .arg = arg, .differences = differences};
  c.pending = calloc(PIPELINE_DEPTH, sizeof(*c.pending));
  struct idl_pipe p = {.c = rc, .on_reply = on_compare_reply, .arg = &c};
  struct idl_store_info info;
  enum idl_err err = c.pending ? idl_store_info(txn, &info) : IDL_ERR_NOMEM;
  if (!err)
    err = idl_store_scan_contacts(txn, compare_contact, &p);
  if (!err) {
    c.next = 0;
    if (idl_pipe_flush(&p))
      err = IDL_ERR_IO;
  }
  for (size_t i = 0; i < c.n; i++)
    free(c.pending[i].want); /* what a failure left unread (NULL once read) */
  if (!err)
    err = compare_seq(&c, rc, info.last_seq);
  if (!err)
    err = idl_mirror_scan_keys(rc, prefix, NULL, extra_key, &c);
  if (err == IDL_ERR_IO)
    snprintf(why, why_len, "%s", rc->err ? rc->errstr : "unexpected reply from Redis");
  else if (err)
    snprintf(why, why_len, "%s", idl_strerror(err));
  free(c.pending);
  redisFree(rc);
  return err;
}

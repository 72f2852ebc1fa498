/* The Redis mirror's thread (the Redis side it shares with idlink-check's
 * comparison is mirror_redis.c's).
 *
 * One thread owns the connection. It reads the change log after the position
 * Redis holds (PREFIX mirror:seq) and applies each batch of entries in one
 * MULTI/EXEC, pipelined, that also sets mirror:seq. An entry is applied from
 * the store's current state (the identity its contacts belong to now), so
 * applying it twice, or late, leaves the same keys. When Redis has no
 * position, one from another store, or one below the oldest retained entry,
 * a full sync rebuilds every key from one read transaction first, and then
 * refills the events stream from the log where it stops, so that a reader of
 * the stream never meets a gap the log could have filled. */
#include "idlink/mirror.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idlink/log.h"
#include "mirror_internal.h"

#define BATCH_ENTRIES 512    /* log entries per MULTI/EXEC */
#define FILL_ENTRIES 4096    /* log entries read at a time to refill the events stream */
#define IDLE_CHECK_MS 1000   /* how often an idle mirror checks Redis still has its keys */
#define COALESCE_US 5000     /* after a wake-up, let a few commits gather */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct idl_mirror {
  struct idl_store *store;
  struct idl_mirror_opts opts;
  char prefix[64];
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int notified;          /* guarded by lock */
  int stopping;          /* guarded by lock */
  int64_t deadline_us;   /* guarded by lock: when stopping, give up after this */
  _Atomic uint64_t applied;
  _Atomic int state;
  _Atomic uint64_t full_syncs;
  _Atomic int resync; /* the next connect rebuilds Redis whatever its position */
  redisContext *rc;      /* the mirror thread's */
  int outage_logged;     /* the mirror thread's */
  pthread_mutex_t lag_lock;
  float lags[IDL_MIRROR_LAG_WINDOW]; /* guarded by lag_lock: ms, a ring */
  size_t lags_seen;                  /* guarded by lag_lock */
};

/* Notes how long each applied entry waited between its commit and Redis. */
static void record_lags(struct idl_mirror *m, const struct idl_change *e, size_t n) {
  int64_t now = idl_now_ms();
  pthread_mutex_lock(&m->lag_lock);
  for (size_t i = 0; i < n; i++)
    m->lags[m->lags_seen++ % IDL_MIRROR_LAG_WINDOW] = (float)(now - e[i].at_ms);
  pthread_mutex_unlock(&m->lag_lock);
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

static double lag_p99(struct idl_mirror *m) {
  float *copy = malloc(sizeof(m->lags));
  if (!copy)
    return -1;
  pthread_mutex_lock(&m->lag_lock);
  size_t n = m->lags_seen < IDL_MIRROR_LAG_WINDOW ? m->lags_seen : IDL_MIRROR_LAG_WINDOW;
  memcpy(copy, m->lags, n * sizeof(*copy));
  pthread_mutex_unlock(&m->lag_lock);
  qsort(copy, n, sizeof(*copy), cmp_float);
  double p99 = n ? copy[(n * 99) / 100] : -1;
  free(copy);
  return p99;
}

/* ------------------------------------------------------------------- keys */

/* SET prefix kind:value -> value_of. */
static int set_key(struct idl_pipe *p, const char *prefix, enum key_kind kind,
                   const char *value, const char *to) {
  char key[KEY_MAX];
  idl_mirror_make_key(prefix, key, kind, value);
  const char *argv[] = {"SET", key, to};
  return idl_pipe_cmd(p, 3, argv);
}

/* The keys of an identity: the values of its contacts (all of them when
 * only is NULL, else only) pointing at its primary, and its JSON. */
static enum idl_err put_identity(struct idl_pipe *p, const struct idl_store *s,
                                 const char *prefix, const struct idl_identity *ident,
                                 const struct idl_contact *only) {
  char primary[24];
  idl_mirror_id_str(ident->c[0].id, primary);
  for (size_t i = 0; i < ident->n; i++) {
    const struct idl_contact *c = &ident->c[i];
    if (c->deleted_ms != IDL_TIME_NULL || (only && c->id != only->id))
      continue;
    if ((idl_mirror_value_keyed(s, KEY_EMAIL, c->email) &&
         set_key(p, prefix, KEY_EMAIL, c->email, primary)) ||
        (idl_mirror_value_keyed(s, KEY_PHONE, c->phone) &&
         set_key(p, prefix, KEY_PHONE, c->phone, primary)))
      return IDL_ERR_IO;
  }
  char *json = idl_mirror_identity_json(ident);
  if (!json)
    return IDL_ERR_NOMEM;
  int rc = set_key(p, prefix, KEY_IDENTITY, primary, json);
  free(json);
  return rc ? IDL_ERR_IO : IDL_ERR_OK;
}

/* ------------------------------------------------------------- applying */

static void set_state(struct idl_mirror *m, enum idl_mirror_state s) {
  atomic_store(&m->state, (int)s);
}

/* XADD of the event of log entry e, at id 0-seq: the same fields whether the
 * entry is applied live or refilled after a full sync. */
static enum idl_err add_event(struct idl_mirror *m, struct idl_pipe *p,
                              const struct idl_change *e) {
  char stream[KEY_MAX], maxlen[24], xid[48], seq[24], prim[24];
  idl_mirror_make_key(m->prefix, stream, KEY_EVENTS, "");
  idl_mirror_id_str(m->opts.stream_maxlen, maxlen);
  snprintf(xid, sizeof(xid), "0-%" PRIu64, e->seq);
  idl_mirror_id_str(e->seq, seq);
  if (e->kind == IDL_CHANGE_RECORD) { /* a collection's record: its kind and pk */
    idl_mirror_id_str(e->pk, prim);
    const char *argv[] = {"XADD", stream, "MAXLEN", "~", maxlen, xid,
                          "seq", seq, "kind", idl_change_name(e), "pk", prim};
    return idl_pipe_cmd(p, 12, argv) ? IDL_ERR_IO : IDL_ERR_OK;
  }
  idl_mirror_id_str(e->primary, prim);
  char *absorbed = malloc(e->absorbed.n * 21 + 1);
  if (!absorbed)
    return IDL_ERR_NOMEM;
  absorbed[0] = '\0';
  for (size_t i = 0, used = 0; i < e->absorbed.n; i++)
    used += (size_t)sprintf(absorbed + used, "%s%" PRIu64, i ? "," : "", e->absorbed.v[i]);
  /* A split's list is its parts; a deletion names its contact. */
  const char *list = idl_change_list_key(e);
  char contact[24];
  idl_mirror_id_str(e->contact, contact);
  const char *argv[] = {"XADD", stream, "MAXLEN", "~", maxlen, xid,
                        "seq", seq, "kind", idl_change_name(e),
                        "primary", prim, list ? list : "absorbed", absorbed,
                        "contact", contact};
  int rc = idl_pipe_cmd(p, e->kind == IDL_CHANGE_CONTACT_DELETED ? 16 : 14, argv);
  free(absorbed);
  return rc ? IDL_ERR_IO : IDL_ERR_OK;
}

/* DEL prefix kind:value. */
static int del_key(struct idl_pipe *p, const char *prefix, enum key_kind kind,
                   const char *value) {
  char key[KEY_MAX];
  idl_mirror_make_key(prefix, key, kind, value);
  const char *argv[] = {"DEL", key};
  return idl_pipe_cmd(p, 2, argv);
}

/* The key of one value of a contact that left the indexes: pointing at the
 * primary of whoever holds the value now, or gone when nobody does. */
static enum idl_err put_value(struct idl_pipe *p, struct idl_txn *txn, const char *prefix,
                              enum idl_index which, const char *value) {
  enum key_kind kind = which == IDL_INDEX_EMAIL ? KEY_EMAIL : KEY_PHONE;
  uint64_t holder = 0;
  struct idl_contact c;
  enum idl_err err = idl_store_find_first(txn, which, value, &holder);
  if (err == IDL_ERR_NOTFOUND)
    return del_key(p, prefix, kind, value) ? IDL_ERR_IO : IDL_ERR_OK;
  if (!err)
    err = idl_store_get(txn, holder, &c);
  if (err)
    return err;
  char primary[24];
  idl_mirror_id_str(idl_contact_primary(&c), primary);
  return set_key(p, prefix, kind, value, primary) ? IDL_ERR_IO : IDL_ERR_OK;
}

/* The keys of the identity contact id belongs to now, all of them; none
 * when it belongs to none (deleted since). */
static enum idl_err put_identity_of(struct idl_pipe *p, struct idl_txn *txn, const char *prefix,
                                    uint64_t id) {
  struct idl_identity ident = {0};
  enum idl_err err = idl_identity_of_contact(txn, id, &ident);
  if (err == IDL_ERR_NOTFOUND)
    return IDL_ERR_OK;
  if (!err)
    err = put_identity(p, idl_txn_store(txn), prefix, &ident, NULL);
  idl_identity_fini(&ident);
  return err;
}

/* The identity key of a former primary goes unless it still leads one. */
static enum idl_err drop_identity(struct idl_pipe *p, struct idl_txn *txn, const char *prefix,
                                  uint64_t id) {
  struct idl_contact c;
  enum idl_err err = idl_store_get(txn, id, &c);
  if (err && err != IDL_ERR_NOTFOUND)
    return err;
  if (!err && c.precedence == IDL_PRIMARY && c.deleted_ms == IDL_TIME_NULL)
    return IDL_ERR_OK;
  char key[24];
  idl_mirror_id_str(id, key);
  return del_key(p, prefix, KEY_IDENTITY, key) ? IDL_ERR_IO : IDL_ERR_OK;
}

/* A deleted contact's values, and the identities a split left. */
static enum idl_err deletion_commands(struct idl_pipe *p, struct idl_txn *txn, const char *prefix,
                                      const struct idl_change *e) {
  enum idl_err err = IDL_ERR_OK;
  if (e->kind == IDL_CHANGE_CONTACT_DELETED) {
    struct idl_contact c;
    err = idl_store_get(txn, e->contact, &c);
    if (!err && *c.email)
      err = put_value(p, txn, prefix, IDL_INDEX_EMAIL, c.email);
    if (!err && *c.phone)
      err = put_value(p, txn, prefix, IDL_INDEX_PHONE, c.phone);
    if (err == IDL_ERR_NOTFOUND)
      err = IDL_ERR_OK;
    /* The identity it left, which a split entry follows only when it came
     * apart or changed its primary. */
    return err ? err : put_identity_of(p, txn, prefix, e->primary);
  }
  for (size_t i = 0; i < e->absorbed.n && !err; i++)
    err = put_identity_of(p, txn, prefix, e->absorbed.v[i]);
  return err ? err : drop_identity(p, txn, prefix, e->primary);
}

/* The keys of one log entry, from the store's current state, and its event. */
static enum idl_err entry_commands(struct idl_mirror *m, struct idl_pipe *p, struct idl_txn *txn,
                                   const struct idl_change *e) {
  if (e->kind == IDL_CHANGE_RECORD) /* no key of the mirror holds records */
    return add_event(m, p, e);
  if (e->kind == IDL_CHANGE_CONTACT_DELETED || e->kind == IDL_CHANGE_IDENTITY_SPLIT) {
    enum idl_err err = deletion_commands(p, txn, m->prefix, e);
    return err ? err : add_event(m, p, e);
  }
  /* The primaries a merge absorbed lose their keys unless they lead an
   * identity again (split off since). */
  enum idl_err err = IDL_ERR_OK;
  for (size_t i = 0; i < e->absorbed.n && !err; i++)
    err = drop_identity(p, txn, m->prefix, e->absorbed.v[i]);
  struct idl_identity ident = {0};
  uint64_t anchor = e->kind == IDL_CHANGE_CONTACT_CREATED ? e->contact : e->primary;
  if (!err)
    err = idl_identity_of_contact(txn, anchor, &ident);
  if (err == IDL_ERR_NOTFOUND) /* deleted since: a later entry says where it went */
    return add_event(m, p, e);
  if (err)
    return err;
  /* A new contact moves no other value; a merge moves all of them. */
  const struct idl_contact *only = NULL;
  for (size_t i = 0; e->kind == IDL_CHANGE_CONTACT_CREATED && i < ident.n; i++)
    if (ident.c[i].id == e->contact)
      only = &ident.c[i];
  if (!err)
    err = put_identity(p, m->store, m->prefix, &ident, only);
  idl_identity_fini(&ident);
  return err ? err : add_event(m, p, e);
}

/* What a batch's replies say: the position Redis had when EXEC ran. */
struct batch_replies {
  int seq_matches; /* mirror:seq was the position the batch started from */
  uint64_t expected;
};

static int on_batch_reply(struct idl_pipe *p, redisReply *r) {
  struct batch_replies *b = p->arg;
  if (r->type != REDIS_REPLY_ARRAY) /* MULTI's +OK and the +QUEUED replies */
    return r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_NIL;
  if (r->elements < 1)
    return 1;
  /* Errors of single commands (an XADD whose id the stream already passed)
   * do not stop the others: keys are idempotent, events are kept once. */
  struct idl_mirror_seq was;
  idl_mirror_seq_of(r->element[0], &was);
  b->seq_matches = was.got == IDL_GOT_STRING && was.seq == b->expected;
  for (size_t i = 1; i < r->elements; i++) {
    redisReply *e = r->element[i];
    if (e->type == REDIS_REPLY_ERROR && !strstr(e->str, "XADD")) {
      idl_log_warn("mirror: Redis refused a command of a batch: %s", e->str);
      b->seq_matches = 0; /* something may be missing: rebuild */
    }
  }
  return 0;
}

/* Applies the next batch of log entries. Sets *more when entries remain,
 * *resync when Redis turned out not to hold the position it should. */
static enum idl_err apply_batch(struct idl_mirror *m, int *more, int *resync) {
  uint64_t from = atomic_load(&m->applied);
  struct idl_txn *txn;
  struct idl_change *entries = NULL;
  size_t n = 0;
  enum idl_err err = idl_txn_begin_read(m->store, &txn);
  if (err)
    return err;
  err = idl_store_changes(txn, from, BATCH_ENTRIES, &entries, &n);
  *more = n == BATCH_ENTRIES;
  int erased = 0; /* an erasure: the keys of values no store row holds now */
  for (size_t i = 0; i < n; i++)
    erased |= entries[i].kind == IDL_CHANGE_IDENTITY_ERASED;
  if (!err && n && (entries[0].seq != from + 1 || erased)) {
    /* The log no longer holds what Redis lacks (trimmed meanwhile), or an
     * erasure took the values whose keys must go: rebuild from the store. */
    *resync = 1;
    for (size_t i = 0; i < n; i++)
      idl_change_fini(&entries[i]);
    free(entries);
    idl_txn_abort(txn);
    return IDL_ERR_OK;
  }
  struct batch_replies b = {.expected = from};
  struct idl_pipe p = {.c = m->rc, .on_reply = on_batch_reply, .arg = &b};
  char seqkey[KEY_MAX], last[24];
  idl_mirror_make_key(m->prefix, seqkey, KEY_SEQ, "");
  if (!err && n) {
    const char *multi[] = {"MULTI"}, *get[] = {"GET", seqkey}, *exec[] = {"EXEC"};
    idl_pipe_cmd(&p, 1, multi);
    idl_pipe_cmd(&p, 2, get);
    for (size_t i = 0; i < n && !err; i++)
      err = entry_commands(m, &p, txn, &entries[i]);
    idl_mirror_id_str(entries[n - 1].seq, last);
    const char *set[] = {"SET", seqkey, last};
    idl_pipe_cmd(&p, 3, set);
    idl_pipe_cmd(&p, 1, exec);
    if (!err && idl_pipe_flush(&p))
      err = IDL_ERR_IO;
  }
  idl_txn_abort(txn);
  if (!err && n) {
    if (!b.seq_matches) {
      *resync = 1; /* flushed or changed under us: rebuild everything */
    } else {
      atomic_store(&m->applied, entries[n - 1].seq);
      record_lags(m, entries, n);
    }
  }
  for (size_t i = 0; i < n; i++)
    idl_change_fini(&entries[i]);
  free(entries);
  return err;
}

/* --------------------------------------------------------------- full sync */

static int on_any_reply(struct idl_pipe *p, redisReply *r) {
  (void)p;
  return r->type == REDIS_REPLY_ERROR;
}

/* A key SCAN found in clear_keys: UNLINKed unless it is the events stream. */
static enum idl_err unlink_key(const char *key, enum key_kind kind, const char *value,
                               void *arg) {
  (void)value;
  const char *argv[] = {"UNLINK", key};
  if (kind != KEY_EVENTS)
    idl_pipe_cmd(arg, 2, argv);
  return IDL_ERR_OK;
}

/* Removes every key of the mirror's but the events stream, which readers
 * keep their place in (refill_events completes it). Other keys under the
 * prefix belong to another mirror (idl_mirror_key_kind) and stay. */
static enum idl_err clear_keys(struct idl_mirror *m) {
  struct idl_pipe p = {.c = m->rc, .on_reply = on_any_reply};
  return idl_mirror_scan_keys(m->rc, m->prefix, &p, unlink_key, &p);
}

struct sync_scan {
  struct idl_pipe *p;
  struct idl_txn *txn;
  const char *prefix;
  struct idl_mirror *m;
};

static int past_deadline(struct idl_mirror *m);

static enum idl_err sync_contact(const struct idl_contact *c, void *arg) {
  struct sync_scan *s = arg;
  if (past_deadline(s->m))
    return IDL_ERR_SHUTDOWN;
  if (c->precedence != IDL_PRIMARY || c->deleted_ms != IDL_TIME_NULL)
    return IDL_ERR_OK;
  struct idl_identity ident = {0};
  enum idl_err err = idl_identity_of_contact(s->txn, c->id, &ident);
  if (!err)
    err = put_identity(s->p, s->m->store, s->prefix, &ident, NULL);
  idl_identity_fini(&ident);
  return err;
}

/* The value of field name in r, a RESP2 array of field and value pairs (as
 * XINFO answers); NULL when it has none or not as a string. */
static const char *reply_field(const redisReply *r, const char *name) {
  for (size_t i = 0; i + 1 < r->elements; i += 2)
    if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, name) == 0)
      return r->element[i + 1]->type == REDIS_REPLY_STRING ? r->element[i + 1]->str : NULL;
  return NULL;
}

/* Sets *seq from a stream id of the form the mirror writes, 0-seq. */
static int parse_event_id(const char *id, uint64_t *seq) {
  char *end;
  if (strncmp(id, "0-", 2) != 0 || id[2] < '0' || id[2] > '9')
    return -1;
  *seq = strtoull(id + 2, &end, 10);
  return *end ? -1 : 0;
}

/* Where the events stream ends, as the seq of its last id, in *top (0 when
 * there is no stream). The last id Redis generated, not the last entry: XADD
 * takes only ids above it, even once the entries are gone. A stream that
 * ends past last_seq, the newest entry of this store's log, or at an id of
 * another form, holds another history (another store, or this one before a
 * restore): no entry of this log could follow it in order, so it is removed
 * and refilled from the log. */
static enum idl_err events_top(struct idl_mirror *m, uint64_t last_seq, uint64_t *top) {
  char stream[KEY_MAX];
  idl_mirror_make_key(m->prefix, stream, KEY_EVENTS, "");
  redisReply *r = redisCommand(m->rc, "XINFO STREAM %s", stream);
  if (!r)
    return IDL_ERR_IO;
  const char *last = r->type == REDIS_REPLY_ARRAY ? reply_field(r, "last-generated-id") : NULL;
  int absent = r->type == REDIS_REPLY_ERROR && strstr(r->str, "no such key");
  int ours = last && parse_event_id(last, top) == 0 && *top <= last_seq;
  int foreign = !ours && (last || (r->type == REDIS_REPLY_ERROR &&
                                   strncmp(r->str, "WRONGTYPE", 9) == 0));
  if (!ours && !absent && !foreign) /* say, an ACL without XINFO: retried later */
    idl_log_warn("mirror: XINFO STREAM %s: %s", stream,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
  freeReplyObject(r);
  if (ours)
    return IDL_ERR_OK;
  *top = 0;
  if (absent)
    return IDL_ERR_OK;
  if (!foreign)
    return IDL_ERR_IO;
  idl_log_warn("mirror: %s does not follow this store's change log; replacing it", stream);
  r = redisCommand(m->rc, "UNLINK %s", stream);
  enum idl_err err = r && r->type == REDIS_REPLY_INTEGER ? IDL_ERR_OK : IDL_ERR_IO;
  freeReplyObject(r);
  return err;
}

/* Adds to the events stream, in seq order and pipelined, the entries of the
 * log in txn (whose newest is last_seq) after where the stream ends, up to
 * upto: those the log still holds, and only the newest stream_maxlen of them,
 * as the cap would trim older ones at once. The keys need not be current for
 * this: an event says what the entry says, not what the store holds now. */
static enum idl_err refill_events(struct idl_mirror *m, struct idl_txn *txn, uint64_t last_seq,
                                  uint64_t upto) {
  uint64_t after = 0, cap = m->opts.stream_maxlen;
  enum idl_err err = events_top(m, last_seq, &after);
  if (upto > cap && upto - cap > after)
    after = upto - cap;
  struct idl_pipe p = {.c = m->rc, .on_reply = on_any_reply};
  for (size_t n = FILL_ENTRIES; !err && after < upto && n == FILL_ENTRIES;) {
    struct idl_change *e = NULL;
    n = 0;
    err = idl_store_changes(txn, after, FILL_ENTRIES, &e, &n);
    for (size_t i = 0; i < n; i++) {
      if (!err && e[i].seq <= upto)
        err = add_event(m, &p, &e[i]);
      after = e[i].seq;
      idl_change_fini(&e[i]);
    }
    free(e);
    if (!err && past_deadline(m))
      err = IDL_ERR_SHUTDOWN;
  }
  if (!err && idl_pipe_flush(&p))
    err = IDL_ERR_IO;
  return err;
}

/* Rebuilds every key from one read transaction, refills the events stream up
 * to the same point, then sets the position. */
static enum idl_err full_sync(struct idl_mirror *m) {
  set_state(m, IDL_MIRROR_SYNCING);
  char seqkey[KEY_MAX], last[24];
  idl_mirror_make_key(m->prefix, seqkey, KEY_SEQ, "");
  redisReply *r = redisCommand(m->rc, "DEL %s", seqkey);
  if (!r) 
    return IDL_ERR_IO;
  freeReplyObject(r);
  enum idl_err err = clear_keys(m);
  struct idl_txn *txn = NULL;
  struct idl_store_info info;
  if (!err)
    err = idl_txn_begin_read(m->store, &txn);
  if (!err)
    err = idl_store_info(txn, &info);
  struct idl_pipe p = {.c = m->rc, .on_reply = on_any_reply};
  struct sync_scan s = {&p, txn, m->prefix, m};
  if (!err)
    err = idl_store_scan_contacts(txn, sync_contact, &s);
  if (!err && idl_pipe_flush(&p))
    err = IDL_ERR_IO;
  /* The events after the keys, so that a reader who looks an event's
   * identity up finds it; before the position, so that the next batch's
   * XADDs follow them. */
  if (!err)
    err = refill_events(m, txn, info.last_seq, info.last_seq);
  idl_txn_abort(txn);
  if (!err) {
    idl_mirror_id_str(info.last_seq, last);
    const char *set[] = {"SET", seqkey, last};
    idl_pipe_cmd(&p, 3, set);
    if (idl_pipe_flush(&p))
      err = IDL_ERR_IO;
  }
  if (!err) {
    atomic_store(&m->applied, info.last_seq);
    atomic_fetch_add(&m->full_syncs, 1);
    idl_log_info("mirror: full sync done at seq %" PRIu64 " (%" PRIu64 " contacts)",
                 info.last_seq, info.contacts);
  }
  return err;
}

/* Reads Redis's position and decides whether it can go on from the log. */
static enum idl_err resume(struct idl_mirror *m) {
  struct idl_mirror_seq held;
  enum idl_err err = idl_mirror_read_seq(m->rc, m->prefix, &held);
  if (err)
    return err;
  int present = held.got == IDL_GOT_STRING;
  uint64_t seq = held.seq;
  struct idl_txn *txn;
  struct idl_store_info info;
  struct idl_change *first = NULL;
  size_t n = 0;
  if ((err = idl_txn_begin_read(m->store, &txn)))
    return err;
  err = idl_store_info(txn, &info);
  if (!err)
    err = idl_store_changes(txn, 0, 1, &first, &n);
  uint64_t oldest = n ? first[0].seq : info.last_seq + 1;
  for (size_t i = 0; i < n; i++)
    idl_change_fini(&first[i]);
  free(first);
  /* The log must still hold every entry after seq. */
  int rebuild = !err && (!present || seq > info.last_seq || seq + 1 < oldest ||
                         atomic_load(&m->resync));
  /* Redis kept the position but perhaps not the whole stream (a stream
   * deleted or replaced by hand): events are written with the position, so
   * refilling up to it keeps the next batch's events in order. */
  if (!err && !rebuild)
    err = refill_events(m, txn, info.last_seq, seq);
  idl_txn_abort(txn);
  if (err)
    return err;
  if (rebuild) {
    if ((err = full_sync(m)) == IDL_ERR_OK)
      atomic_store(&m->resync, 0);
    return err;
  }
  atomic_store(&m->applied, seq);
  return IDL_ERR_OK;
}

/* ------------------------------------------------------------- the thread */

/* Waits up to ms for a notification or a stop. Returns 1 when stopping. */
static int wait_for(struct idl_mirror *m, int ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (long)(ms % 1000) * 1000000;
  if (until.tv_nsec >= 1000000000) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000;
  }
  pthread_mutex_lock(&m->lock);
  while (!m->notified && !m->stopping)
    if (pthread_cond_timedwait(&m->wake, &m->lock, &until) == ETIMEDOUT)
      break;
  m->notified = 0;
  int stopping = m->stopping;
  pthread_mutex_unlock(&m->lock);
  return stopping;
}

static int past_deadline(struct idl_mirror *m) {
  pthread_mutex_lock(&m->lock);
  int past = m->stopping && idl_now_us() >= m->deadline_us;
  pthread_mutex_unlock(&m->lock);
  return past;
}

static int stopping(struct idl_mirror *m) {
  pthread_mutex_lock(&m->lock);
  int s = m->stopping;
  pthread_mutex_unlock(&m->lock);
  return s;
}

static void drop_connection(struct idl_mirror *m, const char *why) {
  if (!m->outage_logged)
    idl_log_warn("mirror: Redis at %s:%d unavailable (%s); retrying with back-off",
                 m->opts.url.host, m->opts.url.port, why);
  m->outage_logged = 1;
  if (m->rc)
    redisFree(m->rc);
  m->rc = NULL;
  set_state(m, IDL_MIRROR_DOWN);
}

static int connect_and_resume(struct idl_mirror *m) {
  char why[256];
  if (!(m->rc = idl_redis_open(&m->opts.url, why, sizeof(why)))) {
    drop_connection(m, why);
    return -1;
  }
  if (resume(m) != IDL_ERR_OK) {
    drop_connection(m, m->rc && m->rc->err ? m->rc->errstr : "sync failed");
    return -1;
  }
  if (m->outage_logged)
    idl_log_info("mirror: Redis at %s:%d is back; resuming after seq %" PRIu64,
                 m->opts.url.host, m->opts.url.port, atomic_load(&m->applied));
  m->outage_logged = 0;
  set_state(m, IDL_MIRROR_UP);
  return 0;
}

/* Applies batches until the log is drained (or the stop deadline passes). */
static int catch_up(struct idl_mirror *m) {
  int more = 1;
  while (more && !past_deadline(m)) {
    int resync = 0;
    enum idl_err err = apply_batch(m, &more, &resync);
    if (!err && resync)
      err = full_sync(m), more = 1;
    if (err) {
      drop_connection(m, m->rc->err ? m->rc->errstr : idl_strerror(err));
      return -1;
    }
    set_state(m, IDL_MIRROR_UP);
  }
  return 0;
}

/* When idle: does Redis still hold our position (not flushed, not restarted)? */
static int still_in_step(struct idl_mirror *m) {
  struct idl_mirror_seq held;
  if (idl_mirror_read_seq(m->rc, m->prefix, &held) != IDL_ERR_OK) {
    drop_connection(m, m->rc->errstr);
    return 0;
  }
  int ok = held.got == IDL_GOT_STRING && held.seq == atomic_load(&m->applied);
  if (!ok && full_sync(m) != IDL_ERR_OK) {
    drop_connection(m, m->rc->err ? m->rc->errstr : "sync failed");
    return 0;
  }
  return 1;
}

static void *mirror_main(void *arg) {
  struct idl_mirror *m = arg;
  int backoff = BACKOFF_MIN_MS;
  while (!past_deadline(m)) {
    if (!m->rc) {
      if (connect_and_resume(m) != 0) {
        if (wait_for(m, backoff)) {
          /* Stopping: wake-ups come at once now, so sleep the back-off out. */
          struct timespec pause = {backoff / 1000, (backoff % 1000) * 1000000L};
          nanosleep(&pause, NULL);
        }
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        continue;
      }
      backoff = BACKOFF_MIN_MS;
    }
    if (catch_up(m) != 0)
      continue;
    if (stopping(m))
      break; /* drained */
    int64_t idle_since = idl_now_us();
    if (wait_for(m, IDLE_CHECK_MS))
      continue;
    if (idl_now_us() - idle_since >= (int64_t)IDLE_CHECK_MS * 1000) {
      if (m->rc)
        still_in_step(m);
    } else {
      /* Woken by a commit: a moment more lets the next ones join this
       * batch, for fewer and larger transactions in Redis. */
      struct timespec pause = {0, COALESCE_US * 1000L};
      nanosleep(&pause, NULL);
    }
  }
  if (m->rc)
    redisFree(m->rc);
  m->rc = NULL;
  return NULL;
}

/* -------------------------------------------------------------------- API */

enum idl_err idl_mirror_start(struct idl_store *s, const struct idl_mirror_opts *opts,
                              struct idl_mirror **out) {
  struct idl_mirror *m = calloc(1, sizeof(*m));
  if (!m)
    return IDL_ERR_NOMEM;
  m->store = s;
  m->opts = *opts;
  snprintf(m->prefix, sizeof(m->prefix), "%s",
           opts->prefix ? opts->prefix : IDL_MIRROR_DEFAULT_PREFIX);
  m->opts.prefix = m->prefix;
  if (!m->opts.stream_maxlen)
    m->opts.stream_maxlen = IDL_MIRROR_DEFAULT_STREAM_MAXLEN;
  atomic_init(&m->applied, 0);
  atomic_init(&m->resync, opts->full_sync);
  atomic_init(&m->state, IDL_MIRROR_CONNECTING);
  atomic_init(&m->full_syncs, 0);
  pthread_mutex_init(&m->lock, NULL);
  pthread_mutex_init(&m->lag_lock, NULL);
  pthread_cond_init(&m->wake, NULL);
  if (pthread_create(&m->thread, NULL, mirror_main, m) != 0) {
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lag_lock);
    pthread_mutex_destroy(&m->lock);
    free(m);
    return IDL_ERR_NOMEM;
  }
  *out = m;
  return IDL_ERR_OK;
}

void idl_mirror_notify(struct idl_mirror *m) {
  pthread_mutex_lock(&m->lock);
  m->notified = 1;
  pthread_cond_signal(&m->wake);
  pthread_mutex_unlock(&m->lock);
}

void idl_mirror_stop(struct idl_mirror *m, int flush_ms) {
  if (!m)
    return;
  pthread_mutex_lock(&m->lock);
  m->stopping = 1;
  m->deadline_us = idl_now_us() + (int64_t)flush_ms * 1000;
  pthread_cond_signal(&m->wake);
  pthread_mutex_unlock(&m->lock);
  pthread_join(m->thread, NULL);
  pthread_cond_destroy(&m->wake);
  pthread_mutex_destroy(&m->lag_lock);
  pthread_mutex_destroy(&m->lock);
  free(m);
}

void idl_mirror_status(struct idl_mirror *m, struct idl_mirror_status *out) {
  out->state = (enum idl_mirror_state)atomic_load(&m->state);
  out->applied_seq = atomic_load(&m->applied);
  out->full_syncs = atomic_load(&m->full_syncs);
  out->lag_p99_ms = lag_p99(m);
}

uint64_t idl_mirror_applied(struct idl_mirror *m) { return atomic_load(&m->applied); }

const char *idl_mirror_state_name(enum idl_mirror_state state) {
  static const char *const names[] = {"connecting", "syncing", "up", "down"};
  return names[state];
}

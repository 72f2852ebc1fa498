/* The Redis mirror (SPEC section 6): a thread that applies the change log to
 * Redis in sequence order, each batch in one MULTI/EXEC with the sequence
 * number it reaches, and rebuilds every key from the store when Redis is
 * empty, flushed or behind the oldest retained log entry, refilling the events
 * stream from the log where it stops. HTTP requests never wait for it. */
#ifndef IDLINK_MIRROR_H
#define IDLINK_MIRROR_H

#include <stddef.h>
#include <stdint.h>

#include "idlink/store.h"

/* A parsed redis://[[user]:password@]host[:port][/db] URL. */
struct idl_redis_url {
  char host[256];
  int port;
  char user[128];
  char password[256];
  int db;
};

/* Parses url into out. On failure returns IDL_ERR_INVAL and says why. */
enum idl_err idl_redis_url_parse(const char *url, struct idl_redis_url *out, char *why,
                                 size_t why_len);

/* Whether prefix can prefix the mirror's keys: 1 to 48 printable characters,
 * none of Redis's glob characters (* ? [ ] \\) nor white space, since the
 * mirror finds its keys with SCAN MATCH prefix*. */
int idl_mirror_prefix_ok(const char *prefix);

/* Whether key is one of the mirror's own keys under prefix: right after the
 * prefix, one of email:VALUE, phone:VALUE, identity:ID (digits), events or
 * mirror:seq. The keys of a mirror whose prefix extends this one in the same
 * database ("idlink:n:email:x" under "idlink:") are not: a full sync leaves
 * them alone and idlink-check does not count them. A prefix that extends
 * another by "email:" or "phone:" cannot be told apart from its values. */
int idl_mirror_key_ours(const char *prefix, const char *key);

struct idl_mirror_opts {
  struct idl_redis_url url;
  const char *prefix;   /* key prefix, "idlink:" */
  size_t stream_maxlen; /* the events stream is capped near this (XADD MAXLEN ~) */
  int full_sync;        /* rebuild Redis on the first connect, whatever its position
                           (the junk-value rules changed: keys of values now blocked go) */
};

#define IDL_MIRROR_DEFAULT_PREFIX "idlink:"
#define IDL_MIRROR_DEFAULT_STREAM_MAXLEN 100000

struct idl_mirror;

/* Starts the mirror thread on s, which must outlive it. An unreachable Redis
 * is not an error: the thread retries with back-off. */
enum idl_err idl_mirror_start(struct idl_store *s, const struct idl_mirror_opts *opts,
                              struct idl_mirror **out);

/* Wakes the mirror: the log has new entries. Cheap; safe from any thread. */
void idl_mirror_notify(struct idl_mirror *m);

/* Applies what Redis will take within flush_ms, stops the thread, frees m.
 * NULL is a no-op. */
void idl_mirror_stop(struct idl_mirror *m, int flush_ms);

enum idl_mirror_state { IDL_MIRROR_CONNECTING, IDL_MIRROR_SYNCING, IDL_MIRROR_UP,
                        IDL_MIRROR_DOWN };

struct idl_mirror_status {
  enum idl_mirror_state state;
  uint64_t applied_seq; /* the log position Redis has, 0 before the first sync */
  uint64_t full_syncs;  /* rebuilds of every key since start */
  /* Of the last IDL_MIRROR_LAG_WINDOW entries applied from the log: the 99th
   * percentile of the time from their commit to their EXEC in Redis, in ms
   * (-1 before any). */
  double lag_p99_ms;
};

#define IDL_MIRROR_LAG_WINDOW 8192

void idl_mirror_status(struct idl_mirror *m, struct idl_mirror_status *out);

/* "connecting", "syncing", "up", "down". */
const char *idl_mirror_state_name(enum idl_mirror_state state);

/* The log position the mirror has applied (the writer trims the log only
 * below it). Safe from any thread. */
uint64_t idl_mirror_applied(struct idl_mirror *m);

/* idlink-check --redis: compares every key the store implies with Redis, and
 * every key under the prefix in Redis with the store. Calls fn once per
 * difference with a line saying what is missing, stale or extra (emails and
 * phones shown only when show_values is set; otherwise the contact id).
 * *differences counts them. Fails with IDL_ERR_IO when Redis cannot be read. */
typedef void (*idl_mirror_diff_fn)(const char *line, void *arg);
enum idl_err idl_mirror_compare(struct idl_txn *txn, const struct idl_redis_url *url,
                                const char *prefix, int show_values, idl_mirror_diff_fn fn,
                                void *arg, uint64_t *differences, char *why,
                                size_t why_len);

#endif

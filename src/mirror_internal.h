/* What the Redis mirror's parts share: mirror_redis.c (the connection, the
 * pipeline, the keys), mirror.c (the thread) and mirror_check.c
 * (idlink-check's comparison). Private: names hiredis, and only these three
 * files include hiredis.h. */
#ifndef IDLINK_MIRROR_INTERNAL_H
#define IDLINK_MIRROR_INTERNAL_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "idlink/identity.h"
#include "idlink/mirror.h"

#define PIPELINE_DEPTH 1024 /* commands in flight during a full sync or a compare */
#define KEY_MAX (64 + 16 + IDL_EMAIL_MAX_BYTES)

/* ------------------------------------------------------------ connection */

/* Connects, authenticates and selects the database. Returns NULL and says
 * why on failure. */
redisContext *idl_redis_open(const struct idl_redis_url *u, char *why, size_t why_len);

/* A pipeline: commands appended, replies read back in order by a callback. */
struct idl_pipe {
  redisContext *c;
  size_t pending;
  /* Called with each reply in order; returns non-zero to fail the pipeline. */
  int (*on_reply)(struct idl_pipe *p, redisReply *r);
  void *arg;
  int failed;
};

/* Appends one command of argc (at most 16) arguments, NUL-terminated
 * strings; reads the replies back once PIPELINE_DEPTH are pending. */
int idl_pipe_cmd(struct idl_pipe *p, int argc, const char **argv);

/* Reads every pending reply. -1 when one failed (or Redis did not answer). */
int idl_pipe_flush(struct idl_pipe *p);

/* ------------------------------------------------------------------ keys */

/* The kinds of the mirror's keys, after the prefix: email:VALUE,
 * phone:VALUE, identity:ID, events (the stream) and mirror:seq (the log
 * position Redis holds). KEY_FOREIGN is any other key under the prefix. */
enum key_kind { KEY_FOREIGN, KEY_EMAIL, KEY_PHONE, KEY_IDENTITY, KEY_EVENTS, KEY_SEQ, KEY_KINDS };

/* Their names, the one place they are spelt: "email", "phone", "identity",
 * "events", "mirror:seq" (NULL for KEY_FOREIGN). */
extern const char *const idl_mirror_key_names[KEY_KINDS];

/* Writes the key PREFIX NAME:VALUE into buf (KEY_MAX bytes); PREFIX NAME
 * alone when value is "" (events, mirror:seq). */
void idl_mirror_make_key(const char *prefix, char *buf, enum key_kind kind, const char *value);

/* Which of the mirror's keys key is, parsed back; *value (may be NULL) is set
 * to the part after NAME: ("" for events and mirror:seq). See the definition
 * for what counts as another mirror's. */
enum key_kind idl_mirror_key_kind(const char *prefix, const char *key, const char **value);

/* Whether a contact's email (kind KEY_EMAIL) or phone (KEY_PHONE) gets a key:
 * not empty and not blocked, as a blocked value matches nothing. */
int idl_mirror_value_keyed(const struct idl_store *s, enum key_kind kind, const char *value);

/* An id (or any uint64_t) in decimal, into buf of 24 bytes. */
void idl_mirror_id_str(uint64_t id, char *buf);

/* The JSON of section 2's contact object for ident, as the identity key
 * holds it. NULL without memory; free() it. */
char *idl_mirror_identity_json(const struct idl_identity *ident);

/* ------------------------------------------------------------- reading */

/* Called once per key of the mirror's that SCAN finds (never another
 * mirror's); a non-zero return stops the scan with that error. */
typedef enum idl_err (*idl_mirror_key_fn)(const char *key, enum key_kind kind,
                                          const char *value, void *arg);

/* The one SCAN loop: SCAN cursor MATCH prefix* COUNT 1000 until the cursor
 * comes back to 0, calling fn for each key of the mirror's. Commands fn
 * queues in p (may be NULL) are answered after each page, before the next
 * SCAN. IDL_ERR_IO when Redis does not answer as SCAN should. Used by the
 * full sync to clear the keys and by the comparison to find extra ones. */
enum idl_err idl_mirror_scan_keys(redisContext *c, const char *prefix, struct idl_pipe *p,
                                  idl_mirror_key_fn fn, void *arg);

/* What a GET answered. */
enum idl_got { IDL_GOT_NONE /* no key */, IDL_GOT_OTHER /* another type, an error */,
               IDL_GOT_STRING };

enum idl_got idl_redis_got(const redisReply *r);

/* The position in a reply to GET PREFIX mirror:seq. */
struct idl_mirror_seq {
  enum idl_got got;
  uint64_t seq;  /* its decimal as strtoull reads it; 0 unless a string */
  char text[32]; /* the string as stored (cut short), for idlink-check to show */
};

/* Reads the position out of r, a reply to GET PREFIX mirror:seq (alone, or
 * inside a batch's MULTI/EXEC). */
void idl_mirror_seq_of(const redisReply *r, struct idl_mirror_seq *out);

/* The one read of the position Redis holds: GET PREFIX mirror:seq. Used when
 * the mirror connects (resume), when it idles (still in step?) and by the
 * comparison. IDL_ERR_IO when Redis does not answer. */
enum idl_err idl_mirror_read_seq(redisContext *c, const char *prefix, struct idl_mirror_seq *out);

#endif

/* The contact graph in LMDB: contacts by id, the email and phone indexes,
 * each primary's members, metadata and the change log (SPEC section 4).
 *
 * Transactions: a read transaction may be used by the thread that began it
 * only; write transactions belong to the writer thread (one at a time, with
 * nested children). Every function taking a txn reads or writes through it;
 * nothing it returns points into the store. */
#ifndef IDLINK_STORE_H
#define IDLINK_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "idlink/codec.h"
#include "idlink/contact.h"

/* The store's layout: 2 since customers' channel_code is answered by the
 * (channel, channel_code) index and its own index was dropped. A store of
 * version 1 is brought to 2 when opened for writing; an idlinkd of version
 * 1 then refuses it, rather than answer from an index no longer kept up. */
#define IDL_SCHEMA_VERSION 2
#define IDL_SCHEMA_VERSION_OLDEST 1

struct idl_store;
struct idl_txn;

enum idl_index { IDL_INDEX_EMAIL, IDL_INDEX_PHONE };

struct idl_store_opts {
  int sync_full;    /* 1: a commit is on disk when it returns */
  size_t map_size;  /* bytes; 0: IDL_STORE_DEFAULT_MAP_SIZE */
  int read_only;    /* open an existing store for reading, beside a server */
  int exclusive;    /* hold the folder's lock: one server (or restore) at a time */
  /* The junk values never indexed (idlinkd's --blocklist); NULL: those the
   * store last recorded (idl_store_record_blocklist), so that the tools see
   * the store as the server left it. Must outlive the store. */
  const struct idl_blocklist *blocklist;
  /* The hub guard (SPEC section 10): a request never makes an identity
   * larger than this many contacts; 0: no limit. */
  uint64_t max_identity_contacts;
};

#define IDL_STORE_DEFAULT_MAP_SIZE ((size_t)16 << 30)

/* Opens (creating when writable) the store in folder dir. On success *out is
 * the caller's, closed with idl_store_close. IDL_ERR_LOCKED when exclusive and
 * another process holds the folder; IDL_ERR_NOTFOUND when read-only and dir
 * holds no store; IDL_ERR_VERSION for an unknown schema. */
enum idl_err idl_store_open(const char *dir, const struct idl_store_opts *opts,
                            struct idl_store **out);

/* Closes the store; every transaction must have ended. NULL is a no-op. */
void idl_store_close(struct idl_store *s);

/* Begins a read transaction, ended with idl_txn_abort. */
enum idl_err idl_txn_begin_read(struct idl_store *s, struct idl_txn **out);

/* Begins a write transaction, nested in parent when parent is not NULL. */
enum idl_err idl_txn_begin_write(struct idl_store *s, struct idl_txn *parent,
                                 struct idl_txn **out);

/* Commits and frees txn, also on failure (when nothing of it is kept). */
enum idl_err idl_txn_commit(struct idl_txn *txn);

/* Abandons and frees txn. NULL is a no-op. */
void idl_txn_abort(struct idl_txn *txn);

/* LMDB's id of the snapshot (read) or of the transaction being written. */
uint64_t idl_txn_id(const struct idl_txn *txn);

/* Whether anything was written through txn (or a nested transaction of it
 * that committed). A write transaction that wrote nothing commits nothing. */
int idl_txn_dirty(const struct idl_txn *txn);

/* Reads contact id into out. IDL_ERR_NOTFOUND when there is none. */
enum idl_err idl_store_get(struct idl_txn *txn, uint64_t id, struct idl_contact *out);

/* Appends to out the ids of the active contacts whose email (or phone) is value,
 * ascending. */
enum idl_err idl_store_find(struct idl_txn *txn, enum idl_index which,
                            const char *value, struct idl_ids *out);

/* The smallest id of the active contacts whose email (or phone) is value.
 * Every contact holding a value belongs to one identity, so one of them
 * tells which. IDL_ERR_NOTFOUND when none holds it. */
enum idl_err idl_store_find_first(struct idl_txn *txn, enum idl_index which,
                                  const char *value, uint64_t *id);

/* Appends to out the secondaries of primary, ascending. */
enum idl_err idl_store_members(struct idl_txn *txn, uint64_t primary, struct idl_ids *out);

/* How many secondaries primary has (without reading them). */
enum idl_err idl_store_members_count(struct idl_txn *txn, uint64_t primary, uint64_t *n);

/* The hub guard's limit the store was opened with (0: none). */
uint64_t idl_store_max_identity(const struct idl_store *s);

/* Writes contact c (write txn), keeping the indexes and the members in step.
 * old is the stored row c replaces, or NULL for a new contact. */
enum idl_err idl_store_put(struct idl_txn *txn, const struct idl_contact *c,
                           const struct idl_contact *old);

/* Takes the next contact id (write txn). */
enum idl_err idl_store_new_id(struct idl_txn *txn, uint64_t *id);

/* Appends change to the log (write txn), setting change->seq. */
enum idl_err idl_store_log(struct idl_txn *txn, struct idl_change *change);

/* Reads up to limit entries with seq > after, oldest first, into a new array
 * *out of *n entries; free each with idl_change_fini and the array with free(). */
enum idl_err idl_store_changes(struct idl_txn *txn, uint64_t after, size_t limit,
                               struct idl_change **out, size_t *n);

/* Deletes the log entries with seq <= upto, at most max of them, oldest
 * first (write txn); *deleted says how many went. */
enum idl_err idl_store_trim_log(struct idl_txn *txn, uint64_t upto, size_t max,
                                size_t *deleted);

struct idl_store_info {
  uint64_t contacts;   /* rows in the contacts table */
  uint64_t deleted;    /* of them deleted */
  uint64_t secondaries; /* active secondaries: contacts - deleted - these are identities */
  uint64_t next_id;    /* the id the next contact gets */
  uint64_t last_seq;   /* the newest change-log sequence number, 0 when none */
  uint64_t log_entries;
  uint64_t map_size;   /* bytes of the memory map */
  uint64_t used_bytes; /* bytes of the data file in use */
};

enum idl_err idl_store_info(struct idl_txn *txn, struct idl_store_info *out);

/* Scans, in key order, for verification and snapshots. A callback returning
 * non-zero stops the scan with that code. */
typedef enum idl_err (*idl_contact_fn)(const struct idl_contact *c, void *arg);
typedef enum idl_err (*idl_index_fn)(const char *key, size_t key_len, uint64_t id,
                                     void *arg);
typedef enum idl_err (*idl_member_fn)(uint64_t primary, uint64_t member, void *arg);

enum idl_err idl_store_scan_contacts(struct idl_txn *txn, idl_contact_fn fn, void *arg);
enum idl_err idl_store_scan_index(struct idl_txn *txn, enum idl_index which,
                                  idl_index_fn fn, void *arg);
enum idl_err idl_store_scan_members(struct idl_txn *txn, idl_member_fn fn, void *arg);

/* The key an index stores value under: value itself, cut to LMDB's key size
 * limit (lookups of cut keys compare the full value in the record). */
size_t idl_store_index_key_len(const struct idl_store *s, size_t value_len);

/* Bulk loading, for restores into a new store. */

/* A bulk load into an empty store (write txn): rows come in ascending id
 * order and are appended; the index and members entries they imply are
 * gathered, then sorted in LMDB's order and appended by idl_bulk_finish, so
 * every page is written once and full. idl_bulk_finish and idl_bulk_abort
 * free b. */
struct idl_bulk;
enum idl_err idl_bulk_begin(struct idl_txn *txn, struct idl_bulk **out);
enum idl_err idl_bulk_add(struct idl_bulk *b, const struct idl_contact *c);
enum idl_err idl_bulk_finish(struct idl_bulk *b);
void idl_bulk_abort(struct idl_bulk *b);

/* Sets the next contact id and the last change-log sequence number (write txn). */
enum idl_err idl_store_set_position(struct idl_txn *txn, uint64_t next_id,
                                    uint64_t last_seq);

/* Flushes everything committed to disk, also when opened without sync_full. */
enum idl_err idl_store_sync(struct idl_store *s);

/* Takes the lock idlinkd holds on folder dir (creating dir), without opening
 * the store; *fd is released with idl_store_unlock. IDL_ERR_LOCKED when
 * another process holds it. */
enum idl_err idl_store_lock(const char *dir, int *fd);
void idl_store_unlock(int fd);

/* Moves the data of the closed store in folder from over that of folder to,
 * atomically (one rename on one file system), and makes the move durable. */
enum idl_err idl_store_install(const char *from, const char *to);

/* Removes the store files of a closed store in folder dir, and dir if empty. */
void idl_store_remove(const char *dir);

/* A number the store keeps under key (a flag of what it holds):
 * IDL_ERR_NOTFOUND when it has none. */
enum idl_err idl_store_meta_get(struct idl_txn *txn, const char *key, uint64_t *out);
enum idl_err idl_store_meta_put(struct idl_txn *txn, const char *key, uint64_t val);

/* The junk-value rules the store's indexes follow (NULL: none). */
const struct idl_blocklist *idl_store_blocklist(const struct idl_store *s);

/* Replaces the rules (a restore takes its snapshot's before the first row);
 * bl must outlive the store. */
void idl_store_set_blocklist(struct idl_store *s, const struct idl_blocklist *bl);

/* Whether value is blocked for matching: never indexed, never a link. */
int idl_store_blocked(const struct idl_store *s, enum idl_index which, const char *value);

/* The rules recorded in the store (write txn: records the store's own), and
 * those last recorded, as idl_blocklist_text writes them (*text malloc'd;
 * NULL when none were ever recorded). */
enum idl_err idl_store_record_blocklist(struct idl_txn *txn);
enum idl_err idl_store_recorded_blocklist(struct idl_txn *txn, char **text);

/* Moves contact c's index entries from what the rules old allowed to what
 * the store's rules allow (write txn): a rule turned on or off. *dropped and
 * *added (each may be NULL) say whether an entry left or came. */
enum idl_err idl_store_reindex(struct idl_txn *txn, const struct idl_contact *c,
                               const struct idl_blocklist *old, int *dropped, int *added);

/* A text the store keeps under key (write txn to put); *text malloc'd, NULL
 * when there is none. */
enum idl_err idl_store_meta_put_text(struct idl_txn *txn, const char *key, const char *text);
enum idl_err idl_store_meta_get_text(struct idl_txn *txn, const char *key, char **text);

/* The meta key of the phone normalization a store was built with: "" for
 * section 2's digits, else the --phone-region it parses phones in. */
#define IDL_META_PHONE_REGION "phone_region"

/* The meta key set once a store keeps bridges (SPEC section 10): from then
 * on every identity is connected over its links. */
#define IDL_META_BRIDGES "bridges"

/* The store a transaction belongs to. */
struct idl_store *idl_txn_store(const struct idl_txn *txn);

/* ------------------------------------------------------------------ tables
 * Generic record tables for the collections of resource.h: table t is the
 * collection idl_resources[t], with records by pk and one index per entry of
 * its index list. Records are bytes the resource layer encodes; index keys
 * are bytes it builds (idl_record_index_keys), in an order memcmp keeps. A
 * key longer than the store's key limit is cut: a filter checks the full
 * value on the record. A callback returning IDL_ERR_STOP ends a scan
 * without an error; any other error ends it with that error. */

/* An index key: null means the record has no entry in that index. */
struct idl_key {
  const void *data;
  size_t len;
  int null;
};

/* The entries of an index between lo and hi (each NULL for no bound; the
 * _incl flags say whether the bound itself is in), and with prefix when it is
 * not NULL, in key order, then pk order. With lead, the index's keys begin
 * with a part of lead bytes that the range does not bound (the first field
 * of a two-field index): the range is read under lead_key (lead bytes)
 * when it is not NULL, else under each value of that part in turn, one seek
 * per value (a skip scan). */
struct idl_range {
  const void *lo;
  size_t lo_len;
  int lo_incl;
  const void *hi;
  size_t hi_len;
  int hi_incl;
  const void *prefix;
  size_t prefix_len;
  size_t lead;
  const void *lead_key;
};

/* A record's bytes, valid during the call only. */
typedef enum idl_err (*idl_bytes_fn)(uint64_t pk, const void *data, size_t len, void *arg);
/* An index entry: the key as stored (maybe cut), valid during the call only. */
typedef enum idl_err (*idl_entry_fn)(uint64_t pk, const void *key, size_t key_len, void *arg);

/* Takes the next pk of table t (write txn); pks start at 1, never reused. */
enum idl_err idl_table_next_pk(struct idl_txn *txn, size_t t, uint64_t *pk);
/* The pk the next record of t will get, without taking it. */
enum idl_err idl_table_peek_pk(struct idl_txn *txn, size_t t, uint64_t *pk);
/* Sets the next pk of t (restores). */
enum idl_err idl_table_set_next_pk(struct idl_txn *txn, size_t t, uint64_t pk);

/* Calls fn with record pk of t. IDL_ERR_NOTFOUND when there is none. */
enum idl_err idl_table_get(struct idl_txn *txn, size_t t, uint64_t pk, idl_bytes_fn fn,
                           void *arg);

/* Writes record pk of t (write txn), moving its index entries from old_keys
 * (NULL: a new record) to new_keys; each array has one key per index. */
enum idl_err idl_table_put(struct idl_txn *txn, size_t t, uint64_t pk, const void *data,
                           size_t len, const struct idl_key *old_keys,
                           const struct idl_key *new_keys);

/* Deletes record pk of t and its index entries old_keys (write txn). */
enum idl_err idl_table_del(struct idl_txn *txn, size_t t, uint64_t pk,
                           const struct idl_key *old_keys);

/* How many records t holds. */
enum idl_err idl_table_count(struct idl_txn *txn, size_t t, uint64_t *n);

/* Calls fn with every record of t from pk from_pk on, in pk order (reverse:
 * from from_pk down, 0 meaning from the last). */
enum idl_err idl_table_scan(struct idl_txn *txn, size_t t, uint64_t from_pk, int reverse,
                            idl_bytes_fn fn, void *arg);

/* Calls fn with every entry of index `index` of t within r. */
enum idl_err idl_table_index_scan(struct idl_txn *txn, size_t t, size_t index,
                                  const struct idl_range *r, idl_entry_fn fn, void *arg);

/* The longest index key the store keeps whole. */
size_t idl_store_max_key(const struct idl_store *s);

#endif

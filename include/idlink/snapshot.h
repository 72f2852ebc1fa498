/* msgpack snapshots (SPEC section 5): a header map, one array per contact in
 * id order (the contact record format of codec.h), and a trailer map with the
 * row count and zlib's CRC-32 of every byte before the trailer. */
#ifndef IDLINK_SNAPSHOT_H
#define IDLINK_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "idlink/blocklist.h"
#include "idlink/check.h"
#include "idlink/store.h"

#define IDL_SNAPSHOT_FORMAT "idlink-snapshot"
#define IDL_SNAPSHOT_VERSION 2 /* the newest this idlink writes and reads; 1 reads too */

/* Version 2 (SPEC section 5) adds the collections' tables, in this order,
 * each listed in the header with its row count and next id. Tables this
 * idlink does not hold yet are listed with 0 rows. */
#define IDL_SNAPSHOT_TABLES 7
extern const char *const idl_snapshot_tables[IDL_SNAPSHOT_TABLES];

struct idl_snapshot_header {
  uint64_t version;
  int64_t created_at; /* ms since the epoch */
  uint64_t contacts;
  uint64_t last_seq;
  /* version 2: */
  uint64_t rows[IDL_SNAPSHOT_TABLES];     /* rows of each table */
  uint64_t next_ids[IDL_SNAPSHOT_TABLES]; /* the next id of each table */
  uint64_t next_contact_id;
};

/* Called now and then during long runs with the rows done and the total. */
typedef void (*idl_progress_fn)(uint64_t done, uint64_t total, void *arg);

struct idl_dump_opts {
  const char *store;        /* how messages name the store (its folder) */
  const char *output;       /* how messages name the output (a path, "standard output") */
  idl_progress_fn progress; /* may be NULL */
  void *arg;
};

/* Writes a snapshot of what txn sees to fd. On success *header says what was
 * written; on failure why names what failed (the output, with the system's
 * reason, or the store) and why. */
enum idl_err idl_snapshot_write(struct idl_txn *txn, int fd, const struct idl_dump_opts *opts,
                                struct idl_snapshot_header *header, char *why,
                                size_t why_len);

struct idl_resource;
struct idl_record;

struct idl_snapshot_read_opts {
  idl_contact_fn row;         /* called for each row as it is read; may be NULL */
  /* called for each table row (version 2) once it is verified; may be NULL */
  enum idl_err (*record)(const struct idl_resource *res, const struct idl_record *rec,
                         void *arg);
  idl_violation_fn violation; /* each broken invariant, as one line; may be NULL */
  /* called once, before the rows, with the junk-value rules the store kept
   * its indexes under (the header's "blocklist"), when it had any; may be NULL */
  enum idl_err (*blocklist)(const struct idl_blocklist *bl, void *arg);
  /* called once, before the rows, with the header's "phone_region" (the
   * --phone-region the store parsed phones in), when it has one; may be NULL */
  enum idl_err (*phone_region)(const char *region, void *arg);
  void *arg;                  /* for all */
};

/* Verifies the snapshot in buf (len bytes) from end to end: the header, every
 * row's shape, ascending unique ids, ids and last_seq that leave the restored
 * store room for the next id and change, count and checksum, nothing after
 * the trailer; and the store's invariants over the rows, by the checker of
 * check.h that idlink-check --data runs (a violation found while a row is read
 * names that row and its byte). *header is filled as soon as the header is
 * read, so that row can see the total. Memory: the checker's, 40 bytes a row
 * and for a moment 32 to 64 more.
 *
 * Returns IDL_ERR_CORRUPT (or IDL_ERR_VERSION) for a bad file, with what is
 * wrong and where in why: for broken invariants, how many and the first. A
 * row callback's error is returned as it is, why naming the row. opts may be
 * NULL. */
enum idl_err idl_snapshot_read(const void *buf, size_t len,
                               const struct idl_snapshot_read_opts *opts,
                               struct idl_snapshot_header *header, char *why,
                               size_t why_len);

struct idl_restore_opts {
  int force;               /* replace a store that holds data */
  idl_progress_fn progress; /* may be NULL */
  void *arg;
};

/* Loads the snapshot in buf into the store in folder dir, which must be empty
 * unless opts->force. The file is verified as idl_snapshot_read verifies it
 * while the new store is built beside the old one, which it then replaces
 * with one rename, so a failure leaves dir as it was; a dir the restore
 * created (and the folders above it) is removed again. IDL_ERR_LOCKED when a
 * server holds dir. On failure why says what went wrong, naming the folder
 * when the store failed. */
enum idl_err idl_snapshot_restore(const char *dir, const void *buf, size_t len,
                                  const struct idl_restore_opts *opts,
                                  struct idl_snapshot_header *header, char *why,
                                  size_t why_len);

#endif

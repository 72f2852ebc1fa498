/* msgpack snapshots (SPEC section 5): a header map, one array per contact in
 * id order (the contact record format of codec.h), and a trailer map with the
 * row count and zlib's CRC-32 of every byte before the trailer. */
#ifndef IDLINK_SNAPSHOT_H
#define IDLINK_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "idlink/store.h"

#define IDL_SNAPSHOT_FORMAT "idlink-snapshot"
#define IDL_SNAPSHOT_VERSION 1

struct idl_snapshot_header {
  uint64_t version;
  int64_t created_at; /* ms since the epoch */
  uint64_t contacts;
  uint64_t last_seq;
};

/* Called now and then during long runs with the rows done and the total. */
typedef void (*idl_progress_fn)(uint64_t done, uint64_t total, void *arg);

/* Writes a snapshot of what txn sees to fd. progress may be NULL. On success
 * *header says what was written. */
enum idl_err idl_snapshot_write(struct idl_txn *txn, int fd, idl_progress_fn progress,
                                void *arg, struct idl_snapshot_header *header);

/* Verifies the snapshot in buf (len bytes) from end to end: header, every
 * row's shape, ascending unique ids, links to primaries within the snapshot,
 * count and checksum, nothing after the trailer. Calls row (when not NULL)
 * for each row as it goes; *header is filled as soon as the header is read,
 * so that row can see the total. On a bad file returns IDL_ERR_CORRUPT (or
 * IDL_ERR_VERSION) and writes what is wrong and where into why. */
enum idl_err idl_snapshot_read(const void *buf, size_t len, idl_contact_fn row, void *arg,
                               struct idl_snapshot_header *header, char *why,
                               size_t why_len);

struct idl_restore_opts {
  int force;               /* replace a store that holds data */
  idl_progress_fn progress; /* may be NULL */
  void *arg;
};

/* Loads the snapshot in buf into the store in folder dir, which must be empty
 * unless opts->force. The new store is built beside the old one and swapped
 * in with one rename, so a failure leaves dir as it was. IDL_ERR_LOCKED when
 * a server holds dir. On failure why says what went wrong. */
enum idl_err idl_snapshot_restore(const char *dir, const void *buf, size_t len,
                                  const struct idl_restore_opts *opts,
                                  struct idl_snapshot_header *header, char *why,
                                  size_t why_len);

#endif

/* The writer thread: the one owner of write transactions. A change is a
 * closure (idl_write_fn and its argument); the writer applies a batch of them
 * in one LMDB transaction (group commit), each in a nested transaction of its
 * own so that one change's failure leaves the others whole, then commits once
 * and answers the whole batch. The writer knows nothing of what a change
 * does: reconciliation, customers and orders all come as closures. */
#ifndef IDLINK_WRITER_H
#define IDLINK_WRITER_H

#include "idlink/store.h"

struct idl_writer;

struct idl_writer_opts {
  size_t max_batch; /* requests per transaction; 0: IDL_WRITER_DEFAULT_BATCH */
  /* The change log keeps at least this many entries; 0: IDL_WRITER_DEFAULT_RETAIN. */
  uint64_t log_retain;
  /* Called on the writer thread after each commit that changed the store. */
  void (*committed)(void *arg);
  /* The log position below which entries may go (the mirror's applied
   * position); NULL when nothing else reads the log. */
  uint64_t (*trim_floor)(void *arg);
  void *arg;
};

#define IDL_WRITER_DEFAULT_BATCH 1024
#define IDL_WRITER_DEFAULT_RETAIN 1000000

/* Starts the writer thread on s, which must outlive it. */
enum idl_err idl_writer_start(struct idl_store *s, const struct idl_writer_opts *opts,
                              struct idl_writer **out);

/* Answers every queued request, stops the thread and frees w. NULL is a no-op. */
void idl_writer_stop(struct idl_writer *w);

/* A change: runs on the writer thread with txn, a write transaction of its
 * own nested in the batch's. Returning an error undoes everything it wrote
 * (and only that). It must not block, nor keep txn. */
typedef enum idl_err (*idl_write_fn)(struct idl_txn *txn, void *arg);

/* Queues fn(txn, arg) and blocks until the batch holding it has committed
 * (with sync full: is on disk). Returns fn's error, or the commit's, or
 * IDL_ERR_SHUTDOWN once idl_writer_stop has begun. On success *txnid (when
 * txnid is not NULL) is the id of the commit that holds the change: a read
 * snapshot with an id at least that sees it. arg stays the caller's. */
enum idl_err idl_writer_submit(struct idl_writer *w, idl_write_fn fn, void *arg,
                               uint64_t *txnid);

/* As idl_writer_submit, and on success *snapshot is a read transaction that
 * sees the store exactly as the change's commit left it, begun before the
 * writer wrote anything else: an answer read from it shows the change as a
 * serial order has it, whatever commits next (a deletion of what it made).
 * NULL when none could be begun. The caller aborts it. */
enum idl_err idl_writer_submit_read(struct idl_writer *w, idl_write_fn fn, void *arg,
                                    struct idl_txn **snapshot);

/* As idl_writer_submit, for a change that deletes (an erasure, a contact's
 * deletion, a record's): it is committed in a batch of its own, so that no
 * change committed with it is answered from a snapshot that holds the
 * deletion of what it made. */
enum idl_err idl_writer_submit_deletion(struct idl_writer *w, idl_write_fn fn, void *arg);

/* The id of the newest transaction the writer has committed (or found at
 * start): a read snapshot at or below it holds only durable data. */
uint64_t idl_writer_durable_txnid(const struct idl_writer *w);

/* Waits until the commit with id txnid is durable: a read snapshot may see a
 * commit while its flush is still under way. IDL_ERR_IO when it did not
 * become durable in time (its flush failed). */
enum idl_err idl_writer_wait_durable(struct idl_writer *w, uint64_t txnid);

#endif

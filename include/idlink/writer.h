/* The writer thread: the one owner of write transactions. Requests that need
 * a change queue here; the writer applies a batch of them in one LMDB
 * transaction (group commit), each in a nested transaction of its own so that
 * one request's failure leaves the others whole, then commits once and
 * answers the whole batch. */
#ifndef IDLINK_WRITER_H
#define IDLINK_WRITER_H

#include "idlink/identity.h"
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

/* Applies req in WRITE mode and blocks until the batch holding it has
 * committed (with sync full: is on disk). On success the caller owns
 * out->identity. IDL_ERR_SHUTDOWN once idl_writer_stop has begun. */
enum idl_err idl_writer_submit(struct idl_writer *w, const struct idl_request *req,
                               struct idl_outcome *out);

/* The id of the newest transaction the writer has committed (or found at
 * start): a read snapshot at or below it holds only durable data. */
uint64_t idl_writer_durable_txnid(const struct idl_writer *w);

#endif

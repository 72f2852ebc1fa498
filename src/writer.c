#include "idlink/writer.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "idlink/log.h"
#include "idlink/metrics.h"

/* One queued change; lives on the submitting thread's stack. */
struct job {
  idl_write_fn fn;
  void *arg;
  enum idl_err err;
  uint64_t txnid; /* the transaction that holds the change */
  struct idl_txn **snapshot; /* a read snapshot of the commit goes here, or NULL */
  int alone;                 /* a deletion: committed in a batch of its own */
  sem_t done;
  struct job *next;
};

/* Every this many commits the writer trims the change log, at most
 * TRIM_MAX entries at a time so that no batch waits long behind it. */
#define TRIM_EVERY 256
#define TRIM_MAX 10000

/* How long a reader waits for a commit it can see to be flushed. */
#define DURABLE_WAIT_S 30

struct idl_writer {
  struct idl_store *store;
  struct idl_writer_opts opts;
  unsigned commits; /* the writer thread's */
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  struct job *head, **tail; /* guarded by lock */
  int stopping;             /* guarded by lock */
  _Atomic uint64_t durable_txnid;
  pthread_mutex_t durable_lock;
  pthread_cond_t durable_moved; /* broadcast when durable_txnid grows */
};

static void set_durable(struct idl_writer *w, uint64_t txnid) {
  if (txnid <= atomic_load(&w->durable_txnid))
    return;
  pthread_mutex_lock(&w->durable_lock);
  atomic_store(&w->durable_txnid, txnid);
  pthread_cond_broadcast(&w->durable_moved);
  pthread_mutex_unlock(&w->durable_lock);
}

/* Runs one job in a transaction nested in parent, so that a failing job
 * leaves the batch's other jobs whole. */
static void run_job(struct idl_writer *w, struct idl_txn *parent, struct job *j) {
  struct idl_txn *txn;
  j->err = idl_txn_begin_write(w->store, parent, &txn);
  if (j->err)
    return;
  j->err = j->fn(txn, j->arg);
  if (j->err)
    idl_txn_abort(txn);
  else
    j->err = idl_txn_commit(txn);
}

/* Applies a batch of jobs in one transaction and commits it once. */
static void run_batch(struct idl_writer *w, struct job *batch) {
  int64_t started = idl_now_us();
  size_t jobs = 0;
  struct idl_txn *txn;
  enum idl_err err = idl_txn_begin_write(w->store, NULL, &txn);
  for (struct job *j = batch; j; j = j->next) {
    if (err) {
      j->err = err;
      continue;
    }
    run_job(w, txn, j);
    jobs++;
  }
  if (err)
    return;
  uint64_t id = idl_txn_id(txn);
  /* Nothing to write: what the jobs read was committed by earlier batches,
   * all of them this thread's and finished: the snapshot is durable. */
  if (!idl_txn_dirty(txn)) {
    idl_txn_abort(txn);
    for (struct job *j = batch; j; j = j->next)
      j->txnid = id - 1;
    set_durable(w, id - 1);
    return;
  }
  int64_t commit_started = idl_now_us();
  err = idl_txn_commit(txn);
  for (struct job *j = batch; j; j = j->next) {
    j->txnid = id;
    if (!j->err)
      j->err = err;
  }
  if (err)
    return;
  set_durable(w, id);
  if (w->opts.committed)
    w->opts.committed(w->opts.arg);
  int64_t done = idl_now_us();
  idl_metrics_commit(jobs, (double)(done - commit_started) / 1e6);
  idl_log_debug("writer: committed %zu requests in %lld us (commit %lld us)", jobs,
                (long long)(done - started), (long long)(done - commit_started));
}

/* Takes up to max_batch jobs off the queue; NULL when stopping and empty.
 * A deletion makes a batch of its own: the jobs committed before it are
 * answered from their commit's snapshot, which must not hold the deletion
 * of what they made. */
static struct job *take_batch(struct idl_writer *w) {
  pthread_mutex_lock(&w->lock);
  while (!w->head && !w->stopping)
    pthread_cond_wait(&w->wake, &w->lock);
  struct job *batch = w->head, **link = &w->head;
  for (size_t n = 0; *link && n < w->opts.max_batch; n++) {
    if (n > 0 && ((*link)->alone || batch->alone))
      break;
    link = &(*link)->next;
  }
  w->head = *link;
  *link = NULL;
  if (!w->head)
    w->tail = &w->head;
  pthread_mutex_unlock(&w->lock);
  return batch;
}

/* Deletes the oldest log entries past the retention bound, and never one
 * the mirror has not applied. */
static void trim_log(struct idl_writer *w) {
  struct idl_txn *txn;
  struct idl_store_info info;
  if (idl_txn_begin_write(w->store, NULL, &txn))
    return;
  enum idl_err err = idl_store_info(txn, &info);
  size_t deleted = 0;
  if (!err && info.log_entries > w->opts.log_retain) {
    uint64_t upto = info.last_seq - w->opts.log_retain;
    if (w->opts.trim_floor) {
      uint64_t floor = w->opts.trim_floor(w->opts.arg);
      upto = floor < upto ? floor : upto;
    }
    err = idl_store_trim_log(txn, upto, TRIM_MAX, &deleted);
  }
  if (err || !deleted) {
    idl_txn_abort(txn);
    return;
  }
  uint64_t id = idl_txn_id(txn);
  if (!idl_txn_commit(txn)) {
    set_durable(w, id);
    idl_log_debug("writer: trimmed %zu change-log entries", deleted);
  }
}

static void *writer_main(void *arg) {
  struct idl_writer *w = arg;
  struct job *batch;
  while ((batch = take_batch(w))) {
    run_batch(w, batch);
    /* Before anything else is written: the snapshots see this commit. */
    for (struct job *j = batch; j; j = j->next)
      if (j->snapshot && (j->err || idl_txn_begin_read(w->store, j->snapshot)))
        *j->snapshot = NULL;
    if (++w->commits % TRIM_EVERY == 0)
      trim_log(w);
    for (struct job *j = batch, *next; j; j = next) {
      next = j->next; /* j is gone once posted */
      sem_post(&j->done);
    }
  }
  return NULL;
}

enum idl_err idl_writer_start(struct idl_store *s, const struct idl_writer_opts *opts,
                              struct idl_writer **out) {
  struct idl_txn *txn;
  enum idl_err err = idl_txn_begin_read(s, &txn);
  if (err)
    return err;
  uint64_t txnid = idl_txn_id(txn);
  idl_txn_abort(txn);
  struct idl_writer *w = calloc(1, sizeof(*w));
  if (!w)
    return IDL_ERR_NOMEM;
  w->store = s;
  w->opts = *opts;
  if (!w->opts.max_batch)
    w->opts.max_batch = IDL_WRITER_DEFAULT_BATCH;
  if (!w->opts.log_retain)
    w->opts.log_retain = IDL_WRITER_DEFAULT_RETAIN;
  w->tail = &w->head;
  atomic_init(&w->durable_txnid, txnid);
  pthread_mutex_init(&w->lock, NULL);
  pthread_cond_init(&w->wake, NULL);
  pthread_mutex_init(&w->durable_lock, NULL);
  pthread_cond_init(&w->durable_moved, NULL);
  if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
    idl_log_error("writer: cannot start its thread");
    pthread_cond_destroy(&w->durable_moved);
    pthread_mutex_destroy(&w->durable_lock);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return IDL_ERR_NOMEM;
  }
  *out = w;
  return IDL_ERR_OK;
}

void idl_writer_stop(struct idl_writer *w) {
  if (!w)
    return;
  pthread_mutex_lock(&w->lock);
  w->stopping = 1;
  pthread_cond_signal(&w->wake);
  pthread_mutex_unlock(&w->lock);
  pthread_join(w->thread, NULL);
  pthread_cond_destroy(&w->durable_moved);
  pthread_mutex_destroy(&w->durable_lock);
  pthread_cond_destroy(&w->wake);
  pthread_mutex_destroy(&w->lock);
  free(w);
}

static enum idl_err submit(struct idl_writer *w, idl_write_fn fn, void *arg, uint64_t *txnid,
                           struct idl_txn **snapshot, int alone) {
  struct job j = {.fn = fn, .arg = arg, .snapshot = snapshot, .alone = alone};
  if (snapshot)
    *snapshot = NULL;
  sem_init(&j.done, 0, 0);
  pthread_mutex_lock(&w->lock);
  if (w->stopping) {
    pthread_mutex_unlock(&w->lock);
    sem_destroy(&j.done);
    return IDL_ERR_SHUTDOWN;
  }
  *w->tail = &j;
  w->tail = &j.next;
  pthread_cond_signal(&w->wake);
  pthread_mutex_unlock(&w->lock);
  while (sem_wait(&j.done) != 0)
    ; /* EINTR: keep waiting, the writer always posts */
  sem_destroy(&j.done);
  if (!j.err && txnid)
    *txnid = j.txnid;
  return j.err;
}

enum idl_err idl_writer_submit(struct idl_writer *w, idl_write_fn fn, void *arg,
                               uint64_t *txnid) {
  return submit(w, fn, arg, txnid, NULL, 0);
}

enum idl_err idl_writer_submit_read(struct idl_writer *w, idl_write_fn fn, void *arg,
                                    struct idl_txn **snapshot) {
  return submit(w, fn, arg, NULL, snapshot, 0);
}

enum idl_err idl_writer_submit_deletion(struct idl_writer *w, idl_write_fn fn, void *arg) {
  return submit(w, fn, arg, NULL, NULL, 1);
}

uint64_t idl_writer_durable_txnid(const struct idl_writer *w) {
  return atomic_load(&w->durable_txnid);
}

enum idl_err idl_writer_wait_durable(struct idl_writer *w, uint64_t txnid) {
  if (atomic_load(&w->durable_txnid) >= txnid)
    return IDL_ERR_OK;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += DURABLE_WAIT_S;
  int rc = 0;
  pthread_mutex_lock(&w->durable_lock);
  while (atomic_load(&w->durable_txnid) < txnid && rc != ETIMEDOUT)
    rc = pthread_cond_timedwait(&w->durable_moved, &w->durable_lock, &until);
  pthread_mutex_unlock(&w->durable_lock);
  /* A commit readers could see that never finished: its flush failed. */
  return atomic_load(&w->durable_txnid) >= txnid ? IDL_ERR_OK : IDL_ERR_IO;
}

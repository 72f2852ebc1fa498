/* What the command-line tools share: reading a whole input, writing a file
 * atomically, and progress on a terminal. */
#ifndef IDLINK_TOOLKIT_H
#define IDLINK_TOOLKIT_H

#include <stddef.h>
#include <stdint.h>

#include "idlink/err.h"

/* The idl_err of a system error number (errno): IDL_ERR_FULL for a full disk
 * or quota, IDL_ERR_NOMEM, else IDL_ERR_IO. The number itself, through
 * strerror(), is what a message should show. */
enum idl_err idl_errno_err(int e);

/* Reads all of path ("-" or NULL: standard input) into a new buffer *buf
 * (free with free()). On failure writes the cause into why. */
enum idl_err idl_read_all(const char *path, char **buf, size_t *len, char *why,
                          size_t why_len);

/* A file written under a temporary name beside path, then fsynced and renamed
 * into place, so that path never holds half a file. A symbolic link is
 * followed (the file it names is replaced, not the link); a path that is not
 * a regular file (a FIFO, a device such as /dev/stdout's) is written to
 * directly, as it cannot be replaced. */
struct idl_atomic_file {
  int fd;
  int direct; /* written in place: path is no regular file */
  char path[4096];
  char tmp[4096 + 16];
};

enum idl_err idl_atomic_open(struct idl_atomic_file *f, const char *path, char *why,
                             size_t why_len);
/* Syncs and renames into place (and syncs the folder). */
enum idl_err idl_atomic_commit(struct idl_atomic_file *f, char *why, size_t why_len);
/* Removes the temporary file. */
void idl_atomic_abort(struct idl_atomic_file *f);

/* LMDB trusts the pages of its file: a store damaged on disk can make a
 * read fault (SIGSEGV, SIGBUS). From here on such a fault writes "PROGRAM:
 * DIR/data.mdb: ..." on standard error, saying the store may be damaged and
 * how to check it, and then ends the program with exit_code, or, when
 * exit_code is negative, with the signal itself (a core for a server). Not
 * in a sanitizer build, whose own report says more. */
void idl_report_store_faults(const char *program, const char *dir, int exit_code);

/* Progress on standard error: rows done, rate and percent of total (when
 * known), redrawn in place. Silent unless standard error is a terminal. */
struct idl_progress {
  const char *what;
  int enabled;
  int64_t started_ms;
};

void idl_progress_init(struct idl_progress *p, const char *what, int quiet);
/* An idl_progress_fn: arg is the struct idl_progress. */
void idl_progress_show(uint64_t done, uint64_t total, void *arg);
/* Ends the progress line. */
void idl_progress_done(struct idl_progress *p);

#endif

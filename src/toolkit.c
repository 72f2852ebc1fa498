#include "idlink/toolkit.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "idlink/contact.h"


enum idl_err idl_errno_err(int e) {
  return e == ENOSPC || e == EDQUOT ? IDL_ERR_FULL : e == ENOMEM ? IDL_ERR_NOMEM : IDL_ERR_IO;
}

enum idl_err idl_read_all(const char *path, char **buf, size_t *len, char *why,
                          size_t why_len) {
  int stdin_ = !path || strcmp(path, "-") == 0;
  const char *name = stdin_ ? "standard input" : path;
  int fd = stdin_ ? 0 : open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return idl_why(why, why_len, idl_errno_err(errno), "%s: %s", name, strerror(errno));
  struct stat st;
  size_t cap = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 1 << 20;
  size_t n = 0;
  char *b = malloc(cap);
  enum idl_err err = b ? IDL_ERR_OK
                       : idl_why(why, why_len, IDL_ERR_NOMEM, "%s: out of memory", name);
  while (!err) {
    if (n == cap) {
      char *grown = realloc(b, cap * 2);
      if (!grown) {
        err = idl_why(why, why_len, IDL_ERR_NOMEM, "%s: out of memory", name);
        break;
      }
      b = grown;
      cap *= 2;
    }
    ssize_t got = read(fd, b + n, cap - n);
    if (got == 0)
      break;
    if (got < 0 && errno != EINTR)
      err = idl_why(why, why_len, idl_errno_err(errno), "%s: %s", name, strerror(errno));
    else if (got > 0)
      n += (size_t)got;
  }
  if (!stdin_)
    close(fd);
  if (err) {
    free(b);
    return err;
  }
  *buf = b;
  *len = n;
  return IDL_ERR_OK;
}

enum idl_err idl_atomic_open(struct idl_atomic_file *f, const char *path, char *why,
                             size_t why_len) {
  *f = (struct idl_atomic_file){.fd = -1};
  struct stat st;
  char *real = realpath(path, NULL); /* NULL when path is not there (yet) */
  snprintf(f->path, sizeof(f->path), "%s", real ? real : path);
  free(real);
  if (stat(f->path, &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode))
      return idl_why(why, why_len, IDL_ERR_INVAL, "%s: is a folder", path);
    f->direct = 1;
    f->fd = open(f->path, O_WRONLY | O_CLOEXEC);
    if (f->fd < 0)
      return idl_why(why, why_len, idl_errno_err(errno), "%s: %s", path, strerror(errno));
    return IDL_ERR_OK;
  }
  snprintf(f->tmp, sizeof(f->tmp), "%s.tmp-XXXXXX", f->path);
  f->fd = mkostemp(f->tmp, O_CLOEXEC);
  if (f->fd < 0)
    return idl_why(why, why_len, idl_errno_err(errno), "%s: cannot create a file beside it: %s",
                path, strerror(errno));
  fchmod(f->fd, 0640);
  return IDL_ERR_OK;
}

enum idl_err idl_atomic_commit(struct idl_atomic_file *f, char *why, size_t why_len) {
  int e = fsync(f->fd) == 0 || (f->direct && (errno == EINVAL || errno == EROFS)) ? 0 : errno;
  if (close(f->fd) != 0 && !e)
    e = errno;
  f->fd = -1;
  if (!e && !f->direct && rename(f->tmp, f->path) != 0)
    e = errno;
  if (e) {
    if (!f->direct)
      unlink(f->tmp);
    return idl_why(why, why_len, idl_errno_err(e), "%s: %s", f->path, strerror(e));
  }
  if (f->direct)
    return IDL_ERR_OK;
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s", f->path);
  int dfd = open(dirname(dir), O_RDONLY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return IDL_ERR_OK;
}

void idl_atomic_abort(struct idl_atomic_file *f) {
  if (f->fd >= 0)
    close(f->fd);
  f->fd = -1;
  if (!f->direct && f->tmp[0])
    unlink(f->tmp);
}

void idl_progress_init(struct idl_progress *p, const char *what, int quiet) {
  p->what = what;
  p->enabled = !quiet && isatty(2);
  p->started_ms = idl_now_ms();
}

void idl_progress_show(uint64_t done, uint64_t total, void *arg) {
  struct idl_progress *p = arg;
  if (!p->enabled)
    return;
  double secs = (double)(idl_now_ms() - p->started_ms) / 1000.0;
  double rate = secs > 0 ? (double)done / secs : 0;
  if (total)
    fprintf(stderr, "\r%s: %llu of %llu rows (%.0f%%), %.0f rows/s   ", p->what,
            (unsigned long long)done, (unsigned long long)total,
            100.0 * (double)done / (double)total, rate);
  else
    fprintf(stderr, "\r%s: %llu rows, %.0f rows/s   ", p->what, (unsigned long long)done,
            rate);
}

void idl_progress_done(struct idl_progress *p) {
  if (p->enabled)
    fputc('\n', stderr);
}

/* ------------------------------------------------------------ store faults */

static char fault_message[1024];
static size_t fault_len;
static int fault_exit;

static void on_fault(int sig) {
  ssize_t w = write(STDERR_FILENO, fault_message, fault_len);
  (void)w;
  if (fault_exit >= 0)
    _exit(fault_exit);
  signal(sig, SIG_DFL);
  raise(sig);
}

void idl_report_store_faults(const char *program, const char *dir, int exit_code) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
  (void)program, (void)dir, (void)exit_code;
#else
  int checker = strcmp(program, "idlink-check") == 0;
  int n = snprintf(fault_message, sizeof(fault_message),
                   "%s: %s/data.mdb: a read faulted: the store %s damaged on disk; %s%s%sa "
                   "snapshot restores it\n", program, dir, checker ? "is" : "may be",
                   checker ? "" : "idlink-check --data ", checker ? "" : dir,
                   checker ? "" : " tells, and ");
  fault_len = n < 0 ? 0 : (size_t)n < sizeof(fault_message) ? (size_t)n : sizeof(fault_message) - 1;
  fault_exit = exit_code;
  struct sigaction sa = {.sa_handler = on_fault};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
#endif
}

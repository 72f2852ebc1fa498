/* idlink error codes: one table gives the enum, the messages and the HTTP status. */
#ifndef IDLINK_ERR_H
#define IDLINK_ERR_H

#include <stddef.h>

/* XX(name, http status, message) */
#define IDL_ERR_MAP(XX)                                                        \
  XX(OK, 200, "success")                                                       \
  XX(NOTFOUND, 404, "not found")                                               \
  XX(INVAL, 400, "invalid argument")                                           \
  XX(NOMEM, 500, "out of memory")                                              \
  XX(FULL, 507, "the store cannot take the write (disk or map full)")          \
  XX(IO, 500, "store or I/O failure")                                          \
  XX(CORRUPT, 500, "stored data is corrupt")                                   \
  XX(LOCKED, 503, "the data folder is in use by another process")              \
  XX(VERSION, 500, "the store was written by an unknown schema version")       \
  XX(SHUTDOWN, 503, "the server is shutting down")                            \
  XX(STOP, 200, "stopped by its callback")

enum idl_err {
#define XX(name, status, msg) IDL_ERR_##name,
  IDL_ERR_MAP(XX)
#undef XX
};

/* A static message describing err; never NULL. */
const char *idl_strerror(enum idl_err err);

/* The symbolic name of err ("NOTFOUND"); never NULL. */
const char *idl_err_name(enum idl_err err);

/* The HTTP status a request failing with err answers with. */
int idl_err_http_status(enum idl_err err);

/* Writes a message (printf-style) into why, why_len bytes, and returns err:
 * how a call that can fail for a reason a person must read says why. */
enum idl_err idl_why(char *why, size_t why_len, enum idl_err err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif

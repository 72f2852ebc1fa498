#include "idlink/err.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#define XX(name, status, msg) [IDL_ERR_##name] = msg,
static const char *const messages[] = {IDL_ERR_MAP(XX)};
#undef XX

#define XX(name, status, msg) [IDL_ERR_##name] = #name,
static const char *const names[] = {IDL_ERR_MAP(XX)};
#undef XX

#define XX(name, status, msg) [IDL_ERR_##name] = status,
static const int statuses[] = {IDL_ERR_MAP(XX)};
#undef XX

#define IN_TABLE(err) ((unsigned)(err) < sizeof(names) / sizeof(names[0]))

const char *idl_strerror(enum idl_err err) {
  return IN_TABLE(err) ? messages[err] : "unknown error";
}

const char *idl_err_name(enum idl_err err) {
  return IN_TABLE(err) ? names[err] : "UNKNOWN";
}

int idl_err_http_status(enum idl_err err) {
  return IN_TABLE(err) ? statuses[err] : 500;
}

enum idl_err idl_why(char *why, size_t why_len, enum idl_err err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, why_len, fmt, ap);
  va_end(ap);
  return err;
}

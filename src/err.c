#include "idlink/err.h"

#include <stddef.h>

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

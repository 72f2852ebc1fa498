/* The HTTP front end: civetweb set-up and the route table (SPEC section 3). */
#ifndef IDLINK_HTTP_H
#define IDLINK_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "idlink/service.h"

struct idl_http;

/* The access log (http_log.c): where is NULL or "-" for stderr, "off" for
 * none (*out NULL), or a file appended to. IDL_ERR_INVAL with why when the
 * file cannot be opened. */
struct idl_access_log;
enum idl_err idl_access_log_open(const char *where, struct idl_access_log **out, char *why,
                                 size_t why_len);
void idl_access_log_close(struct idl_access_log *l);

/* Tokens with roles (SPEC section 11; http_auth.c): a read token reads, a
 * write token also writes, an admin token also erases. */
enum idl_role { IDL_ROLE_READ, IDL_ROLE_WRITE, IDL_ROLE_ADMIN };
struct idl_tokens;

/* Reads the token file path (lines "TOKEN ROLE [NAME]"). IDL_ERR_INVAL with
 * why naming the file and line when it cannot. */
enum idl_err idl_tokens_open(const char *path, struct idl_tokens **out, char *why,
                             size_t why_len);
/* Reads the file again (SIGHUP); on an error the tokens stay, and it is logged. */
enum idl_err idl_tokens_reload(struct idl_tokens *t);
void idl_tokens_close(struct idl_tokens *t);

struct idl_http_opts {
  const char *listen;  /* "ADDR:PORT" */
  unsigned threads;    /* worker threads */
  size_t max_body;     /* larger bodies get 413 */
  size_t max_upload;   /* larger import uploads get 413 */
  int64_t crm_channel; /* the channel of seed 003's customers */
  unsigned peer_bodies; /* bodies one address may send at once; 0: the default */
  unsigned peer_connections; /* connections one address may hold; 0: half the threads */
  struct idl_tokens *tokens; /* NULL: no token file, every route open */
  struct idl_access_log *access_log; /* NULL: none */
  const char *tls_cert, *tls_key; /* PEM files: HTTPS instead of HTTP; NULL: HTTP */
};

#define IDL_HTTP_DEFAULT_PEER_BODIES 32

/* civetweb's timeouts and head limit, as its options take them: a request
 * head must arrive within the first, an idle keep-alive connection closes
 * after the second. The benchmarks' ceiling server uses the same. */
#define IDL_HTTP_REQUEST_TIMEOUT_MS "3000"
#define IDL_HTTP_KEEP_ALIVE_TIMEOUT_MS "2000"
#define IDL_HTTP_MAX_HEAD_BYTES "16384"

/* Whether the HTTP library was built with IPv6 (Debian's civetweb is not). */
int idl_http_ipv6(void);

/* Starts listening and serving svc, which must outlive the server. On failure
 * a message naming the cause has been logged. */
enum idl_err idl_http_start(struct idl_service *svc, const struct idl_http_opts *opts,
                            struct idl_http **out);

/* Stops accepting, finishes the requests in flight, frees h. NULL is a no-op. */
void idl_http_stop(struct idl_http *h);

#endif

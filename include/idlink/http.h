/* The HTTP front end: civetweb set-up and the route table (SPEC section 3). */
#ifndef IDLINK_HTTP_H
#define IDLINK_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "idlink/service.h"

struct idl_http;

struct idl_http_opts {
  const char *listen;  /* "ADDR:PORT" */
  unsigned threads;    /* worker threads */
  size_t max_body;     /* larger bodies get 413 */
  size_t max_upload;   /* larger import uploads get 413 */
  int64_t crm_channel; /* the channel of seed 003's customers */
  unsigned peer_bodies; /* bodies one address may send at once; 0: the default */
  unsigned peer_connections; /* connections one address may hold; 0: half the threads */
};

#define IDL_HTTP_DEFAULT_PEER_BODIES 32

/* Whether the HTTP library was built with IPv6 (Debian's civetweb is not). */
int idl_http_ipv6(void);

/* Starts listening and serving svc, which must outlive the server. On failure
 * a message naming the cause has been logged. */
enum idl_err idl_http_start(struct idl_service *svc, const struct idl_http_opts *opts,
                            struct idl_http **out);

/* Stops accepting, finishes the requests in flight, frees h. NULL is a no-op. */
void idl_http_stop(struct idl_http *h);

#endif

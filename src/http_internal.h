/* Shared by the http*.c files only. */
#ifndef IDLINK_HTTP_INTERNAL_H
#define IDLINK_HTTP_INTERNAL_H

#include <civetweb.h>
#include <jansson.h>
#include <stdint.h>

#include "idlink/http.h"
#include "json.h"

/* What a handler gets: the connection, the service, and for routes with an
 * {id} in their template, that id. */
struct idl_req {
  struct mg_connection *conn;
  struct idl_service *svc;
  struct idl_http *http;
  size_t max_body;
  size_t max_upload;   /* an import's file may be this large */
  int64_t crm_channel; /* the channel of seed 003's customers */
  uint64_t id;
  const char *method;
  const char *route;  /* the matched route's template, for logs */
  int head_only;      /* a HEAD request: the answer's head only */
  int close;          /* close the connection after the answer */
  const char *peer;   /* the client's address (behind the TLS front, its own) */
  char token_name[64]; /* the NAME of the request's token, for the access log */
  char route_buf[96];  /* a route template built for the request (a collection's) */
  uint64_t bytes;      /* bytes of the answer sent, for the access log */
};

/* mg_write and mg_send_chunk, counting the bytes into r->bytes. */
int idl_http_write(struct idl_req *r, const void *data, size_t len);
int idl_http_chunk(struct idl_req *r, const void *data, size_t len);

typedef int (*idl_handler)(struct idl_req *r);

/* ---- the guard (http_guard.c): what one client may hold */

struct idl_http_guard;

/* A body being received, watched for its deadline; on the reader's stack. */
struct idl_body_watch {
  char addr[48];        /* the client's address, counted */
  char remote_addr[48]; /* the connection's peer as civetweb sees it */
  int remote_port, server_port;
  int64_t deadline_us;
  int cut; /* its socket's read side was shut */
  struct idl_body_watch *next;
};

enum idl_err idl_guard_start(unsigned peer_bodies, unsigned peer_connections,
                             struct idl_http_guard **out);

/* Counts a connection of addr in, on its first request; -1 (nothing
 * counted) when addr already holds as many as it may. */
int idl_guard_conn_open(struct idl_http_guard *g, const char *addr);
void idl_guard_conn_close(struct idl_http_guard *g, const char *addr);
void idl_guard_stop(struct idl_http_guard *g);

/* Counts a body of the client at peer in and watches it: past deadline_us
 * the read side of ri's socket is shut, ending the read. -1 (nothing
 * counted) when the address already sends as many bodies as it may. */
int idl_guard_body_begin(struct idl_http_guard *g, const struct mg_request_info *ri,
                         const char *peer, int64_t deadline_us, struct idl_body_watch *w);
void idl_guard_body_end(struct idl_http_guard *g, struct idl_body_watch *w);

/* The bytes received so far on ri's connection; -1 when unknown. */
long long idl_guard_bytes_received(const struct mg_request_info *ri);

/* ---- the TLS front (http_tls.c): HTTPS relayed to civetweb on loopback */

struct idl_tls;

/* Reads the certificate chain and key and listens on ADDR:PORT; serves
 * nothing yet. IDL_ERR_INVAL (a file) or IDL_ERR_IO (the address) with why. */
enum idl_err idl_tls_open(const char *listen, const char *cert, const char *key,
                          unsigned max_relays, struct idl_tls **out, char *why,
                          size_t why_len);
/* Accepts TLS connections and relays each to 127.0.0.1:backend_port. */
enum idl_err idl_tls_serve(struct idl_tls *t, int backend_port);
/* The client a connection to civetweb from remote_addr:remote_port speaks
 * for, into peer; 0 when it is not one of the front's. */
int idl_tls_peer(struct idl_tls *t, const char *remote_addr, int remote_port, char *peer,
                 size_t len);
/* Stops accepting; what is open goes on. */
void idl_tls_stop_accepting(struct idl_tls *t);
/* Stops accepting, lets relays pass on civetweb's last bytes, ends them,
 * frees t. NULL is a no-op. */
void idl_tls_close(struct idl_tls *t);

/* One entry of the route table: a method and a path template in which
 * "{id}" stands for a positive decimal id. */
struct idl_route {
  const char *method;
  const char *path;
  idl_handler fn;
};

/* Sends body (consumed) with status. Returns status, for handlers to return. */
int idl_http_send(struct idl_req *r, int status, json_t *body);

/* Sends body (consumed) with status and extra header lines (each ending in
 * CRLF). */
int idl_http_send_extra(struct idl_req *r, int status, json_t *body, const char *extra);

/* Serves /api/v1/{collection}/ paths; 0 when path names no collection. */
int idl_http_resource_route(struct idl_req *r, const char *path);
/* Sets r's route template from a collection's path without serving it; 0
 * when path names no collection. */
int idl_http_resource_template(struct idl_req *r, const char *path);

/* Sends len bytes of JSON text (taken over: freed here) with status. */
int idl_http_send_text(struct idl_req *r, int status, char *text, size_t len);

/* Sends ident framed as frame with 200. */
int idl_http_send_identity(struct idl_req *r, const struct idl_identity_text *ident,
                           enum idl_identity_frame frame);

/* Sends {"detail": message} with status. */
int idl_http_detail(struct idl_req *r, int status, const char *message);

/* Sends the status and message of a failed core call. */
int idl_http_fail(struct idl_req *r, enum idl_err err);

/* Begins receiving a body of at most max bytes (when no length is
 * announced): counts it against the address's bodies and sets w's deadline,
 * past which the guard cuts the read. Returns 0, or the status of the 503 it
 * has answered. End with idl_http_body_end. */
int idl_http_body_begin(struct idl_req *r, long long max, struct idl_body_watch *w);
void idl_http_body_end(struct idl_req *r, struct idl_body_watch *w);

/* Answers 415 for a body of the wrong media type. */
int idl_http_unsupported_type(struct idl_req *r, const char *type);

/* Reads the request body: checks its type (JSON), its size and framing, and
 * that it arrives in time. Returns 0 with *body a new NUL-terminated buffer
 * of *len bytes (the caller frees it), or the status of the error it has
 * already answered. */
int idl_http_read_body(struct idl_req *r, char **body, size_t *len);

/* Reads the request body (as idl_http_read_body) and parses it as a JSON
 * object (idl_json_parse_body). Returns 0 with *out the caller's, or the
 * status of the error it has already answered (400 naming what is wrong). */
int idl_http_read_json(struct idl_req *r, json_t **out);

/* Reads the request body as JSON for an identify call: checks its type and
 * size, parses and normalizes. Returns 0 with req filled, or the status of
 * the error it has already answered. */
int idl_http_read_request(struct idl_req *r, struct idl_request *req);

/* Bulk import into res (customers or products) of the file part of a
 * multipart/form-data request (http_import.c). */
int idl_http_import(struct idl_req *r, const struct idl_resource *res);

/* Serves seed 003's own routes (/api/add/customer, /api/get/product, ...)
 * as aliases of the collections' handlers; 0 when path is none of them
 * (http_seed.c). */
int idl_http_seed_route(struct idl_req *r, const char *path);

/* The token role seed 003's route path needs; 0 when path is none of its
 * routes. */
int idl_http_seed_role(const char *path, enum idl_role *role);

/* ---- the generic handlers' helpers (http_resource.c), for the aliases */

/* Answers the errors of a refused request: 400 with field errors, or the
 * status and body a check chose. */
int idl_http_send_errors(struct idl_req *r, const struct idl_errors *e);

/* Answers a page of res's list, filtered, ordered and paged by the query
 * string as SPEC section 7 says. */
int idl_http_list(struct idl_req *r, const struct idl_resource *res);

/* Answers 405 with an Allow header of allow ("GET, HEAD"). */
int idl_http_not_allowed(struct idl_req *r, const char *allow);

/* Appends s form-encoded, as Python's urlencode does (space as '+'). */
void idl_http_put_encoded(struct idl_text *t, const char *s);

/* Answers the export of the records of res that the filters of query (a
 * query string; NULL: every record) select, as GET
 * /api/v1/{collection}/export/ does. */
int idl_http_export(struct idl_req *r, const struct idl_resource *res, const char *query);

/* Writes r's line to the access log (NULL: none). */
void idl_access_log_write(struct idl_access_log *l, const struct idl_req *r, int status,
                          int64_t started_us);

/* The role a request needs: admin for /erasure, read for GET, HEAD and the
 * read-only lookup, write for any other; seed 003's routes as its table
 * says (its GET /api/delete/customer writes). */
enum idl_role idl_route_role(const char *method, const char *path);
/* A role as the token file names it: "read", "write", "admin". */
const char *idl_role_name(enum idl_role role);

/* Checks r's token against role needed: 0, or the status of the 401 or 403
 * it has answered. */
int idl_tokens_check(struct idl_tokens *t, struct idl_req *r, enum idl_role needed);

/* Handlers, one file per resource. */
int idl_handle_identify(struct idl_req *r);
int idl_handle_create(struct idl_req *r);
int idl_handle_lookup(struct idl_req *r);
int idl_handle_contact(struct idl_req *r);
int idl_handle_identity(struct idl_req *r);
int idl_handle_changes(struct idl_req *r);
int idl_handle_healthz(struct idl_req *r);
int idl_handle_identity_view(struct idl_req *r);
int idl_handle_identity_find(struct idl_req *r);
int idl_handle_upload(struct idl_req *r);
int idl_handle_contact_delete(struct idl_req *r);
int idl_handle_explain(struct idl_req *r);
int idl_handle_blocklist(struct idl_req *r);
int idl_handle_conflicts(struct idl_req *r);
int idl_handle_erasure(struct idl_req *r);
int idl_handle_metrics(struct idl_req *r);
int idl_handle_openapi(struct idl_req *r);
int idl_handle_upload_page(struct idl_req *r);
int idl_handle_console(struct idl_req *r);

#endif

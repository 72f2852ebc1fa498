/* civetweb set-up, the route table, and the helpers every handler shares:
 * reading a JSON body, sending a JSON answer, and the one way errors leave.
 *
 * civetweb gives each connection a worker thread of its own from the moment
 * it is accepted, so what one client can hold is bounded here: the request
 * head must arrive within REQUEST_TIMEOUT_MS, an idle keep-alive connection
 * is closed after KEEP_ALIVE_TIMEOUT_MS, a body must arrive within its
 * deadline (the guard of http_guard.c cuts it off after), and one address may
 * send at most peer_bodies bodies at once and hold at most peer_connections
 * connections that sent a request. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_internal.h"
#include "openapi_internal.h"
#include "idlink/metrics.h"

#include "json.h"
#include "idlink/log.h"

/* Pre-request time: the whole request head must arrive within this (civetweb
 * also waits this long at most for each read of a body). */
#define REQUEST_TIMEOUT_MS IDL_HTTP_REQUEST_TIMEOUT_MS
/* Idle time between two requests of a keep-alive connection. */
#define KEEP_ALIVE_TIMEOUT_MS IDL_HTTP_KEEP_ALIVE_TIMEOUT_MS
/* Bytes of a request line and headers; more is answered 431. */
#define MAX_HEAD_BYTES IDL_HTTP_MAX_HEAD_BYTES
/* A body must arrive within BODY_BASE_US plus BODY_US_PER_KIB per KiB
 * announced: 1 MiB at 64 KiB/s or better. */
#define BODY_BASE_US 10000000LL
#define BODY_US_PER_KIB 15625LL

struct idl_http {
  struct mg_context *ctx;
  char listen[64];      /* ADDR:PORT, for the waker of idl_http_stop */
  struct idl_service *svc;
  size_t max_body, max_upload;
  int64_t crm_channel;
  unsigned peer_bodies, peer_connections;
  struct idl_http_guard *guard;
  struct idl_tokens *tokens;
  struct idl_access_log *access_log;
  struct idl_tls *tls;  /* HTTPS: the front relaying to civetweb; NULL: HTTP */
  atomic_int in_flight; /* requests inside a handler */
  atomic_int draining;  /* set by idl_http_stop: new requests get 503 */
};

/* How long idl_http_stop waits for requests in flight: more than a body may
 * take to arrive, so that only a client that stopped sending is cut. */
#define DRAIN_LIMIT_MS 45000

/* ------------------------------------------------------------- responses */

static struct idl_log_limit server_error_log;

/* Sends len bytes of JSON text (freed here; NULL: out of memory) with status
 * and the extra header lines in extra (each ending in CRLF; may be NULL). To a
 * HEAD request only the head goes. Status line, headers and body leave in one
 * write: civetweb's header calls send each line on its own, which costs a
 * packet per line. */
int idl_http_write(struct idl_req *r, const void *data, size_t len) {
  int n = mg_write(r->conn, data, len);
  if (n > 0)
    r->bytes += (uint64_t)n;
  return n;
}

int idl_http_chunk(struct idl_req *r, const void *data, size_t len) {
  int n = mg_send_chunk(r->conn, data, (unsigned)len);
  if (n > 0)
    r->bytes += len;
  return n;
}

static int send_text(struct idl_req *r, int status, char *text, size_t len,
                     const char *extra) {
  static const char no_memory[] = "{\"detail\":\"Out of memory.\"}";
  if (status == 204) { /* no content: the head alone */
    free(text);
    char head[160];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 204 No Content\r\n%s%s\r\n",
                     r->close ? "Connection: close\r\n" : "", extra ? extra : "");
    idl_http_write(r, head, (size_t)n);
    return 204;
  }
  if (!text)
    status = 500;
  const char *payload = text ? text : no_memory;
  if (!text)
    len = sizeof(no_memory) - 1;
  /* 5xx answers are logged (by route template: paths and queries may hold
   * personal data); 501, 503 and 505 are the client's doing (a method or a
   * transfer coding not spoken, a full server, an HTTP version), so only
   * warnings. */
  if (status >= 500)
    idl_log_limited(&server_error_log,
                    status == 501 || status == 503 || status == 505 ? IDL_LOG_WARN
                                                                    : IDL_LOG_ERROR,
                    "http: %s %s answered %d: %.200s", r->method,
                    r->route ? r->route : "(no route)", status, payload);
  char head[512];
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\n%s%s\r\n",
                   status, mg_get_response_code_text(r->conn, status), len,
                   r->close ? "Connection: close\r\n" : "", extra ? extra : "");
  if (r->close)
    mg_disable_connection_keep_alive(r->conn);
  size_t body = r->head_only ? 0 : len;
  char *out = malloc((size_t)n + body);
  if (out) {
    memcpy(out, head, (size_t)n);
    memcpy(out + n, payload, body);
    idl_http_write(r, out, (size_t)n + body);
  }
  free(out);
  free(text);
  return status;
}

static int send_json(struct idl_req *r, int status, json_t *body, const char *extra) {
  char *text = body ? json_dumps(body, IDL_JSON_DUMP_FLAGS) : NULL;
  json_decref(body);
  return send_text(r, status, text, text ? strlen(text) : 0, extra);
}

int idl_http_send_text(struct idl_req *r, int status, char *text, size_t len) {
  return send_text(r, status, text, len, NULL);
}

int idl_http_send_identity(struct idl_req *r, const struct idl_identity_text *ident,
                           enum idl_identity_frame frame) {
  char head[64] = "";
  if (frame == IDL_FRAME_CUSTOMER)
    snprintf(head, sizeof(head), "{\"customerID\":\"%llu\",\"contact\":",
             (unsigned long long)ident->primary);
  else if (frame == IDL_FRAME_CONTACT)
    snprintf(head, sizeof(head), "{\"contact\":");
  size_t head_len = strlen(head), tail_len = frame == IDL_FRAME_BARE ? 0 : 1;
  size_t len = head_len + ident->len + tail_len;
  char *text = malloc(len + 1);
  if (text) {
    memcpy(text, head, head_len);
    memcpy(text + head_len, ident->json, ident->len);
    memcpy(text + head_len + ident->len, "}", tail_len + 1);
  }
  return send_text(r, 200, text, len, NULL);
}

int idl_http_send(struct idl_req *r, int status, json_t *body) {
  return send_json(r, status, body, NULL);
}

int idl_http_send_extra(struct idl_req *r, int status, json_t *body, const char *extra) {
  return send_json(r, status, body, extra);
}

int idl_http_detail(struct idl_req *r, int status, const char *message) {
  return idl_http_send(r, status, idl_json_detail("%s", message));
}

int idl_http_fail(struct idl_req *r, enum idl_err err) {
  if (err == IDL_ERR_NOTFOUND)
    return idl_http_detail(r, 404, "Not found.");
  char msg[160];
  snprintf(msg, sizeof(msg), "%c%s.", toupper((unsigned char)idl_strerror(err)[0]),
           idl_strerror(err) + 1);
  return idl_http_detail(r, idl_err_http_status(err), msg);
}

/* ------------------------------------------------------------ the body */

/* Whether a Content-Type names JSON: application/json or a +json type. */
static int is_json_type(const char *type) {
  size_t len = strcspn(type, ";");
  while (len && isspace((unsigned char)type[len - 1]))
    len--;
  while (len && isspace((unsigned char)*type)) {
    type++;
    len--;
  }
  return (len == 16 && strncasecmp(type, "application/json", 16) == 0) ||
         (len > 5 && strncasecmp(type + len - 5, "+json", 5) == 0);
}

enum body_status { BODY_OK, BODY_TOO_LARGE, BODY_NOMEM, BODY_SHORT, BODY_LATE, BODY_FRAMING };

/* Reads the whole body into a new NUL-terminated buffer within its deadline.
 * *len says how much came, also when it fails. */
static enum body_status read_body(struct idl_req *r, int64_t deadline, char **out,
                                  size_t *len) {
  long long declared = mg_get_request_info(r->conn)->content_length;
  *len = 0;
  if (declared > (long long)r->max_body)
    return BODY_TOO_LARGE;
  size_t cap = declared >= 0 ? (size_t)declared : 4096, n = 0;
  enum body_status st = BODY_OK;
  char *buf = malloc(cap + 1);
  while (buf) {
    if (n == cap) {
      if (declared >= 0)
        break;
      if (cap > r->max_body) {
        st = BODY_TOO_LARGE;
        break;
      }
      char *grown = realloc(buf, cap * 2 + 1);
      if (!grown)
        break;
      buf = grown;
      cap *= 2;
    }
    if (idl_now_us() > deadline) {
      st = BODY_LATE;
      break;
    }
    /* Past the deadline the guard shuts the socket's read side, which ends
     * this read at once. */
    int64_t asked_us = idl_now_us();
    int got = mg_read(r->conn, buf + n, cap - n);
    /* A chunked body's read fails alike on a broken chunk and on one that
     * stopped coming (civetweb waits REQUEST_TIMEOUT_MS for each read): the
     * time the read took tells them apart. */
    if (got < 0 && declared < 0) {
      int64_t now = idl_now_us();
      st = now > deadline ? BODY_LATE
           : now - asked_us >= (atoll(REQUEST_TIMEOUT_MS) - 250) * 1000 ? BODY_SHORT
                                                                     : BODY_FRAMING;
    }
    if (got <= 0)
      break;
    n += (size_t)got;
    /* A read that waited out civetweb's timeout for the rest of what it
     * asked ended with the bytes it had: the body stopped coming, 3 s ago.
     * Asking again would wait 3 s more. */
    if ((size_t)got < cap - (n - (size_t)got) &&
        idl_now_us() - asked_us >= (atoll(REQUEST_TIMEOUT_MS) - 250) * 1000) {
      if (declared < 0)
        st = idl_now_us() > deadline ? BODY_LATE : BODY_SHORT;
      break;
    }
  }
  *len = n;
  if (!buf)
    return BODY_NOMEM;
  if (st == BODY_OK && declared >= 0 && n < (size_t)declared)
    st = idl_now_us() > deadline ? BODY_LATE : BODY_SHORT;
  if (st == BODY_OK && n > r->max_body)
    st = BODY_TOO_LARGE;
  if (st != BODY_OK) {
    free(buf);
    return st;
  }
  buf[n] = '\0';
  *out = buf;
  return BODY_OK;
}

/* Answers a body that could not be read; every such answer closes the
 * connection, since the rest of the body may still be on its way. */
static int body_failed(struct idl_req *r, enum body_status st, size_t got) {
  char msg[160];
  long long declared = mg_get_request_info(r->conn)->content_length;
  r->close = 1;
  switch (st) {
  case BODY_TOO_LARGE:
    snprintf(msg, sizeof(msg), "Request body is larger than %zu bytes.", r->max_body);
    return idl_http_detail(r, 413, msg);
  case BODY_NOMEM:
    return idl_http_fail(r, IDL_ERR_NOMEM);
  case BODY_FRAMING:
    return idl_http_detail(r, 400, "Malformed chunked body: a chunk size is not a "
                           "hexadecimal number followed by CRLF (chunk extensions are not "
                           "taken).");
  case BODY_LATE:
    if (declared >= 0)
      snprintf(msg, sizeof(msg), "The request body did not arrive in time: %zu of the "
               "%lld bytes came.", got, declared);
    else
      snprintf(msg, sizeof(msg), "The request body did not arrive in time: %zu bytes "
               "came.", got);
    return idl_http_detail(r, 408, msg);
  default:
    /* The client stopped sending before the end of its body (or left). */
    if (declared >= 0)
      snprintf(msg, sizeof(msg), "The request body ended after %zu of the %lld bytes "
               "announced.", got, declared);
    else
      snprintf(msg, sizeof(msg), "The request body stopped arriving after %zu bytes.", got);
    return idl_http_detail(r, 408, msg);
  }
}

int idl_http_body_begin(struct idl_req *r, long long max, struct idl_body_watch *w) {
  const struct mg_request_info *ri = mg_get_request_info(r->conn);
  long long declared = ri->content_length;
  long long kib = (declared >= 0 ? declared : max) / 1024;
  w->deadline_us = idl_now_us() + BODY_BASE_US + kib * BODY_US_PER_KIB;
  if (idl_guard_body_begin(r->http->guard, ri, r->peer, w->deadline_us, w) != 0) {
    r->close = 1;
    char msg[160];
    snprintf(msg, sizeof(msg), "Too many requests from your address are sending a body "
             "at once (at most %u).", r->http->peer_bodies);
    return send_json(r, 503, idl_json_detail("%s", msg), "Retry-After: 1\r\n");
  }
  return 0;
}

void idl_http_body_end(struct idl_req *r, struct idl_body_watch *w) {
  idl_guard_body_end(r->http->guard, w);
}

int idl_http_read_body(struct idl_req *r, char **body, size_t *len) {
  const char *type = mg_get_header(r->conn, "Content-Type");
  if (type && !is_json_type(type))
    return idl_http_unsupported_type(r, type);
  struct idl_body_watch watch;
  int status = idl_http_body_begin(r, (long long)r->max_body, &watch);
  if (status)
    return status;
  enum body_status st = read_body(r, watch.deadline_us, body, len);
  idl_http_body_end(r, &watch);
  return st == BODY_OK ? 0 : body_failed(r, st, *len);
}

int idl_http_unsupported_type(struct idl_req *r, const char *type) {
  char msg[160];
  snprintf(msg, sizeof(msg), "Unsupported media type \"%.100s\" in request.", type);
  return idl_http_detail(r, 415, msg);
}

int idl_http_read_json(struct idl_req *r, json_t **out) {
  char *text = NULL;
  size_t len = 0;
  int status = idl_http_read_body(r, &text, &len);
  if (status)
    return status;
  json_t *error = NULL;
  enum idl_err err = idl_json_parse_body(text, len, out, &error);
  free(text);
  return err ? idl_http_send(r, 400, error) : 0;
}

int idl_http_read_request(struct idl_req *r, struct idl_request *req) {
  char *body = NULL;
  size_t len = 0;
  int status = idl_http_read_body(r, &body, &len);
  if (status)
    return status;
  json_t *error = NULL;
  enum idl_err err = idl_json_parse_request(body, len, req, &error);
  free(body);
  if (err)
    return idl_http_send(r, 400, error);
  return 0;
}

/* ------------------------------------------------------------- routing */

static const struct idl_route routes[] = {
    {"POST", "/identify", idl_handle_identify},
    {"POST", "/api/create/", idl_handle_create},
    {"POST", "/api/identify/", idl_handle_lookup},
    {"GET", "/contacts/{id}", idl_handle_contact},
    {"DELETE", "/contacts/{id}", idl_handle_contact_delete},
    {"GET", "/identities/{id}", idl_handle_identity},
    {"GET", "/identities/{id}/explain", idl_handle_explain},
    {"GET", "/changes", idl_handle_changes},
    {"GET", "/blocklist", idl_handle_blocklist},
    {"GET", "/conflicts", idl_handle_conflicts},
    {"POST", "/erasure", idl_handle_erasure},
    {"GET", "/healthz", idl_handle_healthz},
    {"GET", "/metrics", idl_handle_metrics},
    {"GET", "/openapi.json", idl_handle_openapi},
    {"GET", "/api/v1/identities/", idl_handle_identity_find},
    {"GET", "/api/v1/identities/{id}/", idl_handle_identity_view},
    {"GET", "/console/", idl_handle_console},
    {"GET", "/upload/customers", idl_handle_upload_page},
    {"POST", "/upload/customers", idl_handle_upload},
    {"GET", "/upload/products", idl_handle_upload_page},
    {"POST", "/upload/products", idl_handle_upload},
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

size_t idl_http_routes(const struct idl_route **out) {
  *out = routes;
  return N_ROUTES;
}

/* Parses a positive decimal id of len digits. */
static int parse_id(const char *s, size_t len, uint64_t *out) {
  uint64_t v = 0;
  if (len == 0)
    return -1;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
      return -1;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  /* Ids are served as JSON integers: they stay within int64. */
  if (v == 0 || v > INT64_MAX)
    return -1;
  *out = v;
  return 0;
}

/* Whether path matches template tpl, a literal path in which "{id}" stands
 * for one segment holding a positive decimal id (left in *id). Under
 * /api/v1/ the trailing slash is optional. */
static int path_matches(const char *tpl, const char *path, uint64_t *id) {
  int slash_optional = strncmp(tpl, "/api/v1/", 8) == 0;
  while (*tpl) {
    if (slash_optional && !*path && !strcmp(tpl, "/"))
      return 1;
    if (strncmp(tpl, "{id}", 4) == 0) {
      size_t len = strcspn(path, "/");
      if (parse_id(path, len, id) != 0)
        return 0;
      tpl += 4;
      path += len;
    } else if (*tpl++ != *path++) {
      return 0;
    }
  }
  return *path == '\0';
}

static int method_is(const char *method, const struct idl_route *rt) {
  return strcmp(method, rt->method) == 0 ||
         (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0);
}

/* Names r's route template without serving it: a request refused before
 * routing (a missing token, too many connections) still has its template in
 * the access log and the metrics. */
static void name_route(struct idl_req *r, const char *path) {
  uint64_t id;
  for (size_t i = 0; i < N_ROUTES; i++)
    if (path_matches(routes[i].path, path, &id)) {
      r->route = routes[i].path;
      return;
    }
  enum idl_role role;
  if (!idl_http_resource_template(r, path) && idl_http_seed_role(path, &role)) {
    snprintf(r->route_buf, sizeof(r->route_buf), "%s", path); /* its own template */
    r->route = r->route_buf;
  }
}

static int route(struct idl_req *r, const char *path) {
  const char *method = mg_get_request_info(r->conn)->request_method;
  char allow[96] = "";
  for (size_t i = 0; i < N_ROUTES; i++) {
    uint64_t id = 0;
    if (!path_matches(routes[i].path, path, &id))
      continue;
    if (method_is(method, &routes[i])) {
      r->id = id;
      r->route = routes[i].path;
      return routes[i].fn(r);
    }
    r->route = routes[i].path;
    snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s%s",
             *allow ? ", " : "", routes[i].method,
             strcmp(routes[i].method, "GET") == 0 ? ", HEAD" : "");
  }
  if (!*allow) {
    int status = idl_http_resource_route(r, path);
    if (!status)
      status = idl_http_seed_route(r, path);
    if (!status)
      status = idl_handle_console(r);
    return status ? status : idl_http_detail(r, 404, "Not found.");
  }
  return idl_http_not_allowed(r, allow);
}

/* The number of headers named name in the request. */
static int header_count(const struct mg_request_info *ri, const char *name) {
  int n = 0;
  for (int i = 0; i < ri->num_headers; i++)
    n += strcasecmp(ri->http_headers[i].name, name) == 0;
  return n;
}

/* Whether host is a Host header's value as RFC 9110 has it: a name or an
 * IPv4 address (letters, digits, '-', '.', '_', '~'), or an IPv6 literal in
 * brackets, then an optional :port. Paging links are made of it. */
static int host_valid(const char *host) {
  const char *p = host;
  if (*p == '[') {
    p += 1 + strspn(p + 1, "0123456789abcdefABCDEF:.");
    if (*p++ != ']')
      return 0;
  } else {
    size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~");
    if (n == 0 || n > 253)
      return 0;
    p += n;
  }
  if (*p == ':') {
    size_t digits = strspn(++p, "0123456789");
    if (digits == 0 || digits > 5)
      return 0;
    p += digits;
  }
  return *p == '\0';
}

/* Refuses a request whose body could be framed two ways (the seam of
 * request smuggling): Content-Length given twice, or beside
 * Transfer-Encoding, or not a plain decimal, or headers past the ones
 * civetweb keeps; and one whose Host is missing (HTTP/1.1), given twice or
 * not a host, as RFC 9112 asks (a cache in front must not be handed links
 * to another site). Returns 0 when the head is sound. */
static int framing_refused(struct idl_req *r) {
  const struct mg_request_info *ri = mg_get_request_info(r->conn);
  int lengths = header_count(ri, "Content-Length");
  const char *why = NULL;
  int status = 400;
  if (ri->num_headers >= MG_MAX_HEADERS) {
    /* civetweb keeps this many and silently drops the rest, a
     * Content-Length among them: its body would be read as a request. */
    why = "The request has more than 63 header lines.";
    status = 431;
  } else if (lengths > 1)
    why = "Content-Length is given more than once.";
  else if (lengths && header_count(ri, "Transfer-Encoding"))
    why = "Content-Length and Transfer-Encoding are both given.";
  else if (header_count(ri, "Transfer-Encoding") > 1)
    why = "Transfer-Encoding is given more than once.";
  else if (header_count(ri, "Host") > 1)
    why = "Host is given more than once.";
  else if (!mg_get_header(r->conn, "Host") && ri->http_version &&
           strcmp(ri->http_version, "1.0") != 0)
    why = "An HTTP/1.1 request must send Host.";
  else if (mg_get_header(r->conn, "Host") && !host_valid(mg_get_header(r->conn, "Host")))
    why = "Host is not a host name or address with an optional port.";
  if (!why && lengths) {
    const char *cl = mg_get_header(r->conn, "Content-Length");
    size_t digits = strspn(cl, "0123456789");
    if (digits == 0 || cl[digits] != '\0' || digits > 18)
      why = "Content-Length is not a decimal number of bytes.";
  }
  if (!why)
    return 0;
  r->close = 1;
  return idl_http_detail(r, status, why);
}

/* What idlinkd keeps of a connection (civetweb's user connection data, set
 * on its first request): whom it speaks for, and whether the guard counts it. */
struct conn_data {
  int counted;
  char peer[48]; /* "" behind the TLS front: not a connection of the front */
};

static struct conn_data *conn_data(struct idl_req *r) {
  struct conn_data *d = mg_get_user_connection_data(r->conn);
  if (d || !(d = calloc(1, sizeof(*d))))
    return d;
  const struct mg_request_info *ri = mg_get_request_info(r->conn);
  if (r->http->tls)
    idl_tls_peer(r->http->tls, ri->remote_addr, ri->remote_port, d->peer, sizeof(d->peer));
  else
    snprintf(d->peer, sizeof(d->peer), "%s", ri->remote_addr);
  mg_set_user_connection_data(r->conn, d);
  return d;
}

/* Counts the connection of r's address on its first request; refuses it
 * when the address holds as many as it may. Returns 0 when it may go on. */
static int peer_refused(struct idl_req *r, struct conn_data *d) {
  if (d->counted)
    return 0;
  if (idl_guard_conn_open(r->http->guard, d->peer) == 0) {
    d->counted = 1;
    return 0;
  }
  r->close = 1;
  return send_json(r, 503, idl_json_detail("Too many connections from your address (at most "
                                           "%u).", r->http->peer_connections),
                   "Retry-After: 1\r\n");
}

/* civetweb calls this before it forgets the connection's user data. */
static void connection_close(const struct mg_connection *conn) {
  struct idl_http *h = mg_get_user_data(mg_get_context(conn));
  struct conn_data *d = mg_get_user_connection_data(conn);
  if (d && d->counted)
    idl_guard_conn_close(h->guard, d->peer);
  free(d);
}

static int dispatch(struct mg_connection *conn, void *cbdata) {
  int64_t started_us = idl_now_us();
  struct idl_http *h = cbdata;
  const struct mg_request_info *ri = mg_get_request_info(conn);
  struct idl_req r = {.conn = conn, .svc = h->svc, .http = h, .max_body = h->max_body,
                      .max_upload = h->max_upload, .crm_channel = h->crm_channel,
                      .method = ri->request_method,
                      .head_only = strcmp(ri->request_method, "HEAD") == 0};
  atomic_fetch_add(&h->in_flight, 1);
  /* civetweb is told not to decode paths (decode_url): a %00 would end the
   * decoded string early and /contacts/1%00 would name contact 1. */
  char path[1024];
  int len = mg_url_decode(ri->local_uri, (int)strlen(ri->local_uri), path, sizeof(path), 0);
  int path_ok = len >= 0 && (size_t)len == strlen(path);
  struct conn_data *d = conn_data(&r);
  r.peer = d ? d->peer : ri->remote_addr;
  int status;
  if (!d)
    status = idl_http_send_text(&r, 500, NULL, 0);
  else if (atomic_load(&h->draining))
    status = idl_http_detail(&r, 503, "The server is shutting down.");
  else if (!d->peer[0])
    status = (r.close = 1, idl_http_detail(&r, 403, "This port takes connections from "
                                           "idlinkd's HTTPS front only: use the HTTPS "
                                           "address."));
  else if ((status = peer_refused(&r, d)))
    ;
  else if ((status = framing_refused(&r)))
    ;
  else if (!path_ok)
    status = idl_http_detail(&r, 404, "Not found.");
  else if (h->tokens && strcmp(path, "/healthz") != 0 && strncmp(path, "/console/", 9) != 0 &&
           (status = idl_tokens_check(h->tokens, &r, idl_route_role(r.method, path))))
    ;
  else
    status = route(&r, path);
  /* A refusal before routing is logged and counted under its route's
   * template too; routing named it otherwise. */
  if (!r.route && path_ok)
    name_route(&r, path);
  idl_access_log_write(h->access_log, &r, status, started_us);
  idl_metrics_request(r.route, r.method, status, (double)(idl_now_us() - started_us) / 1e6);
  atomic_fetch_sub(&h->in_flight, 1);
  return status;
}

/* ---------------------------------------------------------- start/stop */

static int authorize_all(struct mg_connection *conn, void *cbdata) {
  (void)conn;
  (void)cbdata;
  return 1;
}

static int log_message(const struct mg_connection *conn, const char *message) {
  (void)conn;
  static struct idl_log_limit limit;
  idl_log_limited(&limit, IDL_LOG_WARN, "http: %s", message);
  return 1;
}

/* When this worker thread began to wait for the next request head of its
 * connection: civetweb reports a head that outgrew its buffer and one that
 * stopped arriving alike ("Malformed message"), and the time waited tells
 * them apart. */
static _Thread_local int64_t head_wait_started_us;

static int init_connection(const struct mg_connection *conn, void **conn_data) {
  (void)conn;
  (void)conn_data;
  head_wait_started_us = idl_now_us();
  return 0;
}

static void end_request(const struct mg_connection *conn, int status) {
  (void)conn;
  (void)status;
  head_wait_started_us = idl_now_us();
}

/* Whether civetweb refused a whole request line for its method alone: a
 * method name (up to 32 capital letters) that it does not know. A method
 * the API speaks was refused for something else (a space in the path). */
static int unknown_method(const struct mg_connection *conn) {
  static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                                      "OPTIONS", "CONNECT"};
  const struct mg_request_info *ri = mg_get_request_info(conn);
  const char *m = ri->request_method;
  size_t n = m ? strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") : 0;
  for (size_t i = 0; n && i < sizeof(known) / sizeof(*known); i++)
    if (!strcmp(m, known[i]))
      return 0;
  return n > 0 && n <= 32 && m[n] == '\0' && ri->request_uri && ri->request_uri[0] == '/' &&
         ri->http_version;
}

/* A transfer coding civetweb refused (anything but chunked), or NULL. */
static const char *unknown_coding(const struct mg_connection *conn) {
  const char *te = mg_get_header(conn, "Transfer-Encoding");
  return te && strcasecmp(te, "chunked") != 0 ? te : NULL;
}

/* civetweb's own refusals (a head too large or late, a bad request line, an
 * unknown method, an HTTP version it does not speak) in the same JSON shape
 * as every other error. */
static int http_error(struct mg_connection *conn, int status, const char *msg) {
  struct idl_http *h = mg_get_user_data(mg_get_context(conn));
  struct idl_req r = {.conn = conn, .http = h, .method = "-", .close = 1};
  const char *detail = msg;
  char method_detail[160];
  const char *coding;
  int64_t waited_ms = (idl_now_us() - head_wait_started_us) / 1000;
  int late = waited_ms >= atoi(KEEP_ALIVE_TIMEOUT_MS) - 100;
  int malformed = status == 400 && strcmp(msg, "Malformed message") == 0;
  /* A head that filled civetweb's buffer came in at least that many bytes;
   * a shorter one that came at once held a byte a head may not hold. */
  long long received = malformed && !late ? idl_guard_bytes_received(mg_get_request_info(conn))
                                          : -1;
  if (status == 413 || (malformed && !late && received >= atoll(MAX_HEAD_BYTES))) {
    status = 431;
    detail = "The request line and headers are larger than " MAX_HEAD_BYTES " bytes.";
  } else if (malformed && late) {
    status = 408;
    detail = "The request head did not arrive in time.";
  } else if (malformed) {
    detail = "Malformed request: the request line or a header holds a byte that is not "
             "allowed.";
  } else if (status == 400 && !strcmp(msg, "Bad request") && unknown_method(conn)) {
    /* A method civetweb does not know (TRACE, LINK, COPY) is refused
     * before routing: 501, as RFC 9110 has it for a method not recognized. */
    status = 501;
    snprintf(method_detail, sizeof(method_detail), "Method \"%s\" is not implemented.",
             mg_get_request_info(conn)->request_method);
    detail = method_detail;
  } else if (status == 400 && (coding = unknown_coding(conn))) {
    status = 501; /* RFC 9112: a transfer coding not understood */
    snprintf(method_detail, sizeof(method_detail),
             "Transfer-Encoding \"%.64s\" is not supported: send the body with "
             "Content-Length, or chunked.", coding);
    detail = method_detail;
  } else if (status == 505) {
    detail = "HTTP version not supported: use HTTP/1.0 or HTTP/1.1.";
  } else if (status == 411 || status == 400) {
    status = 400;
    detail = "Malformed request: the request line or a header cannot be parsed.";
  }
  send_json(&r, status, idl_json_detail("%s", detail), NULL);
  return 0;
}

int idl_http_ipv6(void) { return mg_check_feature(8) != 0; }

enum idl_err idl_http_start(struct idl_service *svc, const struct idl_http_opts *opts,
                            struct idl_http **out) {
  if (opts->listen[0] == '[' && !idl_http_ipv6()) {
    idl_log_error("http: cannot listen on %s: this civetweb is built without IPv6",
                  opts->listen);
    return IDL_ERR_INVAL;
  }
  struct idl_http *h = calloc(1, sizeof(*h));
  if (!h)
    return IDL_ERR_NOMEM;
  h->svc = svc;
  h->max_body = opts->max_body;
  h->tokens = opts->tokens;
  h->access_log = opts->access_log;
  h->max_upload = opts->max_upload ? opts->max_upload : (size_t)64 << 20;
  h->crm_channel = opts->crm_channel > 0 ? opts->crm_channel : 1;
  snprintf(h->listen, sizeof(h->listen), "%s", opts->listen);
  h->peer_bodies = opts->peer_bodies ? opts->peer_bodies : IDL_HTTP_DEFAULT_PEER_BODIES;
  /* By default an address may hold half the pool (at least 64, so that a
   * small pool still serves a client's usual connections). */
  h->peer_connections = opts->peer_connections ? opts->peer_connections
                        : opts->threads / 2 > 64 ? opts->threads / 2
                                                 : 64;
  if (idl_guard_start(h->peer_bodies, h->peer_connections, &h->guard)) {
    free(h);
    return IDL_ERR_NOMEM;
  }
  char threads[16], why[256] = "";
  snprintf(threads, sizeof(threads), "%u", opts->threads);
  /* HTTPS: the front takes the address (and reads the certificate) first,
   * civetweb an ephemeral port of loopback behind it. A relay per
   * connection, as many as civetweb has workers and queue places. */
  enum idl_err err = opts->tls_cert ? idl_tls_open(opts->listen, opts->tls_cert,
                                                   opts->tls_key, 2 * opts->threads, &h->tls,
                                                   why, sizeof(why))
                                     : IDL_ERR_OK;
  if (err) {
    idl_log_error("http: %s", why);
    idl_guard_stop(h->guard);
    free(h);
    return err;
  }
  const char *listen = h->tls ? "127.0.0.1:0" : opts->listen;
  /* Connections wait for a worker in a queue as long as the pool, and in
   * the kernel's backlog beyond that. */
  const char *options[] = {"listening_ports", listen,
                           "num_threads", threads,
                           "connection_queue", threads,
                           "listen_backlog", "4096",
                           "enable_keep_alive", "yes",
                           "keep_alive_timeout_ms", KEEP_ALIVE_TIMEOUT_MS,
                           "request_timeout_ms", REQUEST_TIMEOUT_MS,
                           "max_request_size", MAX_HEAD_BYTES,
                           "decode_url", "no",
                           "tcp_nodelay", "1",
                           NULL};
  struct mg_callbacks callbacks = {.log_message = log_message, .http_error = http_error,
                                   .init_connection = init_connection,
                                   .end_request = end_request,
                                   .connection_close = connection_close};
  struct mg_init_data init = {&callbacks, h, options};
  char text[256] = "";
  struct mg_error_data error = {.text = text, .text_buffer_size = sizeof(text)};
  mg_init_library(0);
  h->ctx = mg_start2(&init, &error);
  struct mg_server_port port = {0};
  if (h->ctx && h->tls &&
      (mg_get_server_ports(h->ctx, 1, &port) != 1 || idl_tls_serve(h->tls, port.port))) {
    snprintf(text, sizeof(text), "cannot relay HTTPS to the HTTP server");
    mg_stop(h->ctx);
    h->ctx = NULL;
  }
  if (!h->ctx) {
    mg_exit_library();
    idl_log_error("http: cannot listen on %s: %s", listen, text);
    idl_tls_close(h->tls);
    idl_guard_stop(h->guard);
    free(h);
    return IDL_ERR_IO;
  }
  /* The waker of idl_http_stop connects where civetweb listens. */
  if (h->tls)
    snprintf(h->listen, sizeof(h->listen), "127.0.0.1:%d", port.port);
  mg_set_request_handler(h->ctx, "/", dispatch, h);
  /* Without an authorization handler civetweb looks for a .htpasswd file
   * (a stat per request); idlinkd has no file-based authentication. */
  mg_set_auth_handler(h->ctx, "/", authorize_all, NULL);
  *out = h;
  return IDL_ERR_OK;
}

/* civetweb's accepting thread polls its socket in 2 s quanta and sees the
 * stop only between them: connecting to the listening address wakes it, so
 * that a stop takes milliseconds, not seconds. */
struct waker {
  const char *listen;
  atomic_int done;
};

static void *wake_acceptor(void *arg) {
  struct waker *w = arg;
  char host[64];
  snprintf(host, sizeof(host), "%s", w->listen);
  char *colon = strrchr(host, ':');
  if (!colon)
    return NULL;
  *colon = '\0';
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || sa.sin_addr.s_addr == htonl(INADDR_ANY))
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  while (!atomic_load(&w->done)) {
    usleep(20000);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      connect(fd, (struct sockaddr *)&sa, sizeof(sa)); /* refused once stopped: fine */
      close(fd);
    }
  }
  return NULL;
}

void idl_http_stop(struct idl_http *h) {
  if (!h)
    return;
  /* Requests already in a handler finish (their bodies may still be on the
   * way); civetweb's stop would cut their reads short. */
  atomic_store(&h->draining, 1);
  int64_t deadline = idl_now_us() + DRAIN_LIMIT_MS * 1000LL;
  while (atomic_load(&h->in_flight) > 0 && idl_now_us() < deadline)
    usleep(5000);
  if (atomic_load(&h->in_flight) > 0)
    idl_log_warn("http: stopping with %d requests still reading their bodies",
                 atomic_load(&h->in_flight));
  idl_tls_stop_accepting(h->tls);
  struct waker w = {.listen = h->listen};
  pthread_t waker;
  int woken = pthread_create(&waker, NULL, wake_acceptor, &w) == 0;
  mg_stop(h->ctx);
  atomic_store(&w.done, 1);
  if (woken)
    pthread_join(waker, NULL);
  mg_exit_library();
  idl_tls_close(h->tls); /* after civetweb: relays pass on its last bytes */
  idl_guard_stop(h->guard);
  free(h);
}

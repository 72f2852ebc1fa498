/* civetweb set-up, the route table, and the helpers every handler shares:
 * reading a JSON body, sending a JSON answer, and the one way errors leave. */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_internal.h"
#include "idlink/json.h"
#include "idlink/log.h"

struct idl_http {
  struct mg_context *ctx;
  struct idl_service *svc;
  size_t max_body;
  atomic_int in_flight; /* requests inside a handler */
  atomic_int draining;  /* set by idl_http_stop: new requests get 503 */
};

/* How long idl_http_stop waits for requests in flight: more than a stalled
 * body read can take, so that only a client that stopped sending is cut. */
#define DRAIN_LIMIT_MS 45000

/* ------------------------------------------------------------- responses */

/* Sends len bytes of text (freed here; NULL: out of memory) with status, and
 * an Allow header when allow is set. Status line, headers and body leave in
 * one write: civetweb's header calls send each line on its own, which costs a
 * packet per line. */
static int send_text(struct mg_connection *conn, int status, char *text, size_t len,
                     const char *allow) {
  static const char no_memory[] = "{\"detail\":\"Out of memory.\"}";
  if (!text)
    status = 500;
  const char *payload = text ? text : no_memory;
  if (!text)
    len = sizeof(no_memory) - 1;
  char head[256];
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\n%s%s%s\r\n",
                   status, mg_get_response_code_text(conn, status), len,
                   allow ? "Allow: " : "", allow ? allow : "", allow ? "\r\n" : "");
  char *out = malloc((size_t)n + len);
  if (out) {
    memcpy(out, head, (size_t)n);
    memcpy(out + n, payload, len);
    mg_write(conn, out, (size_t)n + len);
  }
  free(out);
  free(text);
  return status;
}

/* Sends body (consumed) with status, and an Allow header when allow is set. */
static int send_json(struct mg_connection *conn, int status, json_t *body,
                     const char *allow) {
  char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
  json_decref(body);
  return send_text(conn, status, text, text ? strlen(text) : 0, allow);
}

int idl_http_send_text(struct mg_connection *conn, int status, char *text, size_t len) {
  return send_text(conn, status, text, len, NULL);
}

int idl_http_send_identity(struct mg_connection *conn, const struct idl_identity *ident,
                           enum idl_identity_frame frame) {
  char *text = NULL;
  size_t len = 0;
  idl_json_identity_text(ident, frame, &text, &len);
  return send_text(conn, 200, text, len, NULL);
}

int idl_http_send(struct mg_connection *conn, int status, json_t *body) {
  return send_json(conn, status, body, NULL);
}

int idl_http_detail(struct mg_connection *conn, int status, const char *message) {
  return idl_http_send(conn, status, idl_json_detail("%s", message));
}

int idl_http_fail(struct mg_connection *conn, enum idl_err err) {
  if (err == IDL_ERR_NOTFOUND)
    return idl_http_detail(conn, 404, "Not found.");
  char msg[160];
  snprintf(msg, sizeof(msg), "%c%s.", toupper((unsigned char)idl_strerror(err)[0]),
           idl_strerror(err) + 1);
  return idl_http_detail(conn, idl_err_http_status(err), msg);
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

/* Reads the whole body into a new buffer. Returns 0, 413 when it is over the
 * limit, or -1 when the body ended early (*len then says how much came). */
static int read_body(struct idl_req *r, char **out, size_t *len) {
  long long declared = mg_get_request_info(r->conn)->content_length;
  if (declared > (long long)r->max_body)
    return 413;
  size_t cap = declared >= 0 ? (size_t)declared : 4096, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    if (n == cap) {
      if (declared >= 0 || cap > r->max_body)
        break;
      char *grown = realloc(buf, cap * 2 + 1);
      if (!grown)
        break;
      buf = grown;
      cap *= 2;
    }
    int got = mg_read(r->conn, buf + n, cap - n);
    if (got <= 0)
      break;
    n += (size_t)got;
  }
  if (!buf)
    return 500;
  if ((declared >= 0 && n < (size_t)declared)) {
    free(buf);
    *len = n;
    return -1;
  }
  if (n > r->max_body) {
    free(buf);
    return 413;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}

int idl_http_read_request(struct idl_req *r, struct idl_request *req) {
  const char *type = mg_get_header(r->conn, "Content-Type");
  if (type && !is_json_type(type)) {
    char msg[160];
    snprintf(msg, sizeof(msg), "Unsupported media type \"%.100s\" in request.", type);
    return idl_http_detail(r->conn, 415, msg);
  }
  char *body = NULL;
  size_t len = 0;
  int status = read_body(r, &body, &len);
  if (status == 413) {
    char msg[96];
    snprintf(msg, sizeof(msg), "Request body is larger than %zu bytes.", r->max_body);
    return idl_http_detail(r->conn, 413, msg);
  }
  if (status == 500)
    return idl_http_fail(r->conn, IDL_ERR_NOMEM);
  if (status < 0) {
    /* The client stopped sending before the end of its body (or left). */
    char msg[128];
    snprintf(msg, sizeof(msg), "The request body ended after %zu of the %lld bytes "
             "announced.", len, mg_get_request_info(r->conn)->content_length);
    return idl_http_detail(r->conn, 408, msg);
  }
  json_t *error = NULL;
  enum idl_err err = idl_json_parse_request(body, len, req, &error);
  free(body);
  if (err)
    return idl_http_send(r->conn, 400, error);
  return 0;
}

/* ------------------------------------------------------------- routing */

struct route {
  const char *method;
  const char *path; /* ending in '/' followed by nothing: takes an id */
  int takes_id;
  idl_handler fn;
};

static const struct route routes[] = {
    {"POST", "/identify", 0, idl_handle_identify},
    {"POST", "/api/create/", 0, idl_handle_create},
    {"POST", "/api/identify/", 0, idl_handle_lookup},
    {"GET", "/contacts/", 1, idl_handle_contact},
    {"GET", "/identities/", 1, idl_handle_identity},
    {"GET", "/changes", 0, idl_handle_changes},
    {"GET", "/healthz", 0, idl_handle_healthz},
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

/* Parses a positive decimal id with nothing after it. */
static int parse_id(const char *s, uint64_t *out) {
  uint64_t v = 0;
  if (!*s)
    return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
      return -1;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  if (v == 0)
    return -1;
  *out = v;
  return 0;
}

static int path_matches(const struct route *rt, const char *uri, uint64_t *id) {
  size_t len = strlen(rt->path);
  if (!rt->takes_id)
    return strcmp(uri, rt->path) == 0;
  return strncmp(uri, rt->path, len) == 0 && parse_id(uri + len, id) == 0;
}

static int method_not_allowed(struct mg_connection *conn, const char *method,
                              const char *allow) {
  return send_json(conn, 405, idl_json_detail("Method \"%.32s\" not allowed.", method),
                   allow);
}

static int route(struct idl_http *h, struct mg_connection *conn) {
  const struct mg_request_info *ri = mg_get_request_info(conn);
  struct idl_req r = {.conn = conn, .svc = h->svc, .max_body = h->max_body};
  char allow[64] = "";
  for (size_t i = 0; i < N_ROUTES; i++) {
    uint64_t id = 0;
    if (!path_matches(&routes[i], ri->local_uri, &id))
      continue;
    if (strcmp(ri->request_method, routes[i].method) == 0) {
      r.id = id;
      return routes[i].fn(&r);
    }
    snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
             *allow ? ", " : "", routes[i].method);
  }
  if (*allow)
    return method_not_allowed(conn, ri->request_method, allow);
  return idl_http_detail(conn, 404, "Not found.");
}

static int dispatch(struct mg_connection *conn, void *cbdata) {
  struct idl_http *h = cbdata;
  atomic_fetch_add(&h->in_flight, 1);
  int status = atomic_load(&h->draining)
                   ? idl_http_detail(conn, 503, "The server is shutting down.")
                   : route(h, conn);
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
  idl_log_warn("http: %s", message);
  return 1;
}

enum idl_err idl_http_start(struct idl_service *svc, const struct idl_http_opts *opts,
                            struct idl_http **out) {
  struct idl_http *h = calloc(1, sizeof(*h));
  if (!h)
    return IDL_ERR_NOMEM;
  h->svc = svc;
  h->max_body = opts->max_body;
  char threads[16];
  snprintf(threads, sizeof(threads), "%u", opts->threads);
  const char *options[] = {"listening_ports", opts->listen,
                           "num_threads", threads,
                           "enable_keep_alive", "yes",
                           "keep_alive_timeout_ms", "5000",
                           "request_timeout_ms", "5000",
                           "tcp_nodelay", "1",
                           NULL};
  struct mg_callbacks callbacks = {.log_message = log_message};
  struct mg_init_data init = {&callbacks, h, options};
  char text[256] = "";
  struct mg_error_data error = {.text = text, .text_buffer_size = sizeof(text)};
  mg_init_library(0);
  h->ctx = mg_start2(&init, &error);
  if (!h->ctx) {
    mg_exit_library();
    idl_log_error("http: cannot listen on %s: %s", opts->listen, text);
    free(h);
    return IDL_ERR_IO;
  }
  mg_set_request_handler(h->ctx, "/", dispatch, h);
  /* Without an authorization handler civetweb looks for a .htpasswd file
   * (a stat per request); idlinkd has no file-based authentication. */
  mg_set_auth_handler(h->ctx, "/", authorize_all, NULL);
  *out = h;
  return IDL_ERR_OK;
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
  mg_stop(h->ctx);
  mg_exit_library();
  free(h);
}

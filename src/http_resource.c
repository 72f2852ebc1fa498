/* The generic handlers of every /api/v1/ collection: list, create, detail,
 * update, delete (SPEC section 7). Paths are /api/v1/{collection}/ and
 * /api/v1/{collection}/{pk}/, the trailing slash optional; what a collection
 * offers comes from its resource description. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "export_internal.h"
#include "import_internal.h"
#include "filter_internal.h"
#include "http_internal.h"
#include "idlink/normalize.h"

#define PREFIX "/api/v1/"

/* -------------------------------------------------------------- answers */

/* Answers the errors of a refused request: 400 with field errors, or the
 * status and body a check chose. */
int idl_http_send_errors(struct idl_req *r, const struct idl_errors *e) {
  char *text = idl_errors_text(e);
  return idl_http_send_text(r, e->status ? e->status : 400, text, text ? strlen(text) : 0);
}

struct shown {
  const struct idl_resource *res;
  uint64_t pk;
  struct idl_text out;
};

/* Reads record pk and renders it with its computed fields. */
static enum idl_err show_record(struct idl_txn *txn, void *arg) {
  struct shown *s = arg;
  struct idl_record rec;
  enum idl_err err = idl_record_get(txn, s->res, s->pk, &rec);
  if (err)
    return err;
  err = idl_record_compute(txn, s->res, &rec);
  s->out.len = 0; /* a read retried starts again */
  if (!err)
    idl_record_put_json(&s->out, s->res, &rec);
  idl_record_fini(&rec);
  return err ? err : s->out.failed ? IDL_ERR_NOMEM : IDL_ERR_OK;
}

/* Answers record pk: read from snapshot when there is one (a write's own
 * commit), else from a read of its own. */
static int send_record(struct idl_req *r, const struct idl_resource *res, uint64_t pk,
                       int status, struct idl_txn *snapshot) {
  struct shown s = {res, pk, {0}};
  enum idl_err err = snapshot ? show_record(snapshot, &s)
                              : idl_service_read(r->svc, show_record, &s);
  if (err) {
    free(s.out.data);
    return idl_http_fail(r, err);
  }
  return idl_http_send_text(r, status, s.out.data, s.out.len);
}

/* -------------------------------------------------------------- paging */

/* Appends s form-encoded, as Python's urlencode does (space as '+'). */
void idl_http_put_encoded(struct idl_text *t, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char enc[3] = {(char)c};
    size_t n = 1;
    if (c == ' ')
      enc[0] = '+';
    else if (!isalnum(c) && c != '_' && c != '.' && c != '-' && c != '~')
      enc[0] = '%', enc[1] = hex[c >> 4], enc[2] = hex[c & 15], n = 3;
    idl_text_put(t, enc, n);
  }
}

/* The absolute URL of page `page` of this list (0: none), as DRF builds it:
 * the request's URL with its parameters sorted by name (stably) and page
 * replaced, left out for page 1; appended to body as a JSON string, or null
 * (no such page, or a Host header that is not UTF-8). */
static void put_page_url(struct idl_text *body, struct idl_req *r, const struct idl_query *q,
                         uint64_t page) {
  struct idl_param *params = page ? malloc((q->n_params + 1) * sizeof(*params)) : NULL;
  if (!params) {
    idl_text_put(body, "null", 4);
    return;
  }
  size_t n = 0;
  for (size_t i = 0; i < q->n_params; i++)
    if (strcmp(q->params[i].name, "page") != 0)
      params[n++] = q->params[i];
  char num[24];
  snprintf(num, sizeof(num), "%llu", (unsigned long long)page);
  if (page > 1)
    params[n++] = (struct idl_param){"page", num};
  for (size_t i = 1; i < n; i++) /* insertion sort: stable */
    for (size_t k = i; k > 0 && strcmp(params[k - 1].name, params[k].name) > 0; k--) {
      struct idl_param t = params[k];
      params[k] = params[k - 1];
      params[k - 1] = t;
    }
  const char *host = mg_get_header(r->conn, "Host");
  struct idl_text t = {0};
  idl_text_put(&t, "http://", 7);
  idl_text_put(&t, host ? host : "localhost", strlen(host ? host : "localhost"));
  idl_text_put(&t, mg_get_request_info(r->conn)->local_uri,
          strlen(mg_get_request_info(r->conn)->local_uri));
  for (size_t i = 0; i < n; i++) {
    idl_text_put(&t, i ? "&" : "?", 1);
    idl_http_put_encoded(&t, params[i].name);
    idl_text_put(&t, "=", 1);
    idl_http_put_encoded(&t, params[i].value);
  }
  free(params);
  if (t.failed)
    body->failed = 1;
  else if (idl_utf8_valid(t.data, t.len))
    idl_text_put_json_string(body, t.data, t.len);
  else
    idl_text_put(body, "null", 4);
  free(t.data);
}

/* ---------------------------------------------------------------- lists */

struct listing {
  const struct idl_resource *res;
  struct idl_query *q;
  struct idl_page page;
  struct idl_text results; /* the JSON array of the page's records */
};

static enum idl_err list_page(struct idl_txn *txn, void *arg) {
  struct listing *l = arg;
  enum idl_err err = idl_query_page(txn, l->res, l->q, &l->page);
  if (err)
    return err;
  l->results.len = 0; /* a read retried starts again */
  idl_text_put(&l->results, "[", 1);
  for (size_t i = 0; !err && i < l->page.n; i++) {
    struct idl_record *rec = &l->page.recs[i];
    err = idl_record_compute(txn, l->res, rec);
    if (i)
      idl_text_put(&l->results, ",", 1);
    if (!err)
      idl_record_put_json(&l->results, l->res, rec);
  }
  idl_text_put(&l->results, "]", 1);
  return err ? err : l->results.failed ? IDL_ERR_NOMEM : IDL_ERR_OK;
}

int idl_http_list(struct idl_req *r, const struct idl_resource *res) {
  struct idl_errors e = {0};
  struct idl_query q;
  idl_query_parse(res, mg_get_request_info(r->conn)->query_string, NULL, &q, &e);
  if (!idl_errors_any(&e) && q.page == 0)
    idl_errors_detail(&e, 404, "Invalid page.");
  if (idl_errors_any(&e)) {
    int status = idl_http_send_errors(r, &e);
    idl_errors_fini(&e);
    idl_query_fini(&q);
    return status;
  }
  struct listing l = {.res = res, .q = &q};
  enum idl_err err = idl_service_read(r->svc, list_page, &l);
  int status;
  uint64_t pages = (l.page.count + q.limit - 1) / q.limit;
  if (err) {
    status = idl_http_fail(r, err);
  } else if (q.page > 1 && q.page > pages) {
    status = idl_http_detail(r, 404, "Invalid page.");
  } else {
    struct idl_text body = {0};
    char count[48];
    idl_text_put(&body, count, (size_t)snprintf(count, sizeof(count), "{\"count\":%llu,\"next\":",
                                                (unsigned long long)l.page.count));
    put_page_url(&body, r, &q, q.page < pages ? q.page + 1 : 0);
    idl_text_put(&body, ",\"previous\":", 12);
    put_page_url(&body, r, &q, q.page > 1 ? q.page - 1 : 0);
    idl_text_put(&body, ",\"results\":", 11);
    idl_text_put(&body, l.results.data, l.results.len);
    idl_text_put(&body, "}", 1);
    if (body.failed) {
      free(body.data);
      body.data = NULL;
    }
    status = idl_http_send_text(r, 200, body.data, body.len);
  }
  free(l.results.data);
  idl_page_fini(&l.page);
  idl_query_fini(&q);
  return status;
}

/* --------------------------------------------------------------- writes */

struct lookup {
  const struct idl_resource *res;
  uint64_t pk;
};

static enum idl_err look_up(struct idl_txn *txn, void *arg) {
  const struct lookup *l = arg;
  return idl_record_exists(txn, l->res, l->pk);
}

static int handle_write(struct idl_req *r, const struct idl_resource *res,
                        enum idl_write_op op, uint64_t pk, const struct idl_action *action) {
  json_t *body = NULL;
  /* A change of a record that is not there is a 404 whatever its body, as
   * DRF looks the record up before it reads the body. */
  if (op == IDL_WRITE_PATCH || op == IDL_WRITE_PUT || op == IDL_WRITE_ACTION) {
    struct lookup l = {res, pk};
    enum idl_err err = idl_service_read(r->svc, look_up, &l);
    if (err)
      return idl_http_fail(r, err);
  }
  if (op != IDL_WRITE_DELETE && op != IDL_WRITE_DELETE_MANY) {
    int status = idl_http_read_json(r, &body);
    if (status)
      return status;
  }
  struct idl_write w = {.res = res, .op = op, .body = body, .pk = pk,
                        .now_us = idl_now_wall_us(), .action = action};
  /* What needs no store is checked here, off the writer's thread. */
  enum idl_err err = idl_write_prepare(&w);
  if (!err)
    err = idl_service_write(r->svc, &w);
  json_decref(body);
  int status;
  if (err == IDL_ERR_INVAL && idl_errors_any(&w.errors))
    status = idl_http_send_errors(r, &w.errors);
  else if (err)
    status = idl_http_fail(r, err);
  else if (op == IDL_WRITE_DELETE)
    status = idl_http_send_text(r, 204, NULL, 0);
  else if (op == IDL_WRITE_DELETE_MANY)
    status = idl_http_send(r, 200, json_pack("{s:I}", "deleted", (json_int_t)w.count));
  else
    status = send_record(r, res, w.pk, w.status, w.snapshot);
  idl_write_fini(&w);
  return status;
}

/* DELETE of a collection, by its delete_by filter: ?customer=5, that
 * parameter once and no other: a destructive call is never widened by a
 * typo or a second value. */
static int handle_delete_many(struct idl_req *r, const struct idl_resource *res) {
  const char *query = mg_get_request_info(r->conn)->query_string;
  char *value = NULL;
  int given = 0, nul_value = 0;
  json_t *error = NULL;
  struct idl_query_part part;
  for (const char *s = query; !error && idl_query_next(&s, &part);) {
    char *name, *v;
    int nul_name, nul;
    if (!part.name_len && !part.value)
      continue;
    if (idl_query_part_decode(&part, &name, &nul_name, &v, &nul)) {
      free(value);
      return idl_http_send(r, 500, idl_json_detail("Out of memory."));
    }
    if (nul_name || strcmp(name, res->delete_by))
      error = idl_json_detail("Unknown query parameter \"%.100s\".", name);
    else if (given++)
      error = json_pack("{s:[s]}", res->delete_by, "Give exactly one value.");
    free(name);
    free(value);
    value = v;
    nul_value = nul;
  }
  char *end = NULL;
  unsigned long long pk = value && !nul_value && isdigit((unsigned char)value[0])
                              ? strtoull(value, &end, 10)
                              : 0;
  if (!error && !given)
    error = json_pack("{s:[s]}", res->delete_by, "This field is required.");
  else if (!error && (!end || *end || pk == 0 || pk > INT64_MAX))
    error = json_pack("{s:[s]}", res->delete_by, "A valid integer is required.");
  free(value);
  if (error)
    return idl_http_send(r, 400, error);
  return handle_write(r, res, IDL_WRITE_DELETE_MANY, pk, NULL);
}

/* --------------------------------------------------------------- exports */

static const char *const export_params[] = {"format", NULL};

struct exporting {
  const struct idl_resource *res;
  struct idl_query *q;
  struct idl_req *r;
  const char *path; /* xlsx: the file written */
  const char *head; /* csv: the answer's head, sent before the first rows */
  int head_sent;
};

static int send_chunk(void *arg, const char *data, size_t len) {
  struct exporting *x = arg;
  if (!x->head_sent) {
    x->head_sent = 1;
    if (idl_http_write(x->r, x->head, strlen(x->head)) <= 0)
      return -1;
  }
  return idl_http_chunk(x->r, data, len) < 0 ? -1 : 0;
}

static enum idl_err export_csv(struct idl_txn *txn, void *arg) {
  struct exporting *x = arg;
  struct idl_export_sink sink = {send_chunk, x};
  return idl_export_csv(txn, x->res, x->q, &sink);
}

static enum idl_err export_xlsx(struct idl_txn *txn, void *arg) {
  struct exporting *x = arg;
  return idl_export_xlsx(txn, x->res, x->q, x->path, getenv("TMPDIR"));
}

/* Sends file path with the head given, then removes it. */
static int send_file(struct idl_req *r, const char *path, const char *type,
                     const char *disposition) {
  /* The buffer is the heap's: civetweb's worker threads have small stacks. */
  enum { CHUNK = 65536 };
  FILE *f = fopen(path, "rb");
  char *buf = f ? malloc(CHUNK) : NULL;
  if (!buf) {
    if (f)
      fclose(f);
    return idl_http_fail(r, f ? IDL_ERR_NOMEM : IDL_ERR_IO);
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  rewind(f);
  int n = snprintf(buf, CHUNK, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n%s\r\n"
                   "Content-Length: %ld\r\n\r\n", type, disposition, size);
  idl_http_write(r, buf, (size_t)n);
  size_t got;
  while (!r->head_only && (got = fread(buf, 1, CHUNK, f)) > 0)
    if (idl_http_write(r, buf, got) <= 0)
      break;
  free(buf);
  fclose(f);
  return 200;
}

int idl_http_export(struct idl_req *r, const struct idl_resource *res, const char *query) {
  struct idl_errors e = {0};
  struct idl_query q;
  idl_query_parse(res, query, export_params, &q, &e);
  const char *format = "xlsx";
  for (size_t i = 0; i < q.n_params; i++)
    if (!strcmp(q.params[i].name, "format"))
      format = q.params[i].value;
  int csv = !strcmp(format, "csv");
  if (!idl_errors_any(&e) && !csv && strcmp(format, "xlsx"))
    idl_errors_add(&e, "format", "Select a valid choice. %.40s is not one of the available "
                   "choices.", format);
  if (idl_errors_any(&e)) {
    int status = idl_http_send_errors(r, &e);
    idl_errors_fini(&e);
    idl_query_fini(&q);
    return status;
  }
  char day[16], disposition[160];
  time_t now = time(NULL);
  strftime(day, sizeof(day), "%Y%m%d", gmtime(&now));
  snprintf(disposition, sizeof(disposition),
           "Content-Disposition: attachment; filename=\"%s-%s.%s\"", res->name, day, format);
  struct exporting x = {.res = res, .q = &q, .r = r};
  int status = 200;
  enum idl_err err;
  if (csv) {
    char head[400];
    snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: text/csv; charset=utf-8\r\n"
             "%s\r\nTransfer-Encoding: chunked\r\n\r\n", disposition);
    x.head = head;
    if (r->head_only) {
      idl_http_write(r, head, strlen(head));
      idl_query_fini(&q);
      return 200;
    }
    err = idl_service_read(r->svc, export_csv, &x);
    if (!err && !x.head_sent)
      send_chunk(&x, "", 0); /* sends the head */
    if (!err)
      idl_http_chunk(r, "", 0);
    else if (!x.head_sent)
      status = idl_http_fail(r, err);
    else
      mg_disable_connection_keep_alive(r->conn); /* cut short: the client sees no end */
  } else {
    const char *dir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/idlink-export-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
      idl_query_fini(&q);
      return idl_http_fail(r, IDL_ERR_IO);
    }
    close(fd);
    x.path = path;
    err = idl_service_read(r->svc, export_xlsx, &x);
    if (err == IDL_ERR_FULL)
      status = idl_http_detail(r, 400, "Too many rows for one xlsx sheet (at most 1048575): "
                               "narrow the filter or export csv.");
    else if (err)
      status = idl_http_fail(r, err);
    else
      status = send_file(r, path,
                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                         disposition);
    unlink(path);
  }
  idl_query_fini(&q);
  return status;
}

/* --------------------------------------------------------------- routing */

static void add_allow(char *allow, size_t cap, const char *method) {
  snprintf(allow + strlen(allow), cap - strlen(allow), "%s%s", *allow ? ", " : "", method);
}

int idl_http_not_allowed(struct idl_req *r, const char *allow) {
  char extra[128];
  snprintf(extra, sizeof(extra), "Allow: %s\r\n", allow);
  return idl_http_send_extra(r, 405,
                             idl_json_detail("Method \"%.32s\" not allowed.", r->method), extra);
}

/* The route template of the request, for the access log and metrics:
 * "/api/v1/customers/{pk}/" and the like. */
static void set_route(struct idl_req *r, const struct idl_resource *res, const char *tail) {
  snprintf(r->route_buf, sizeof(r->route_buf), PREFIX "%s/%s", res->name, tail);
  r->route = r->route_buf;
}

/* What a path under /api/v1/ names: a collection's own path, import,
 * export, one record or one of its actions, or nothing (404) within it. */
enum target_kind { T_COLLECTION, T_IMPORT, T_EXPORT, T_RECORD, T_ACTION, T_NOT_FOUND };

struct target {
  const struct idl_resource *res;
  enum target_kind kind;
  uint64_t pk;
  const struct idl_action *action;
  char tail[64]; /* the route template after the collection's name */
};

/* 0 when path names no collection (not a path of this layer). */
static int parse_target(const char *path, struct target *t) {
  if (strncmp(path, PREFIX, sizeof(PREFIX) - 1) != 0)
    return 0;
  char name[64];
  const char *rest = path + sizeof(PREFIX) - 1;
  size_t len = strcspn(rest, "/");
  if (len == 0 || len >= sizeof(name))
    return 0;
  memcpy(name, rest, len);
  name[len] = '\0';
  *t = (struct target){.res = idl_resource_find(name), .kind = T_NOT_FOUND};
  if (!t->res || !t->res->ops) /* a table of the store's own, with no route */
    return 0;
  rest += len;
  if (*rest == '/')
    rest++;
  if (*rest == '\0') {
    t->kind = T_COLLECTION;
  } else if (!strcmp(rest, "import") || !strcmp(rest, "import/")) {
    t->kind = T_IMPORT;
    snprintf(t->tail, sizeof(t->tail), "import/");
  } else if ((!strcmp(rest, "export") || !strcmp(rest, "export/")) &&
             (t->res->ops & IDL_OP_EXPORT)) {
    t->kind = T_EXPORT;
    snprintf(t->tail, sizeof(t->tail), "export/");
  } else {
    /* One record: a positive decimal pk, and an optional trailing slash, or
     * one of its actions. */
    size_t digits = strspn(rest, "0123456789");
    const char *tail = rest + digits;
    if (digits == 0 || digits > 18 || (t->pk = strtoull(rest, NULL, 10)) == 0)
      return 1;
    if (!*tail || !strcmp(tail, "/")) {
      t->kind = T_RECORD;
      snprintf(t->tail, sizeof(t->tail), "{pk}/");
      return 1;
    }
    const struct idl_action *a = t->res->actions;
    size_t name_len = strcspn(tail + 1, "/");
    while (a && a->name &&
           (strlen(a->name) != name_len || strncmp(a->name, tail + 1, name_len) ||
            (tail[1 + name_len] && strcmp(tail + 1 + name_len, "/"))))
      a++;
    if (a && a->name) {
      t->kind = T_ACTION;
      t->action = a;
      snprintf(t->tail, sizeof(t->tail), "{pk}/%s/", a->name);
    }
  }
  return 1;
}

int idl_http_resource_template(struct idl_req *r, const char *path) {
  struct target t;
  if (!parse_target(path, &t))
    return 0;
  set_route(r, t.res, t.tail);
  return 1;
}

int idl_http_resource_route(struct idl_req *r, const char *path) {
  struct target t;
  if (!parse_target(path, &t))
    return 0;
  const struct idl_resource *res = t.res;
  const char *m = r->method;
  int get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
  char allow[96] = "";
  set_route(r, res, t.tail);
  switch (t.kind) {
  case T_NOT_FOUND:
    return idl_http_detail(r, 404, "Not found.");
  case T_COLLECTION:
    if (get && (res->ops & IDL_OP_LIST))
      return idl_http_list(r, res);
    if (!strcmp(m, "POST") && (res->ops & IDL_OP_CREATE))
      return handle_write(r, res, IDL_WRITE_CREATE, 0, NULL);
    if (!strcmp(m, "DELETE") && res->delete_by)
      return handle_delete_many(r, res);
    if (res->ops & IDL_OP_LIST)
      add_allow(allow, sizeof(allow), "GET, HEAD");
    if (res->ops & IDL_OP_CREATE)
      add_allow(allow, sizeof(allow), "POST");
    if (res->delete_by)
      add_allow(allow, sizeof(allow), "DELETE");
    return idl_http_not_allowed(r, allow);
  case T_IMPORT:
    if (!strcmp(m, "POST") && idl_import_supported(res))
      return idl_http_import(r, res);
    return idl_import_supported(res) ? idl_http_not_allowed(r, "POST")
                                     : idl_http_detail(r, 404, "Not found.");
  case T_EXPORT:
    if (get)
      return idl_http_export(r, res, mg_get_request_info(r->conn)->query_string);
    return idl_http_not_allowed(r, "GET, HEAD");
  case T_ACTION:
    r->id = t.pk;
    if (!strcmp(m, "POST"))
      return handle_write(r, res, IDL_WRITE_ACTION, t.pk, t.action);
    return idl_http_not_allowed(r, "POST");
  case T_RECORD:
    break;
  }
  r->id = t.pk;
  if (get && (res->ops & IDL_OP_RETRIEVE))
    return send_record(r, res, t.pk, 200, NULL);
  if ((!strcmp(m, "PATCH") || !strcmp(m, "PUT")) && (res->ops & IDL_OP_UPDATE))
    return handle_write(r, res, !strcmp(m, "PUT") ? IDL_WRITE_PUT : IDL_WRITE_PATCH, t.pk,
                        NULL);
  if (!strcmp(m, "DELETE") && (res->ops & IDL_OP_DELETE))
    return handle_write(r, res, IDL_WRITE_DELETE, t.pk, NULL);
  if (res->ops & IDL_OP_RETRIEVE)
    add_allow(allow, sizeof(allow), "GET, HEAD");
  if (res->ops & IDL_OP_UPDATE)
    add_allow(allow, sizeof(allow), "PUT, PATCH");
  if (res->ops & IDL_OP_DELETE)
    add_allow(allow, sizeof(allow), "DELETE");
  /* A collection without routes for one record (conflicts) has no such path. */
  if (!*allow)
    return idl_http_detail(r, 404, "Not found.");
  return idl_http_not_allowed(r, allow);
}

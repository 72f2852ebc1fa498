/* Bulk import over HTTP (SPEC section 9): POST /api/v1/{customers,
 * products}/import/ and seed 003's /upload/{customers,products}, with the
 * HTML form a browser submits. The multipart/form-data body is read by
 * civetweb's own form handling; its `file` part goes to a temporary file
 * as it arrives (never more than --max-upload of it), which import.c then
 * reads in one writer transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "import_internal.h"
#include "http_internal.h"
#include "record_internal.h"
#include "res_internal.h"

/* Room for a multipart body's boundaries and part headers beyond the file
 * itself, when its announced length is checked against --max-upload. */
#define FORM_OVERHEAD 65536

struct upload {
  size_t max;
  char path[512]; /* the file part, stored */
  FILE *file;
  int has_file, named; /* a file part came; it named a file */
  size_t size;
  int too_large, io_failed;
  char channel[32];
  size_t channel_len;
  int channel_long;
};

static int field_found(const char *key, const char *filename, char *path, size_t pathlen,
                       void *data) {
  struct upload *u = data;
  (void)path;
  (void)pathlen;
  if (!strcmp(key, "file") && !u->has_file) {
    u->has_file = 1;
    u->named = filename && *filename;
    const char *dir = getenv("TMPDIR");
    snprintf(u->path, sizeof(u->path), "%s/idlink-import-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(u->path);
    if (fd < 0 || !(u->file = fdopen(fd, "wb"))) {
      if (fd >= 0)
        close(fd);
      u->path[0] = '\0';
      u->io_failed = 1;
      return MG_FORM_FIELD_STORAGE_ABORT;
    }
    return MG_FORM_FIELD_STORAGE_GET;
  }
  if (!strcmp(key, "channel"))
    return MG_FORM_FIELD_STORAGE_GET;
  return MG_FORM_FIELD_STORAGE_SKIP;
}

static int field_get(const char *key, const char *value, size_t len, void *data) {
  struct upload *u = data;
  if (!strcmp(key, "channel")) {
    if (u->channel_len + len >= sizeof(u->channel))
      u->channel_long = 1;
    else
      memcpy(u->channel + u->channel_len, value, len), u->channel_len += len;
    return MG_FORM_FIELD_HANDLE_GET;
  }
  if (!u->file)
    return MG_FORM_FIELD_HANDLE_GET;
  if (u->size + len > u->max) {
    u->too_large = 1;
    return MG_FORM_FIELD_HANDLE_ABORT;
  }
  if (len && fwrite(value, 1, len, u->file) != len) {
    u->io_failed = 1;
    return MG_FORM_FIELD_HANDLE_ABORT;
  }
  u->size += len;
  return MG_FORM_FIELD_HANDLE_GET;
}

static int field_store(const char *path, long long size, void *data) {
  (void)path;
  (void)size;
  (void)data;
  return MG_FORM_FIELD_HANDLE_NEXT;
}

static int too_large(struct idl_req *r, size_t max) {
  r->close = 1; /* the rest of the body may still be on its way */
  return idl_http_send(r, 413, idl_json_detail("The file is larger than %zu bytes, the most "
                                               "this server takes (--max-upload).", max));
}

static int file_error(struct idl_req *r, const char *message) {
  return idl_http_send(r, 400, json_pack("{s:[s]}", "file", message));
}

/* The channel part: a positive integer, fallback when absent. */
static int parse_channel(struct idl_req *r, const struct upload *u, int64_t fallback,
                         int64_t *channel) {
  char text[sizeof(u->channel)];
  memcpy(text, u->channel, u->channel_len);
  text[u->channel_len] = '\0';
  char *end;
  long long v = strtoll(text, &end, 10);
  *channel = fallback;
  if (!u->channel_len)
    return 0;
  if (u->channel_long || end == text || *end || text[0] == '+' || text[0] == ' ' ||
      memchr(u->channel, '\0', u->channel_len))
    return idl_http_send(r, 400, json_pack("{s:[s]}", "channel",
                                           "A valid integer is required."));
  /* The range of a customer's channel field, checked by that field. */
  struct idl_errors e = {0};
  struct idl_value value = {0};
  json_t *j = json_integer(v);
  idl_value_from_json(&idl_customers.fields[CUSTOMER_CHANNEL], j, "channel", &value, &e);
  json_decref(j);
  int status = idl_errors_any(&e) ? idl_http_send_errors(r, &e) : 0;
  idl_errors_fini(&e);
  if (!status)
    *channel = v;
  return status;
}

/* What civetweb's form reader cannot take in a multipart/form-data
 * Content-Type, said plainly (NULL: nothing): it reads "multipart/form-data;
 * boundary=B" with B of 4 to 70 characters, quoted or not, and no other
 * parameter, which is what browsers and HTTP libraries send. */
static const char *form_type_refused(const char *type) {
  static const char ALONE[] = "multipart/form-data is taken with its boundary parameter "
                              "alone: Content-Type: multipart/form-data; boundary=...";
  const char *p = type + 19;
  p += strspn(p, " ");
  if (*p != ';')
    return ALONE;
  p += 1 + strspn(p + 1, " ");
  if (strncasecmp(p, "boundary=", 9) != 0)
    return ALONE;
  p += 9;
  size_t len = strlen(p);
  if (*p == '"') {
    const char *close = strchr(p + 1, '"');
    if (!close || close[1])
      return ALONE;
    len = (size_t)(close - p - 1);
  } else if (strpbrk(p, "; \t")) {
    return ALONE;
  }
  return len < 4 || len > 70 ? "The multipart boundary must be 4 to 70 characters long."
                             : NULL;
}

/* Receives the form; 0 when the file is in u->path, else the status of
 * the error answered. */
static int receive(struct idl_req *r, struct upload *u) {
  const struct mg_request_info *ri = mg_get_request_info(r->conn);
  const char *type = mg_get_header(r->conn, "Content-Type");
  if (!type || strncasecmp(type, "multipart/form-data", 19) != 0)
    return idl_http_unsupported_type(r, type ? type : "(none)");
  const char *refused = form_type_refused(type);
  if (refused) {
    r->close = 1; /* its body is not read */
    return idl_http_detail(r, 400, refused);
  }
  if (ri->content_length > (long long)(u->max + FORM_OVERHEAD))
    return too_large(r, u->max);
  struct idl_body_watch watch;
  int status = idl_http_body_begin(r, (long long)(u->max + FORM_OVERHEAD), &watch);
  if (status)
    return status;
  struct mg_form_data_handler handler = {field_found, field_get, field_store, u};
  int fields = mg_handle_form_request(r->conn, &handler);
  idl_http_body_end(r, &watch);
  if (u->file && fclose(u->file) != 0)
    u->io_failed = 1;
  u->file = NULL;
  if (u->too_large)
    return too_large(r, u->max);
  if (u->io_failed)
    return idl_http_fail(r, IDL_ERR_IO);
  if (fields < 0 || watch.cut) {
    r->close = 1;
    if (watch.cut || idl_now_us() > watch.deadline_us)
      return idl_http_detail(r, 408, "The request body did not arrive in time.");
    return idl_http_detail(r, 400, "The request body is not valid multipart/form-data, or "
                           "it ended early.");
  }
  if (!u->has_file || (!u->named && u->size == 0))
    return file_error(r, "No file was submitted.");
  if (u->size == 0)
    return file_error(r, "The submitted file is empty.");
  return 0;
}

static int import_into(struct idl_req *r, const struct idl_resource *res, int64_t channel) {
  struct upload u = {.max = r->max_upload};
  struct idl_import im = {.res = res, .now_us = idl_now_wall_us()};
  int status = receive(r, &u);
  if (!status)
    status = parse_channel(r, &u, channel, &im.channel);
  if (!status) {
    im.path = u.path;
    enum idl_err err = idl_service_run(r->svc, idl_import_apply, &im);
    if (err == IDL_ERR_INVAL && im.why[0])
      status = file_error(r, im.why);
    else if (err)
      status = idl_http_fail(r, err);
    else {
      size_t len = 0;
      char *answer = idl_import_answer(&im, &len);
      status = answer ? idl_http_send_text(r, 200, answer, len) : idl_http_fail(r, IDL_ERR_NOMEM);
    }
  }
  if (u.path[0])
    unlink(u.path);
  idl_import_fini(&im);
  return status;
}

int idl_http_import(struct idl_req *r, const struct idl_resource *res) {
  return import_into(r, res, 1);
}

/* ------------------------------------------------------ seed 003's pages */

/* The collection an /upload/{name} route names. */
static const struct idl_resource *upload_target(const struct idl_req *r) {
  const char *name = strrchr(r->route, '/');
  return name ? idl_resource_find(name + 1) : NULL;
}

/* Seed 003's customers live on --crm-channel. */
int idl_handle_upload(struct idl_req *r) {
  return import_into(r, upload_target(r), r->crm_channel);
}

int idl_handle_upload_page(struct idl_req *r) {
  const struct idl_resource *res = upload_target(r);
  int customers = !strcmp(res->name, "customers");
  char channel[160] = "";
  if (customers)
    snprintf(channel, sizeof(channel), "<p><label>Sales channel <input type=\"number\" "
             "name=\"channel\" min=\"1\" value=\"%lld\"></label></p>\n",
             (long long)r->crm_channel);
  char page[2048];
  int n = snprintf(
      page, sizeof(page),
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>Import %s</title>\n</head>\n<body>\n<h1>Import %s</h1>\n"
      "<p>A csv or txt file without a header row, or an xls or xlsx workbook whose first "
      "row is the header. Columns: %s.</p>\n"
      "<form method=\"post\" action=\"/upload/%s\" enctype=\"multipart/form-data\">\n"
      "<p><label>File <input type=\"file\" name=\"file\" required "
      "accept=\".csv,.txt,.xls,.xlsx\"></label></p>\n%s"
      "<p><button type=\"submit\">Import</button></p>\n</form>\n</body>\n</html>\n",
      res->name, res->name,
      customers ? "Name (and surname), Email, Address, Phone, Opt_email, Opt_phone, Opt_chat, "
                  "Status; Name and Email are required"
                : "Name, Price, Purchased, Warranty; Name and Price are required",
      res->name,
      channel);
  char head[256];
  int h = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: text/html; "
                   "charset=utf-8\r\nCache-Control: no-cache\r\nContent-Length: %d\r\n\r\n", n);
  idl_http_write(r, head, (size_t)h);
  if (!r->head_only)
    idl_http_write(r, page, (size_t)n);
  return 200;
}

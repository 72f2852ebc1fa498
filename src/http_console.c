/* The browser console (SPEC section 12): static files built into the program,
 * served under /console/. They carry no data, so they are served without a
 * token; the API calls the console makes carry the user's token.
 *
 * /console/ and the views' own URLs (/console/customers, ...) answer
 * index.html, which must never be cached stale ("no-cache", revalidated by
 * its ETag); the other files are named by index.html with a version query
 * that changes with their contents, so they may be cached for a day. */
#include <stdio.h>
#include <string.h>

#include "http_console_files.h"
#include "http_internal.h"

#define PREFIX "/console/"
#define PREFIX_LEN (sizeof(PREFIX) - 1)

/* The views' URLs under /console/: each is the single page's. */
static const char *const views[] = {"", "index.html", "lookup", "customers", "import",
                                    "changes"};

static const struct idl_console_file *find_file(const char *name) {
  for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++)
    if (!strcmp(name, views[i]))
      name = "index.html";
  for (size_t i = 0; i < idl_console_n_files; i++)
    if (!strcmp(name, idl_console_files[i].path))
      return &idl_console_files[i];
  return NULL;
}

/* Whether the request's If-None-Match names etag (or is "*"). */
static int not_modified(struct idl_req *r, const char *etag) {
  const char *inm = mg_get_header(r->conn, "If-None-Match");
  return inm && (strstr(inm, etag) || !strcmp(inm, "*"));
}

static int send_file(struct idl_req *r, const struct idl_console_file *f) {
  int is_index = !strcmp(f->path, "index.html");
  int status = not_modified(r, f->etag) ? 304 : 200;
  char head[768];
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                   "Cache-Control: %s\r\nETag: %s\r\n"
                   "X-Content-Type-Options: nosniff\r\n"
                   "Content-Security-Policy: default-src 'self'; img-src 'self' data: blob:; "
                   "frame-ancestors 'none'\r\n"
                   "Referrer-Policy: no-referrer\r\n%s",
                   status, status == 304 ? "Not Modified" : "OK", f->type,
                   is_index ? "no-cache" : "public, max-age=86400", f->etag,
                   r->close ? "Connection: close\r\n" : "");
  if (status == 200)
    n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n", f->len);
  n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
  if (r->close)
    mg_disable_connection_keep_alive(r->conn);
  idl_http_write(r, head, (size_t)n);
  if (status == 200 && !r->head_only)
    idl_http_write(r, f->data, f->len);
  return status;
}

/* GET or HEAD of /console/ (its route) and of any /console/... path (called
 * by the router for paths no route names): 0 when path is not the console's.
 * The path is the request's own: names outside the table, encoded ones
 * included, are 404. */
int idl_handle_console(struct idl_req *r) {
  const char *path = mg_get_request_info(r->conn)->local_uri;
  if (!strcmp(path, "/console")) {
    r->route = "/console";
    return idl_http_send_extra(r, 301, idl_json_detail("Moved to /console/."),
                               "Location: /console/\r\n");
  }
  if (strncmp(path, PREFIX, PREFIX_LEN) != 0)
    return 0;
  if (!r->route)
    r->route = "/console/{file}";
  if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
    return idl_http_not_allowed(r, "GET, HEAD");
  const struct idl_console_file *f = find_file(path + PREFIX_LEN);
  if (!f)
    return idl_http_detail(r, 404, "Not found.");
  return send_file(r, f);
}

/* The access log (SPEC section 11): one JSON line per request, {"time",
 * "method", "route" (the template, never the path), "status",
 * "duration_ms", "bytes", "token" (its NAME, never the token), "query"},
 * to stderr or --access-log FILE. Emails and phones in the query string are
 * masked as the other logs mask them: j***@example.com, ***5555. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_internal.h"
#include "idlink/contact.h"
#include "idlink/log.h"
#include "idlink/normalize.h"

struct idl_access_log {
  FILE *f;
  int own; /* a file of its own, closed at the end */
};

enum idl_err idl_access_log_open(const char *where, struct idl_access_log **out, char *why,
                                 size_t why_len) {
  *out = NULL;
  if (where && !strcmp(where, "off"))
    return IDL_ERR_OK;
  struct idl_access_log *l = calloc(1, sizeof(*l));
  if (!l)
    return IDL_ERR_NOMEM;
  if (!where || !strcmp(where, "-")) {
    l->f = stderr;
  } else if (!(l->f = fopen(where, "a"))) {
    snprintf(why, why_len, "%s: %s", where, strerror(errno));
    free(l);
    return IDL_ERR_INVAL;
  } else {
    l->own = 1;
  }
  *out = l;
  return IDL_ERR_OK;
}

void idl_access_log_close(struct idl_access_log *l) {
  if (!l)
    return;
  if (l->own)
    fclose(l->f);
  free(l);
}

/* Whether a decoded query value is a phone: digits (5 or more) and the
 * separators people type. */
static int looks_like_phone(const char *v) {
  size_t digits = 0;
  for (const char *s = v; *s; s++) {
    if (isdigit((unsigned char)*s))
      digits++;
    else if (!strchr("+ -().", *s))
      return 0;
  }
  return digits >= 5;
}

/* The query string with each value decoded, and masked when it is an email
 * or a phone. */
static void masked_query(const char *query, struct idl_text *t) {
  while (query && *query) {
    size_t len = strcspn(query, "&");
    const char *eq = memchr(query, '=', len);
    size_t name_len = eq ? (size_t)(eq - query) : len;
    char name[128], value[512], masked[IDL_MASK_MAX];
    int n = mg_url_decode(query, (int)(name_len < sizeof(name) ? name_len : sizeof(name) - 1),
                          name, sizeof(name), 1);
    int v = eq ? mg_url_decode(eq + 1, (int)(len - name_len - 1), value, sizeof(value), 1) : 0;
    if (n < 0)
      name[0] = '\0';
    if (v < 0)
      snprintf(value, sizeof(value), "(too long)");
    const char *shown = value;
    if (strchr(value, '@'))
      idl_mask_email(value, masked), shown = masked;
    else if (looks_like_phone(value))
      idl_mask_phone(value, masked), shown = masked;
    if (t->len)
      idl_text_put(t, "&", 1);
    idl_text_put(t, name, strlen(name));
    if (eq) {
      idl_text_put(t, "=", 1);
      idl_text_put(t, shown, strlen(shown));
    }
    query += len + (query[len] == '&');
  }
}

/* A string as a JSON string, or null when empty; s is UTF-8 cleaned first. */
static void put_string_or_null(struct idl_text *t, const char *s) {
  char clean[512];
  if (!s || !*s) {
    idl_text_put(t, "null", 4);
    return;
  }
  idl_utf8_clean(s, clean, sizeof(clean));
  idl_text_put_json_string(t, clean, strlen(clean));
}

/* The line is written as JSON text directly and handed to the kernel in one
 * write(2): a line shorter than PIPE_BUF is never interleaved with another
 * thread's, neither on a pipe nor in a file opened for appending, so no lock
 * is taken and stderr's lack of a buffer costs one system call, not two. */
void idl_access_log_write(struct idl_access_log *l, const struct idl_req *r, int status,
                          int64_t started_us) {
  if (!l)
    return;
  char when[IDL_ISO_TIME_LEN + 1], ms[32];
  idl_format_time(idl_now_ms(), when);
  snprintf(ms, sizeof(ms), "%.3f", (double)(idl_now_us() - started_us) / 1000.0);
  struct idl_text q = {0}, t = {0};
  masked_query(mg_get_request_info(r->conn)->query_string, &q);
  idl_text_put(&t, "{\"time\":\"", 9);
  idl_text_put(&t, when, strlen(when));
  idl_text_put(&t, "\",\"method\":", 11);
  put_string_or_null(&t, r->method);
  idl_text_put(&t, ",\"route\":", 9);
  put_string_or_null(&t, r->route);
  idl_text_put(&t, ",\"status\":", 10);
  idl_text_put_int(&t, status);
  idl_text_put(&t, ",\"duration_ms\":", 15);
  idl_text_put(&t, ms, strlen(ms));
  idl_text_put(&t, ",\"bytes\":", 9);
  idl_text_put_int(&t, (int64_t)r->bytes);
  idl_text_put(&t, ",\"token\":", 9);
  put_string_or_null(&t, r->token_name);
  idl_text_put(&t, ",\"query\":", 9);
  char clean[512];
  idl_utf8_clean(q.data ? q.data : "", clean, sizeof(clean));
  idl_text_put_json_string(&t, clean, strlen(clean));
  idl_text_put(&t, "}\n", 2);
  free(q.data);
  if (!t.failed) {
    int fd = fileno(l->f);
    for (size_t off = 0; off < t.len;) {
      ssize_t n = write(fd, t.data + off, t.len - off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break; /* a log that cannot be written does not stop the service */
      off += (size_t)n;
    }
  }
  free(t.data);
}

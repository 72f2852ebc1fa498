/* The access log (SPEC section 11): one JSON line per request, {"time",
 * "method", "route" (the template, never the path), "status",
 * "duration_ms", "bytes", "token" (its NAME, never the token), "query"},
 * to stderr or --access-log FILE. Emails and phones in the query string are
 * masked as the other logs mask them: j***@example.com, ***5555. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"
#include "idlink/contact.h"
#include "idlink/log.h"
#include "idlink/normalize.h"

struct idl_access_log {
  FILE *f;
  int own; /* a file of its own, closed at the end */
  pthread_mutex_t lock;
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
    setvbuf(l->f, NULL, _IOLBF, 0);
  }
  pthread_mutex_init(&l->lock, NULL);
  *out = l;
  return IDL_ERR_OK;
}

void idl_access_log_close(struct idl_access_log *l) {
  if (!l)
    return;
  if (l->own)
    fclose(l->f);
  pthread_mutex_destroy(&l->lock);
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

void idl_access_log_write(struct idl_access_log *l, const struct idl_req *r, int status,
                          int64_t started_us) {
  if (!l)
    return;
  char when[IDL_ISO_TIME_LEN + 1], clean[512];
  idl_format_time(idl_now_ms(), when);
  struct idl_text q = {0};
  masked_query(mg_get_request_info(r->conn)->query_string, &q);
  idl_utf8_clean(q.data ? q.data : "", clean, sizeof(clean));
  free(q.data);
  double ms = (double)(idl_now_us() - started_us) / 1000.0;
  json_t *line = json_pack("{s:s,s:s,s:o,s:i,s:f,s:I,s:o,s:s}", "time", when, "method",
                           r->method, "route", r->route ? json_string(r->route) : json_null(),
                           "status", status, "duration_ms", ms, "bytes", (json_int_t)r->bytes,
                           "token", *r->token_name ? json_string(r->token_name) : json_null(),
                           "query", clean);
  char *text = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                           JSON_REAL_PRECISION(6))
                    : NULL;
  json_decref(line);
  if (!text)
    return;
  pthread_mutex_lock(&l->lock);
  fputs(text, l->f);
  fputc('\n', l->f);
  pthread_mutex_unlock(&l->lock);
  free(text);
}

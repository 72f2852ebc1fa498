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

#include "filter_internal.h"
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

/* What the log shows for a part it cannot mask with certainty. */
static const char MASKED[] = "(masked)";

/* Characters that end a word that may be an email. */
static const char WORD_ENDS[] = " \t\r\n\v\f,;<>()[]{}\"'";

/* Whether the len bytes at s hold a %40 (an @ encoded twice). */
static int holds_encoded_at(const char *s, size_t len) {
  for (size_t i = 0; i + 2 < len; i++)
    if (s[i] == '%' && s[i + 1] == '4' && s[i + 2] == '0')
      return 1;
  return 0;
}

/* An email encoded twice (no @, a %40) made to show the @ it stands for. */
static void unescape_at(char *email) {
  char *at = strchr(email, '@') ? NULL : strstr(email, "%40");
  if (at)
    memmove(at + 1, at + 3, strlen(at + 3) + 1), *at = '@';
}

/* Appends s with every word that holds an @ (or a %40: an email encoded
 * twice) masked as an email. */
static void put_emails_masked(struct idl_text *t, const char *s) {
  while (*s) {
    size_t word = strcspn(s, WORD_ENDS);
    if (!word) {
      idl_text_put(t, s++, 1);
      continue;
    }
    char email[512], masked[IDL_MASK_MAX];
    if (!memchr(s, '@', word) && !holds_encoded_at(s, word)) {
      idl_text_put(t, s, word);
    } else if (word >= sizeof(email)) { /* too long to be an email: not shown */
      idl_text_put(t, MASKED, sizeof(MASKED) - 1);
    } else {
      snprintf(email, sizeof(email), "%.*s", (int)word, s);
      unescape_at(email);
      idl_mask_email(email, masked);
      idl_text_put(t, masked, strlen(masked));
    }
    s += word;
  }
}

static int phone_separator(char c) { return c && strchr("+ -().", c) != NULL; }

/* Whether the n bytes at s are a date, YYYY-MM-DD: not a phone. */
static int is_date(const char *s, size_t n) {
  static const char shape[] = "dddd-dd-dd";
  if (n != sizeof(shape) - 1)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != '-')
      return 0;
  return 1;
}

/* Appends s with every phone in it masked: a run of 5 or more digits and
 * the separators people type, not glued to a letter or a digit on either
 * side (so that the parts of a date and time stay readable). */
static void put_phones_masked(struct idl_text *t, const char *s) {
  for (size_t i = 0; s[i];) {
    int starts = (isdigit((unsigned char)s[i]) || s[i] == '+' || s[i] == '(') &&
                 (i == 0 || !isalnum((unsigned char)s[i - 1]));
    size_t end = i, digits = 0;
    for (size_t j = i; starts && (isdigit((unsigned char)s[j]) || phone_separator(s[j])); j++)
      if (isdigit((unsigned char)s[j]))
        digits++, end = j + 1;
    if (digits >= 5 && !isalnum((unsigned char)s[end]) && !is_date(s + i, end - i)) {
      char phone[512], masked[IDL_MASK_MAX];
      snprintf(phone, sizeof(phone), "%.*s", (int)(end - i), s + i);
      idl_mask_phone(phone, masked);
      idl_text_put(t, masked, strlen(masked));
      i = end;
    } else {
      idl_text_put(t, s + i, 1);
      i++;
    }
  }
}

/* Appends s with its emails and phones masked, wherever they stand in it. */
static void put_masked(struct idl_text *t, const char *s) {
  struct idl_text emails = {0};
  put_emails_masked(&emails, s);
  put_phones_masked(t, emails.data ? emails.data : "");
  if (emails.failed)
    t->failed = 1;
  free(emails.data);
}

/* The parameters that name an email or a phone (SPEC sections 2, 7 and 8),
 * with any lookup after "__": their values are masked whole, whatever their
 * shape (a "+" read as a space, a quoted local part, a typo after a phone). */
enum contact_kind { NOT_CONTACT, EMAIL_VALUE, PHONE_VALUE };

static enum contact_kind contact_kind(const char *name) {
  const char *lookup = strstr(name, "__");
  size_t base = lookup ? (size_t)(lookup - name) : strlen(name);
  if (base == 5 && !strncmp(name, "email", 5))
    return EMAIL_VALUE;
  if ((base == 12 && !strncmp(name, "phone_number", 12)) ||
      (base == 11 && !strncmp(name, "phoneNumber", 11)))
    return PHONE_VALUE;
  return NOT_CONTACT;
}

/* value, a whole email or phone (or a prefix of one), masked. */
static void put_contact_masked(struct idl_text *t, enum contact_kind kind, const char *value) {
  char masked[IDL_MASK_MAX];
  if (!*value)
    return;
  if (kind == PHONE_VALUE) { /* its last four digits, if it has them */
    char last[4];
    size_t n = 0;
    for (const char *c = value; *c; c++)
      if (isdigit((unsigned char)*c))
        last[n++ % 4] = *c;
    idl_text_put(t, "***", 3);
    for (size_t i = 0; n >= 4 && i < 4; i++)
      idl_text_put(t, &last[(n + i) % 4], 1);
    return;
  }
  char *email = strdup(value);
  if (!email) {
    t->failed = 1;
    return;
  }
  unescape_at(email);
  if (strchr(email, '@')) {
    idl_mask_email(email, masked);
    const char *domain = strstr(masked, "***@");
    domain = domain ? domain + 4 : masked + strlen(masked);
    idl_text_put(t, masked, (size_t)(domain - masked));
    put_masked(t, domain); /* the domain may hold more */
  } else { /* a prefix of an email: its first character */
    size_t first = 1;
    while (email[first] && ((unsigned char)email[first] & 0xC0) == 0x80)
      first++;
    idl_text_put(t, email, first);
    idl_text_put(t, "***", 3);
  }
  free(email);
}

/* The query string with each name and value decoded, and every email and
 * phone in them masked. */
static void masked_query(const char *query, struct idl_text *t) {
  struct idl_query_part part;
  for (const char *s = query; idl_query_next(&s, &part);) {
    char *name, *value;
    int nul_name, nul_value;
    if (idl_query_part_decode(&part, &name, &nul_name, &value, &nul_value))
      return;
    /* What follows a NUL byte would escape the masking: such a part is not shown. */
    if (t->len)
      idl_text_put(t, "&", 1);
    put_masked(t, nul_name ? MASKED : name);
    if (part.value) {
      idl_text_put(t, "=", 1);
      enum contact_kind kind = nul_name ? NOT_CONTACT : contact_kind(name);
      if (nul_name || nul_value)
        idl_text_put(t, MASKED, sizeof(MASKED) - 1);
      else if (kind != NOT_CONTACT)
        put_contact_masked(t, kind, value);
      else
        put_masked(t, value);
    }
    free(name);
    free(value);
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

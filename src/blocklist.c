/* The junk-value rules and their matching: '*' wildcards over normalized
 * values, plus the shipped rule for a phone of one repeated digit. */
#include "idlink/blocklist.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idlink/contact.h"

struct idl_blocklist {
  struct idl_block_rule *v; /* each pattern owned */
  size_t n, cap;
};

/* The shipped rules: placeholders people type when a form insists. */
static const char *const default_emails[] = {
    "test@test.com",    "test@example.com", "example@example.com", "email@example.com",
    "user@example.com", "a@a.com",          "none@none.com",       "null@null.com",
    "na@na.com",        "no@email.com",     "noreply@*",           "no-reply@*",
    "donotreply@*",     "do-not-reply@*",   "noemail@*",           "nomail@*",
};
static const char *const default_phones[] = {
    "0000000000", "1234567890", "0123456789", "123456789", "12345678", "1234567",
    IDL_BLOCK_REPEATED,
};

enum idl_err idl_blocklist_new(struct idl_blocklist **out) {
  return (*out = calloc(1, sizeof(**out))) ? IDL_ERR_OK : IDL_ERR_NOMEM;
}

void idl_blocklist_free(struct idl_blocklist *bl) {
  if (!bl)
    return;
  for (size_t i = 0; i < bl->n; i++)
    free((char *)bl->v[i].pattern);
  free(bl->v);
  free(bl);
}

/* The pattern as values are stored: an email's lower-cased, a phone's
 * without spaces, dashes, dots and parentheses. NULL (with why) when it
 * cannot match a stored value. */
static char *normalize_pattern(enum idl_index kind, const char *s, size_t len, char *why,
                               size_t why_len) {
  while (len && isspace((unsigned char)*s))
    s++, len--;
  while (len && isspace((unsigned char)s[len - 1]))
    len--;
  char *p = malloc(len + 1);
  size_t n = 0;
  if (!p) {
    snprintf(why, why_len, "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (kind == IDL_INDEX_EMAIL) {
      if (isspace(c)) {
        snprintf(why, why_len, "an email pattern holds no white space");
        free(p);
        return NULL;
      }
      p[n++] = (char)tolower(c);
    } else if (isdigit(c) || c == '*' || (c == '+' && n == 0)) {
      p[n++] = (char)c;
    } else if (!strchr(" -.()", c)) {
      snprintf(why, why_len, "a phone pattern holds digits, a leading '+' and '*' only");
      free(p);
      return NULL;
    }
  }
  p[n] = '\0';
  if (!n) {
    snprintf(why, why_len, "the pattern is empty");
    free(p);
    return NULL;
  }
  return p;
}

static enum idl_err add_rule(struct idl_blocklist *bl, enum idl_index kind, char *pattern,
                             const char *source) {
  for (size_t i = 0; i < bl->n; i++)
    if (bl->v[i].kind == kind && !strcmp(bl->v[i].pattern, pattern)) {
      free(pattern); /* the same rule twice is one rule */
      return IDL_ERR_OK;
    }
  struct idl_block_rule *v = idl_grow(bl->v, &bl->cap, bl->n, sizeof(*v));
  if (!v) {
    free(pattern);
    return IDL_ERR_NOMEM;
  }
  bl->v = v;
  bl->v[bl->n++] = (struct idl_block_rule){kind, pattern, source};
  return IDL_ERR_OK;
}

enum idl_err idl_blocklist_add_default(struct idl_blocklist *bl) {
  enum idl_err err = IDL_ERR_OK;
  for (size_t i = 0; !err && i < sizeof(default_emails) / sizeof(*default_emails); i++) {
    char *p = strdup(default_emails[i]);
    err = p ? add_rule(bl, IDL_INDEX_EMAIL, p, "default") : IDL_ERR_NOMEM;
  }
  for (size_t i = 0; !err && i < sizeof(default_phones) / sizeof(*default_phones); i++) {
    char *p = strdup(default_phones[i]);
    err = p ? add_rule(bl, IDL_INDEX_PHONE, p, "default") : IDL_ERR_NOMEM;
  }
  return err;
}

/* Parses "email:PATTERN" or "phone:PATTERN" (len bytes) into a rule. */
static enum idl_err add_line(struct idl_blocklist *bl, const char *line, size_t len,
                             const char *source, char *why, size_t why_len) {
  enum idl_index kind;
  if (len > 6 && !strncmp(line, "email:", 6))
    kind = IDL_INDEX_EMAIL;
  else if (len > 6 && !strncmp(line, "phone:", 6))
    kind = IDL_INDEX_PHONE;
  else {
    snprintf(why, why_len, "expected email:PATTERN or phone:PATTERN");
    return IDL_ERR_INVAL;
  }
  if (kind == IDL_INDEX_PHONE && len - 6 == strlen(IDL_BLOCK_REPEATED) &&
      !strncmp(line + 6, IDL_BLOCK_REPEATED, len - 6)) {
    char *p = strdup(IDL_BLOCK_REPEATED);
    return p ? add_rule(bl, kind, p, source) : IDL_ERR_NOMEM;
  }
  char *p = normalize_pattern(kind, line + 6, len - 6, why, why_len);
  return p ? add_rule(bl, kind, p, source) : IDL_ERR_INVAL;
}

enum idl_err idl_blocklist_add_file(struct idl_blocklist *bl, const char *path, char *why,
                                    size_t why_len) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(why, why_len, "%s: %s", path, strerror(errno));
    return IDL_ERR_INVAL;
  }
  char line[2048], what[160];
  enum idl_err err = IDL_ERR_OK;
  for (unsigned n = 1; !err && fgets(line, sizeof(line), f); n++) {
    size_t len = strcspn(line, "\r\n");
    if (len == sizeof(line) - 1) {
      snprintf(why, why_len, "%s:%u: the line is longer than %zu bytes", path, n,
               sizeof(line) - 2);
      err = IDL_ERR_INVAL;
      break;
    }
    line[len] = '\0';
    const char *s = line;
    while (isspace((unsigned char)*s))
      s++;
    if (!*s || *s == '#')
      continue;
    if ((err = add_line(bl, s, strlen(s), "file", what, sizeof(what))) == IDL_ERR_INVAL)
      snprintf(why, why_len, "%s:%u: %s, got \"%.60s\"", path, n, what, s);
  }
  if (!err && ferror(f)) {
    snprintf(why, why_len, "%s: %s", path, strerror(errno));
    err = IDL_ERR_INVAL;
  }
  fclose(f);
  return err;
}

/* Whether s matches pattern p, '*' matching any run of characters. */
static int matches(const char *p, const char *s) {
  const char *star = NULL, *resume = NULL;
  while (*s) {
    if (*p == '*') {
      star = p++;
      resume = s;
    } else if (*p == *s) {
      p++, s++;
    } else if (star) {
      p = star + 1;
      s = ++resume;
    } else {
      return 0;
    }
  }
  while (*p == '*')
    p++;
  return *p == '\0';
}

/* A phone of one digit repeated 6 or more times ("+" aside). */
static int repeated_digit(const char *s) {
  if (*s == '+')
    s++;
  size_t n = strlen(s);
  if (n < 6)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)s[i]) || s[i] != s[0])
      return 0;
  return 1;
}

int idl_blocklist_blocks(const struct idl_blocklist *bl, enum idl_index kind,
                         const char *value) {
  if (!bl || !*value)
    return 0;
  for (size_t i = 0; i < bl->n; i++) {
    const struct idl_block_rule *r = &bl->v[i];
    if (r->kind != kind)
      continue;
    if (!strcmp(r->pattern, IDL_BLOCK_REPEATED) ? repeated_digit(value)
                                                : matches(r->pattern, value))
      return 1;
  }
  return 0;
}

size_t idl_blocklist_count(const struct idl_blocklist *bl) {
  return bl ? bl->n : 0;
}

const struct idl_block_rule *idl_blocklist_rule(const struct idl_blocklist *bl, size_t i) {
  return &bl->v[i];
}

char *idl_blocklist_text(const struct idl_blocklist *bl) {
  size_t len = 1;
  for (size_t i = 0; bl && i < bl->n; i++)
    len += strlen(bl->v[i].pattern) + strlen(bl->v[i].source) + 9;
  char *text = malloc(len), *at = text;
  if (!text)
    return NULL;
  *at = '\0';
  for (size_t i = 0; bl && i < bl->n; i++)
    at += sprintf(at, "%s:%s\t%s\n", bl->v[i].kind == IDL_INDEX_EMAIL ? "email" : "phone",
                  bl->v[i].pattern, bl->v[i].source);
  return text;
}

enum idl_err idl_blocklist_add_text(struct idl_blocklist *bl, const char *text) {
  char why[160];
  enum idl_err err = IDL_ERR_OK;
  while (!err && *text) {
    size_t len = strcspn(text, "\n"), rule = strcspn(text, "\t\n");
    const char *source = rule < len && !strncmp(text + rule + 1, "default", 7) ? "default"
                                                                              : "file";
    err = add_line(bl, text, rule, source, why, sizeof(why));
    text += len + (text[len] == '\n');
  }
  return err == IDL_ERR_INVAL ? IDL_ERR_CORRUPT : err;
}

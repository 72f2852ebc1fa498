#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idlink/normalize.h"

/* ------------------------------------------------------------ rendering */

json_t *idl_json_detail(const char *fmt, ...) {
  char msg[512], clean[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  /* A message may quote input (or be cut inside a character): jansson
   * refuses a string that is not UTF-8. */
  idl_utf8_clean(msg, clean, sizeof(clean));
  return json_pack("{s:s}", "detail", clean);
}

static json_t *id_or_null(uint64_t id) {
  return id ? json_integer((json_int_t)id) : json_null();
}

static json_t *str_or_null(const char *s) { return *s ? json_string(s) : json_null(); }

static json_t *time_or_null(int64_t ms) {
  if (ms == IDL_TIME_NULL)
    return json_null();
  char buf[IDL_ISO_TIME_LEN + 1];
  idl_format_time(ms, buf);
  return json_string(buf);
}

static json_t *ids_array(const uint64_t *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < n; i++)
    json_array_append_new(a, json_integer((json_int_t)v[i]));
  return a;
}

int idl_text_reserve(struct idl_text *t, size_t n) {
  if (t->failed)
    return 0;
  if (t->len + n + 1 <= t->cap)
    return 1;
  size_t cap = t->cap ? t->cap : 256;
  while (cap < t->len + n + 1)
    cap *= 2;
  char *data = realloc(t->data, cap);
  if (!data) {
    t->failed = 1;
    t->cap = 0; /* every later put takes the slow path and stops there */
    return 0;
  }
  t->data = data;
  t->cap = cap;
  return 1;
}

static void put_str(struct idl_text *t, const char *s) { idl_text_put(t, s, strlen(s)); }

void idl_text_put_int(struct idl_text *t, int64_t v) {
  char buf[24], *p = buf + sizeof(buf);
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do
    *--p = (char)('0' + u % 10);
  while (u /= 10);
  if (v < 0)
    *--p = '-';
  idl_text_put(t, p, (size_t)(buf + sizeof(buf) - p));
}

static void put_uint(struct idl_text *t, uint64_t v) { idl_text_put_int(t, (int64_t)v); }

/* Quotes, backslashes and control characters escaped (the short forms
 * where JSON has them, else \u00XX, as jansson writes them); the rest of the
 * (valid) UTF-8 passes as it is. */
void idl_text_put_json_string(struct idl_text *t, const char *s, size_t len) {
  idl_text_put(t, "\"", 1);
  const char *run = s, *end = s + len;
  for (; s < end; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    idl_text_put(t, run, (size_t)(s - run));
    char esc[8];
    char letter = c == '"' ? '"' : c == '\\' ? '\\' : c == '\b' ? 'b' : c == '\f' ? 'f'
                : c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : 0;
    if (letter)
      snprintf(esc, sizeof(esc), "\\%c", letter);
    else
      snprintf(esc, sizeof(esc), "\\u%04X", c);
    put_str(t, esc);
    run = s + 1;
  }
  idl_text_put(t, run, (size_t)(s - run));
  idl_text_put(t, "\"", 1);
}

static void put_json_string(struct idl_text *t, const char *s) {
  idl_text_put_json_string(t, s, strlen(s));
}

static void put_values(struct idl_text *t, const struct idl_identity *ident,
                       enum idl_index which) {
  const char **v;
  size_t n;
  if (idl_identity_values(ident, which, &v, &n)) {
    t->failed = 1;
    return;
  }
  idl_text_put(t, "[", 1);
  for (size_t i = 0; i < n; i++) {
    if (i)
      idl_text_put(t, ",", 1);
    put_json_string(t, v[i]);
  }
  idl_text_put(t, "]", 1);
  free(v);
}

enum idl_err idl_json_identity_text(const struct idl_identity *ident,
                                    enum idl_identity_frame frame, char **out, size_t *len) {
  struct idl_text t = {0};
  if (frame == IDL_FRAME_CUSTOMER) {
    put_str(&t, "{\"customerID\":\"");
    put_uint(&t, ident->c[0].id);
    put_str(&t, "\",\"contact\":");
  } else if (frame == IDL_FRAME_CONTACT) {
    put_str(&t, "{\"contact\":");
  }
  put_str(&t, "{\"primaryContactId\":");
  put_uint(&t, ident->c[0].id);
  put_str(&t, ",\"emails\":");
  put_values(&t, ident, IDL_INDEX_EMAIL);
  put_str(&t, ",\"phoneNumbers\":");
  put_values(&t, ident, IDL_INDEX_PHONE);
  put_str(&t, ",\"secondaryContactIds\":[");
  for (size_t i = 1; i < ident->n; i++) {
    if (i > 1)
      idl_text_put(&t, ",", 1);
    put_uint(&t, ident->c[i].id);
  }
  put_str(&t, frame == IDL_FRAME_BARE ? "]}" : "]}}");
  if (t.failed) {
    free(t.data);
    return IDL_ERR_NOMEM;
  }
  *out = t.data;
  *len = t.len;
  return IDL_ERR_OK;
}

json_t *idl_json_contact(const struct idl_contact *c) {
  return json_pack("{s:I, s:o, s:o, s:o, s:s, s:o, s:o, s:o}", "id", (json_int_t)c->id,
                   "email", str_or_null(c->email), "phoneNumber", str_or_null(c->phone),
                   "linkedId", id_or_null(c->linked_id), "linkPrecedence",
                   c->precedence == IDL_PRIMARY ? "primary" : "secondary", "createdAt",
                   time_or_null(c->created_ms), "updatedAt", time_or_null(c->updated_ms),
                   "deletedAt", time_or_null(c->deleted_ms));
}

json_t *idl_json_change(const struct idl_change *c) {
  if (c->kind == IDL_CHANGE_RECORD)
    return json_pack("{s:I, s:o, s:s, s:I}", "seq", (json_int_t)c->seq, "at",
                     time_or_null(c->at_ms), "kind", c->name, "pk", (json_int_t)c->pk);
  json_t *o = json_pack("{s:I, s:o, s:s, s:I}", "seq", (json_int_t)c->seq, "at",
                        time_or_null(c->at_ms), "kind", idl_change_name(c),
                        "primary", (json_int_t)c->primary);
  if (!o)
    return NULL;
  const char *list = idl_change_list_key(c);
  if (list)
    json_object_set_new(o, list, ids_array(c->absorbed.v, c->absorbed.n));
  else
    json_object_set_new(o, "contact", json_integer((json_int_t)c->contact));
  return o;
}

/* -------------------------------------------------------------- parsing */

json_t *idl_json_parse_error(const json_error_t *jerr) {
  /* jansson names its own flag for a NUL in a string; a client needs to
   * know what is wrong with its body instead. */
  const char *what = strstr(jerr->text, "JSON_ALLOW_NUL")
                         ? "\\u0000 (a NUL character) is not allowed in a string"
                         : jerr->text;
  /* jansson quotes the text near the error, cut at a byte count that may
   * fall inside a UTF-8 character: idl_json_detail makes it valid UTF-8. */
  return idl_json_detail("JSON parse error - %s at line %d column %d", what, jerr->line,
                         jerr->column);
}

static const char *const MSG_EMAIL_INVALID = "Enter a valid email address.";
static const char *const MSG_EMAIL_TYPE = "Not a valid string.";
static const char *const MSG_PHONE_INVALID = "Enter a valid phone number.";
static const char *const MSG_PHONE_TYPE = "Must be a string or an integer.";

/* Python's names for JSON types, as DRF's messages use them. */
const char *idl_json_type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_ARRAY: return "list";
  case JSON_STRING: return "str";
  case JSON_INTEGER: return "int";
  case JSON_REAL: return "float";
  case JSON_TRUE:
  case JSON_FALSE: return "bool";
  case JSON_NULL: return "NoneType";
  default: return "dict";
  }
}

static void field_error(json_t **errors, const char *field, const char *msg) {
  if (!*errors)
    *errors = json_object();
  if (*errors)
    json_object_set_new(*errors, field, json_pack("[s]", msg));
}

int idl_json_email(const json_t *j, char *out, enum idl_err *err) {
  out[0] = '\0';
  if (!json_is_string(j))
    return 0;
  *err = idl_normalize_email(json_string_value(j), json_string_length(j), out);
  return 1;
}

int idl_json_phone(const json_t *j, char *out, enum idl_err *err) {
  out[0] = '\0';
  if (json_is_integer(j))
    *err = idl_normalize_phone_int(json_integer_value(j), out);
  else if (json_is_string(j))
    *err = idl_normalize_phone(json_string_value(j), json_string_length(j), out);
  else
    return 0;
  return 1;
}

/* An identify body's email or phone: absent and null are none, an empty
 * one is none too. */
static void parse_value(const json_t *v, int (*read)(const json_t *, char *, enum idl_err *),
                        const char *field, const char *type_msg, const char *invalid_msg,
                        char *out, json_t **errors) {
  enum idl_err err = IDL_ERR_OK;
  out[0] = '\0';
  if (!v || json_is_null(v))
    return;
  if (!read(v, out, &err))
    field_error(errors, field, type_msg);
  else if (err == IDL_ERR_NOTFOUND)
    out[0] = '\0';
  else if (err)
    field_error(errors, field, invalid_msg);
}

/* Bodies nest no deeper than this. The parser recurses once per level, and
 * the HTTP worker threads run on small stacks, so depth is checked first. */
#define MAX_DEPTH 32

/* Finds the first bracket nested deeper than MAX_DEPTH, outside strings.
 * Returns 0 when there is none; otherwise fills line and column (from 1). */
static int too_deep(const char *s, size_t len, int *line, int *column) {
  int depth = 0, in_string = 0, escaped = 0;
  *line = 1;
  *column = 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    (*column)++;
    if (c == '\n') {
      (*line)++;
      *column = 0;
    }
    if (in_string) {
      if (escaped)
        escaped = 0;
      else if (c == '\\')
        escaped = 1;
      else if (c == '"')
        in_string = 0;
    } else if (c == '"') {
      in_string = 1;
    } else if (c == '[' || c == '{') {
      if (++depth > MAX_DEPTH)
        return 1;
    } else if (c == ']' || c == '}') {
      depth--;
    }
  }
  return 0;
}

enum idl_err idl_json_parse_body(const char *body, size_t len, json_t **out,
                                 json_t **error) {
  int line, column;
  if (too_deep(body, len, &line, &column)) {
    *error = idl_json_detail("JSON parse error - nesting deeper than %d levels at line %d "
                             "column %d", MAX_DEPTH, line, column);
    return IDL_ERR_INVAL;
  }
  json_error_t jerr;
  json_t *root = len ? json_loadb(body, len, JSON_DECODE_ANY, &jerr) : json_object();
  if (!root) {
    *error = len ? idl_json_parse_error(&jerr) : idl_json_detail("Out of memory.");
    return IDL_ERR_INVAL;
  }
  *out = root;
  return IDL_ERR_OK;
}

enum idl_err idl_json_parse_request(const char *body, size_t len, struct idl_request *req,
                                    json_t **error) {
  json_t *root = NULL;
  if (idl_json_parse_body(body, len, &root, error))
    return IDL_ERR_INVAL;
  json_t *errors = NULL;
  if (!json_is_object(root)) {
    char msg[96];
    snprintf(msg, sizeof(msg), "Invalid data. Expected a dictionary, but got %s.",
             idl_json_type_name(root));
    field_error(&errors, "non_field_errors", msg);
  } else {
    parse_value(json_object_get(root, "email"), idl_json_email, "email", MSG_EMAIL_TYPE,
                MSG_EMAIL_INVALID, req->email, &errors);
    parse_value(json_object_get(root, "phoneNumber"), idl_json_phone, "phoneNumber",
                MSG_PHONE_TYPE, MSG_PHONE_INVALID, req->phone, &errors);
  }
  json_decref(root);
  if (errors) {
    *error = errors;
    return IDL_ERR_INVAL;
  }
  if (!*req->email && !*req->phone) {
    *error = idl_json_detail("email or phoneNumber is required");
    return IDL_ERR_INVAL;
  }
  return IDL_ERR_OK;
}

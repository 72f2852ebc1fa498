/* Records in and out of JSON, as Django REST Framework's serializers take and
 * show them: one parser and one renderer per field type, every message DRF's
 * own (SPEC section 7). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "idlink/normalize.h"
#include "record_internal.h"

#define MSG_REQUIRED "This field is required."
#define MSG_NULL "This field may not be null."
#define MSG_BLANK "This field may not be blank."
#define MSG_INT "A valid integer is required."
#define MSG_STRING "Not a valid string."
#define MSG_EMAIL "Enter a valid email address."
#define MSG_PHONE "Enter a valid phone number."
#define MSG_BOOL "Must be a valid boolean."
#define MSG_NUMBER "A valid number is required."
#define MSG_NUL "Null characters are not allowed."
#define MSG_DATE "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
#define MSG_TIME                                                               \
  "Datetime has wrong format. Use one of these formats instead: "              \
  "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
#define JSON_FIELD_MAX 65536

int64_t idl_now_wall_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------- dates and times */

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}


static int days_in_month(int y, unsigned m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[m - 1];
}

/* Reads exactly n digits at *s. */
static int digits(const char **s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)(*s)[i]))
      return -1;
    v = v * 10 + ((*s)[i] - '0');
  }
  *s += n;
  *out = v;
  return 0;
}

/* YYYY-MM-DD at *s, advancing past it. */
static int read_date(const char **s, int64_t *days) {
  int y, m, d;
  if (digits(s, 4, &y) || *(*s)++ != '-' || digits(s, 2, &m) || *(*s)++ != '-' ||
      digits(s, 2, &d) || y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, (unsigned)m))
    return -1;
  *days = days_from_civil(y, (unsigned)m, (unsigned)d);
  return 0;
}

int idl_parse_date(const char *s, int64_t *days) {
  return read_date(&s, days) == 0 && *s == '\0' ? 0 : -1;
}

int idl_parse_datetime(const char *s, int64_t *us) {
  int64_t days;
  int hh, mm, ss = 0, frac = 0;
  if (read_date(&s, &days) || (*s != 'T' && *s != 't' && *s != ' '))
    return -1;
  s++;
  if (digits(&s, 2, &hh) || *s++ != ':' || digits(&s, 2, &mm) || hh > 23 || mm > 59)
    return -1;
  if (*s == ':') {
    s++;
    if (digits(&s, 2, &ss) || ss > 59)
      return -1;
    if (*s == '.' || *s == ',') {
      s++;
      int n = 0;
      for (; isdigit((unsigned char)*s); s++, n++)
        if (n < 6)
          frac = frac * 10 + (*s - '0');
      if (n == 0)
        return -1;
      for (; n < 6; n++)
        frac *= 10;
    }
  }
  int64_t offset_s = 0;
  if (*s == 'Z' || *s == 'z') {
    s++;
  } else if (*s == '+' || *s == '-') {
    int sign = *s++ == '-' ? -1 : 1, oh, om = 0;
    if (digits(&s, 2, &oh) || oh > 23)
      return -1;
    if (*s == ':')
      s++;
    if (isdigit((unsigned char)*s) && (digits(&s, 2, &om) || om > 59))
      return -1;
    offset_s = sign * (oh * 3600 + om * 60);
  }
  if (*s)
    return -1;
  *us = ((days * 86400 + hh * 3600 + mm * 60 + ss) - offset_s) * 1000000 + frac;
  return 0;
}

/* ----------------------------------------------------------------- money */

/* Parses a decimal as DRF's DecimalField(max_digits=12, decimal_places=2,
 * min_value=0) does, into cents. Returns NULL or the message of the error. */
static const char *parse_money(const char *s, int64_t *cents) {
  while (isspace((unsigned char)*s))
    s++;
  int neg = *s == '-';
  if (*s == '-' || *s == '+')
    s++;
  const char *int_start = s;
  while (isdigit((unsigned char)*s))
    s++;
  size_t int_len = (size_t)(s - int_start);
  const char *frac_start = s, *frac_end = s;
  if (*s == '.') {
    frac_start = ++s;
    while (isdigit((unsigned char)*s))
      s++;
    frac_end = s;
  }
  while (isspace((unsigned char)*s))
    s++;
  size_t frac_len = (size_t)(frac_end - frac_start);
  if (*s || (int_len == 0 && frac_len == 0))
    return MSG_NUMBER;
  /* Digits as Python's Decimal counts them: leading zeros of the whole part
   * do not count; the fraction's digits all do. */
  while (int_len > 0 && *int_start == '0') {
    int_start++;
    int_len--;
  }
  size_t total = int_len + frac_len;
  if (int_len == 0) {
    /* 0.05: the digits are those after the leading zeros of the fraction,
     * but never fewer than the decimal places. */
    total = frac_len;
  }
  if (total > 12)
    return "Ensure that there are no more than 12 digits in total.";
  if (frac_len > 2)
    return "Ensure that there are no more than 2 decimal places.";
  if (int_len > 10)
    return "Ensure that there are no more than 10 digits before the decimal point.";
  int64_t v = 0;
  for (size_t i = 0; i < int_len; i++)
    v = v * 10 + (int_start[i] - '0');
  for (size_t i = 0; i < 2; i++)
    v = v * 10 + (i < frac_len ? frac_start[i] - '0' : 0);
  if (neg && v != 0)
    return "Ensure this value is greater than or equal to 0.";
  *cents = v;
  return NULL;
}

static void format_money(int64_t cents, char *buf) {
  snprintf(buf, 32, "%s%lld.%02lld", cents < 0 ? "-" : "", (long long)llabs(cents / 100),
           (long long)llabs(cents % 100));
}

/* ---------------------------------------------------------------- values */


/* The text DRF's CharField makes of a JSON value (numbers become text);
 * NULL for the types it refuses. *buf holds numbers' text. */
static const char *as_text(const json_t *j, char *buf, size_t cap, size_t *len) {
  if (json_is_string(j)) {
    *len = json_string_length(j);
    return json_string_value(j);
  }
  if (json_is_integer(j))
    snprintf(buf, cap, "%lld", (long long)json_integer_value(j));
  else if (json_is_real(j))
    snprintf(buf, cap, "%.17g", json_real_value(j));
  else
    return NULL;
  *len = strlen(buf);
  return buf;
}

/* Unicode characters in len bytes of UTF-8. */
static size_t utf8_chars(const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    n += ((unsigned char)s[i] & 0xC0) != 0x80;
  return n;
}

static int set_text(struct idl_value *out, const char *s, size_t len) {
  char *text = malloc(len + 1);
  if (!text)
    return -1;
  out->s = text;
  out->borrowed = 0;
  memcpy(out->s, s, len);
  out->s[len] = '\0';
  out->len = len;
  out->null = 0;
  return 0;
}

/* DRF's BooleanField: its true and false spellings. */
static int parse_bool_text(const char *s, int64_t *out) {
  static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "y", "Y",
                                    "on", "On", "ON", "t", "T", "1", NULL};
  static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO", "n", "N",
                                   "off", "Off", "OFF", "f", "F", "0", NULL};
  for (size_t i = 0; yes[i]; i++)
    if (strcmp(s, yes[i]) == 0)
      return *out = 1, 0;
  for (size_t i = 0; no[i]; i++)
    if (strcmp(s, no[i]) == 0)
      return *out = 0, 0;
  return -1;
}

/* An integer from JSON as DRF's IntegerField takes it: an integer, an
 * integral float, or a string of one. */
static int parse_int_json(const json_t *j, int64_t *out) {
  if (json_is_integer(j)) {
    *out = json_integer_value(j);
    return 0;
  }
  if (json_is_real(j)) {
    double d = json_real_value(j);
    if (d != floor(d) || fabs(d) > 9e18)
      return -1;
    *out = (int64_t)d;
    return 0;
  }
  if (!json_is_string(j))
    return -1;
  const char *s = json_string_value(j);
  char *end;
  while (isspace((unsigned char)*s))
    s++;
  if (!*s || (!isdigit((unsigned char)*s) && *s != '-' && *s != '+'))
    return -1;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  /* DRF's IntegerField drops a decimal point followed by zeros: "1.0". */
  if (*end == '.')
    for (end++; *end == '0'; end++)
      ;
  while (isspace((unsigned char)*end))
    end++;
  if (*end || errno)
    return -1;
  *out = v;
  return 0;
}

static void parse_text_field(const struct idl_field *f, const json_t *j, const char *name,
                             struct idl_value *out, struct idl_errors *e) {
  char num[40];
  size_t len;
  const char *s = as_text(j, num, sizeof(num), &len);
  if (!s) {
    idl_errors_add(e, name, MSG_STRING);
    return;
  }
  if (memchr(s, '\0', len)) {
    idl_errors_add(e, name, MSG_NUL);
    return;
  }
  /* DRF trims surrounding white space before anything else. */
  while (len && isspace((unsigned char)*s)) {
    s++;
    len--;
  }
  while (len && isspace((unsigned char)s[len - 1]))
    len--;
  /* A choice field has no blank of its own: "" is not one of its choices. */
  if (len == 0 && !(f->flags & IDL_FF_BLANK) && f->type != IDL_F_ENUM) {
    idl_errors_add(e, name, MSG_BLANK);
    return;
  }
  if (f->max && utf8_chars(s, len) > (size_t)f->max) {
    idl_errors_add(e, name, "Ensure this field has no more than %lld characters.",
                   (long long)f->max);
    return;
  }
  if (f->type == IDL_F_ENUM) {
    size_t i = 0;
    while (f->choices[i] && (strlen(f->choices[i]) != len || memcmp(f->choices[i], s, len)))
      i++;
    if (!f->choices[i]) {
      idl_errors_add(e, name, "\"%.*s\" is not a valid choice.", (int)(len > 200 ? 200 : len), s);
      return;
    }
  }
  if (set_text(out, s, len))
    idl_errors_set(e, 500, "{\"detail\":\"Out of memory.\"}");
}

/* An email or phone field: normalized (SPEC section 2); an empty one is
 * "" where the field may be blank, else null where it may be null. */
static void parse_contact_field(const struct idl_field *f, const json_t *j, const char *name,
                                struct idl_value *out, struct idl_errors *e) {
  char value[IDL_EMAIL_MAX_BYTES > IDL_PHONE_MAX_BYTES ? IDL_EMAIL_MAX_BYTES + 1
                                                       : IDL_PHONE_MAX_BYTES + 1];
  enum idl_err err = IDL_ERR_OK;
  int email = f->type == IDL_F_EMAIL;
  /* A number is its text to DRF's EmailField, a CharField: never an email. */
  if (!(email ? idl_json_email : idl_json_phone)(j, value, &err))
    idl_errors_add(e, name, email && json_is_number(j) ? MSG_EMAIL : MSG_STRING);
  else if (err == IDL_ERR_NOTFOUND && (f->flags & IDL_FF_BLANK))
    set_text(out, "", 0);
  else if (err == IDL_ERR_NOTFOUND && (f->flags & IDL_FF_NULLABLE))
    return;
  else if (err == IDL_ERR_NOTFOUND)
    idl_errors_add(e, name, MSG_BLANK);
  else if (err)
    idl_errors_add(e, name, email ? MSG_EMAIL : MSG_PHONE);
  else if (set_text(out, value, strlen(value)))
    idl_errors_set(e, 500, "{\"detail\":\"Out of memory.\"}");
}

static void parse_json_field(const struct idl_field *f, const json_t *j, const char *name,
                             struct idl_value *out, struct idl_errors *e) {
  if ((f->flags & IDL_FF_ARRAY) && !json_is_array(j)) {
    idl_errors_add(e, name, "Expected a list of items but got type \"%s\".",
                   idl_json_type_name(j));
    return;
  }
  if (!(f->flags & IDL_FF_ARRAY) && !json_is_object(j)) {
    idl_errors_add(e, name, "Expected a dictionary of items but got type \"%s\".", idl_json_type_name(j));
    return;
  }
  char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (!text) {
    idl_errors_set(e, 500, "{\"detail\":\"Out of memory.\"}");
    return;
  }
  size_t len = strlen(text);
  if (len > JSON_FIELD_MAX)
    idl_errors_add(e, name, "Ensure this field has no more than %d characters.", JSON_FIELD_MAX);
  else
    set_text(out, text, len);
  free(text);
}

/* The integer value of j for a field f of a numeric type (int, FK, bool,
 * date, datetime, money) into *v: NULL, or the DRF message of what is wrong
 * (static, or written into buf). */
static const char *number_from_json(const struct idl_field *f, const json_t *j, int64_t *v,
                                    char *buf, size_t buf_len) {
  char text[64];
  size_t len;
  const char *s;
  switch (f->type) {
  case IDL_F_INT:
    if (json_is_boolean(j) || parse_int_json(j, v))
      return MSG_INT;
    if (*v < f->min)
      snprintf(buf, buf_len, "Ensure this value is greater than or equal to %lld.",
               (long long)f->min);
    else if (f->max && *v > f->max)
      snprintf(buf, buf_len, "Ensure this value is less than or equal to %lld.",
               (long long)f->max);
    else
      return NULL;
    return buf;
  case IDL_F_FK:
    if (json_is_boolean(j) || (!json_is_integer(j) && !json_is_string(j)) ||
        parse_int_json(j, v))
      snprintf(buf, buf_len, "Incorrect type. Expected pk value, received %s.",
               idl_json_type_name(j));
    else if (*v < 1)
      snprintf(buf, buf_len, "Invalid pk \"%lld\" - object does not exist.", (long long)*v);
    else
      return NULL;
    return buf;
  case IDL_F_BOOL:
    if (json_is_boolean(j))
      *v = json_is_true(j);
    else if (json_is_integer(j) && (json_integer_value(j) == 0 || json_integer_value(j) == 1))
      *v = json_integer_value(j);
    else if (!json_is_string(j) || parse_bool_text(json_string_value(j), v))
      return MSG_BOOL;
    return NULL;
  case IDL_F_DATE:
    return !json_is_string(j) || idl_parse_date(json_string_value(j), v) ? MSG_DATE : NULL;
  case IDL_F_TIME:
    return !json_is_string(j) || idl_parse_datetime(json_string_value(j), v) ? MSG_TIME : NULL;
  case IDL_F_MONEY:
    s = json_is_boolean(j) ? NULL : as_text(j, text, sizeof(text), &len);
    if (json_is_real(j))
      snprintf(text, sizeof(text), "%.15g", json_real_value(j)), s = text;
    return s ? parse_money(s, v) : MSG_NUMBER;
  default:
    return NULL;
  }
}

void idl_value_from_json(const struct idl_field *f, const json_t *j, const char *name,
                         struct idl_value *out, struct idl_errors *e) {
  idl_value_clear(out);
  if (json_is_null(j)) {
    if (!(f->flags & IDL_FF_NULLABLE))
      idl_errors_add(e, name, MSG_NULL);
    return;
  }
  switch (f->type) {
  case IDL_F_PK:
    return;
  case IDL_F_STR:
  case IDL_F_ENUM:
    parse_text_field(f, j, name, out, e);
    return;
  case IDL_F_EMAIL:
  case IDL_F_PHONE:
    parse_contact_field(f, j, name, out, e);
    return;
  case IDL_F_JSON:
    parse_json_field(f, j, name, out, e);
    return;
  default:
    break;
  }
  int64_t v = 0;
  char buf[160];
  const char *msg = number_from_json(f, j, &v, buf, sizeof(buf));
  if (msg) {
    idl_errors_add(e, name, "%s", msg);
    return;
  }
  out->null = 0;
  out->i = v;
}

int idl_value_from_text(const struct idl_field *f, const char *text, struct idl_value *out) {
  idl_value_clear(out);
  int64_t v;
  char *end;
  switch (f->type) {
  case IDL_F_BOOL:
    if (parse_bool_text(text, &v))
      return -1;
    break;
  case IDL_F_PK:
  case IDL_F_INT:
  case IDL_F_FK:
    /* Surrounding white space is dropped, as Django's form fields do. */
    while (isspace((unsigned char)*text))
      text++;
    if (!*text || (!isdigit((unsigned char)*text) && *text != '-'))
      return -1;
    errno = 0;
    v = strtoll(text, &end, 10);
    while (isspace((unsigned char)*end))
      end++;
    if (*end || errno)
      return -1;
    break;
  case IDL_F_DATE:
    if (idl_parse_date(text, &v))
      return -1;
    break;
  case IDL_F_TIME:
    if (idl_parse_datetime(text, &v))
      return -1;
    break;
  case IDL_F_MONEY:
    if (parse_money(text, &v))
      return -1;
    break;
  case IDL_F_EMAIL: {
    char email[IDL_EMAIL_MAX_BYTES + 1];
    if (idl_normalize_email(text, strlen(text), email))
      return set_text(out, text, strlen(text)); /* compared as it is: matches nothing */
    return set_text(out, email, strlen(email));
  }
  case IDL_F_PHONE: {
    char phone[IDL_PHONE_MAX_BYTES + 1];
    if (idl_normalize_phone(text, strlen(text), phone))
      return set_text(out, text, strlen(text));
    return set_text(out, phone, strlen(phone));
  }
  default:
    return set_text(out, text, strlen(text));
  }
  out->null = 0;
  out->i = v;
  return 0;
}

/* ---------------------------------------------------------------- records */

/* The default of f, parsed as a sent value would be. */
static void default_value(const struct idl_field *f, int64_t now_us, struct idl_value *out,
                          struct idl_errors *e) {
  idl_value_clear(out);
  if (f->flags & IDL_FF_DEFAULT_NOW) {
    out->null = 0;
    out->i = now_us;
    return;
  }
  if (!f->def)
    return;
  json_t *j = json_loads(f->def, JSON_DECODE_ANY, NULL);
  if (j)
    idl_value_from_json(f, j, f->name, out, e);
  json_decref(j);
}

void idl_record_from_json(const struct idl_resource *res, const json_t *body,
                          enum idl_parse_mode mode, int64_t now_us, const char *prefix,
                          struct idl_record *rec, struct idl_errors *e) {
  char name[160];
  if (!json_is_object(body)) {
    snprintf(name, sizeof(name), "%snon_field_errors", prefix);
    idl_errors_add(e, name, "Invalid data. Expected a dictionary, but got %s.", idl_json_type_name(body));
    return;
  }
  for (size_t i = 0; i < res->n_fields; i++) {
    const struct idl_field *f = &res->fields[i];
    struct idl_value *v = &rec->v[i];
    snprintf(name, sizeof(name), "%s%s", prefix, f->name);
    if ((f->flags & IDL_FF_COMPUTED) || f->type == IDL_F_PK)
      continue;
    if ((f->flags & IDL_FF_READ_ONLY) && mode == IDL_PARSE_RESTORE) {
      const json_t *j = json_object_get(body, f->name);
      if (j)
        idl_value_from_json(f, j, name, v, e);
      else
        idl_errors_add(e, name, MSG_REQUIRED);
      continue;
    }
    if (f->flags & IDL_FF_READ_ONLY) {
      /* The server's own values: its times, and a read-only field's default
       * (a ticket's status) on create. */
      if (mode == IDL_PARSE_CREATE && f->def)
        default_value(f, now_us, v, e);
      if ((f->flags & IDL_FF_NOW_ALWAYS) || ((f->flags & IDL_FF_NOW) && mode == IDL_PARSE_CREATE)) {
        idl_value_clear(v);
        v->null = 0;
        v->i = now_us;
      }
      continue;
    }
    const json_t *j = json_object_get(body, f->name);
    if (j) {
      idl_value_from_json(f, j, name, v, e);
    } else if (mode == IDL_PARSE_CREATE || mode == IDL_PARSE_RESTORE) {
      if (f->flags & IDL_FF_REQUIRED)
        idl_errors_add(e, name, MSG_REQUIRED);
      else
        default_value(f, now_us, v, e);
    } else if (mode == IDL_PARSE_PUT && (f->flags & IDL_FF_PUT_REQUIRED)) {
      idl_errors_add(e, name, MSG_REQUIRED);
    }
  }
}

/* ---------------------------------------------------------------- output */

json_t *idl_value_to_json(const struct idl_field *f, const struct idl_value *v) {
  char buf[IDL_TIME_TEXT_MAX];
  if (v->null)
    return json_null();
  switch (f->type) {
  case IDL_F_PK:
  case IDL_F_INT:
  case IDL_F_FK:
    return json_integer((json_int_t)v->i);
  case IDL_F_BOOL:
    return json_boolean(v->i);
  case IDL_F_DATE:
    idl_format_date(v->i, buf);
    return json_string(buf);
  case IDL_F_TIME:
    idl_format_time_us(v->i, buf);
    return json_string(buf);
  case IDL_F_MONEY:
    format_money(v->i, buf);
    return json_string(buf);
  case IDL_F_JSON: {
    json_t *j = json_loadb(v->s, v->len, 0, NULL);
    return j ? j : (f->flags & IDL_FF_ARRAY) ? json_array() : json_object();
  }
  default:
    return json_stringn(v->s, v->len);
  }
}

json_t *idl_record_to_json(const struct idl_resource *res, const struct idl_record *rec) {
  json_t *o = json_object();
  for (size_t i = 0; o && i < res->n_fields; i++) {
    const struct idl_value pk = {.i = (int64_t)rec->pk};
    const struct idl_value *v = res->fields[i].type == IDL_F_PK ? &pk : &rec->v[i];
    if (json_object_set_new(o, res->fields[i].name, idl_value_to_json(&res->fields[i], v))) {
      json_decref(o);
      return NULL;
    }
  }
  return o;
}

static void put_value(struct idl_text *t, const struct idl_field *f, const struct idl_value *v) {
  char buf[IDL_TIME_TEXT_MAX > 32 ? IDL_TIME_TEXT_MAX : 32];
  const char *word = NULL;
  if (v->null) {
    word = "null";
  } else {
    switch (f->type) {
    case IDL_F_PK:
    case IDL_F_INT:
    case IDL_F_FK:
      idl_text_put_int(t, v->i);
      return;
    case IDL_F_BOOL:
      word = v->i ? "true" : "false";
      break;
    case IDL_F_DATE:
      idl_format_date(v->i, buf);
      idl_text_put_json_string(t, buf, strlen(buf));
      return;
    case IDL_F_TIME:
      idl_format_time_us(v->i, buf);
      idl_text_put_json_string(t, buf, strlen(buf));
      return;
    case IDL_F_MONEY:
      format_money(v->i, buf);
      idl_text_put_json_string(t, buf, strlen(buf));
      return;
    case IDL_F_JSON: { /* through jansson: its numbers as answers show them */
      if (v->len == 2 && (!memcmp(v->s, "{}", 2) || !memcmp(v->s, "[]", 2))) {
        idl_text_put(t, v->s, 2); /* most are empty: as they are */
        return;
      }
      json_t *j = idl_value_to_json(f, v);
      char *text = j ? json_dumps(j, IDL_JSON_DUMP_FLAGS | JSON_ENCODE_ANY) : NULL;
      json_decref(j);
      if (!text)
        t->failed = 1;
      else
        idl_text_put(t, text, strlen(text));
      free(text);
      return;
    }
    default:
      idl_text_put_json_string(t, v->s, v->len);
      return;
    }
  }
  idl_text_put(t, word, strlen(word));
}

void idl_record_put_json(struct idl_text *t, const struct idl_resource *res,
                         const struct idl_record *rec) {
  idl_text_put(t, "{", 1);
  for (size_t i = 0; i < res->n_fields; i++) {
    const struct idl_field *f = &res->fields[i];
    const struct idl_value pk = {.i = (int64_t)rec->pk};
    /* A field's name is an identifier of the resource's table: no escapes. */
    idl_text_put(t, ",\"" + !i, 2 - !i);
    idl_text_put(t, f->name, strlen(f->name));
    idl_text_put(t, "\":", 2);
    put_value(t, f, f->type == IDL_F_PK ? &pk : &rec->v[i]);
  }
  idl_text_put(t, "}", 1);
}

char *idl_value_to_text(const struct idl_field *f, const struct idl_value *v) {
  char buf[IDL_TIME_TEXT_MAX];
  if (v->null)
    return strdup("");
  switch (f->type) {
  case IDL_F_PK:
  case IDL_F_INT:
  case IDL_F_FK:
    snprintf(buf, sizeof(buf), "%lld", (long long)v->i);
    return strdup(buf);
  case IDL_F_BOOL:
    return strdup(v->i ? "true" : "false");
  case IDL_F_DATE:
    idl_format_date(v->i, buf);
    return strdup(buf);
  case IDL_F_TIME:
    idl_format_time_us(v->i, buf);
    return strdup(buf);
  case IDL_F_MONEY:
    format_money(v->i, buf);
    return strdup(buf);
  default:
    return strndup(v->s, v->len);
  }
}

/* Finds (or makes) the object at the path's parent and adds message under
 * its last part. */
static int add_error(json_t *root, const char *path, const char *message) {
  json_t *obj = root;
  char part[160];
  const char *dot;
  while ((dot = strchr(path, '.'))) {
    snprintf(part, sizeof(part), "%.*s", (int)(dot - path), path);
    json_t *next = json_object_get(obj, part);
    if (!json_is_object(next)) {
      next = json_object();
      if (json_object_set_new(obj, part, next))
        return -1;
    }
    obj = next;
    path = dot + 1;
  }
  json_t *list = json_object_get(obj, path);
  if (!json_is_array(list)) {
    list = json_array();
    if (json_object_set_new(obj, path, list))
      return -1;
  }
  return json_array_append_new(list, json_string(message));
}

char *idl_errors_text(const struct idl_errors *e) {
  if (e->status && e->body)
    return strdup(e->body);
  json_t *root = json_object();
  for (size_t i = 0; root && i < e->n; i++)
    if (add_error(root, e->v[i].field, e->v[i].message)) {
      json_decref(root);
      root = NULL;
    }
  char *text = root ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(root);
  return text;
}

char *idl_json_detail_text(const char *msg) {
  json_t *j = idl_json_detail("%s", msg);
  char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  return text;
}

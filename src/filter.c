/* Query filters of the resource layer, django-filter style (SPEC section 7):
 * `field`, `field__lookup` and `jsonfield__KEY` parameters combined with AND,
 * a parameter given twice meaning either value; `ordering`, `page` and
 * `limit`. A filter on an indexed field is answered from an index range; the
 * other filters are checked on the records it yields. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter_internal.h"

#define DEFAULT_LIMIT 10
#define MAX_LIMIT 1000
#define DAY_US (INT64_C(86400) * 1000000)

static const struct {
  const char *name;
  unsigned lookup;
} lookups[] = {
    {"exact", IDL_L_EXACT}, {"startswith", IDL_L_STARTSWITH}, {"gt", IDL_L_GT},
    {"gte", IDL_L_GTE},     {"lt", IDL_L_LT},                 {"lte", IDL_L_LTE},
    {"date", IDL_L_DATE},   {"in", IDL_L_IN},                 {"isnull", IDL_L_ISNULL},
};

const char *idl_lookup_name(unsigned lookup) {
  for (size_t k = 0; k < sizeof(lookups) / sizeof(lookups[0]); k++)
    if (lookups[k].lookup == lookup)
      return lookups[k].name;
  return NULL;
}

/* ------------------------------------------------------------ the query */

int idl_query_next(const char **cursor, struct idl_query_part *p) {
  const char *s = *cursor;
  if (!s || !*s)
    return 0;
  size_t len = strcspn(s, "&");
  const char *eq = memchr(s, '=', len);
  p->name = s;
  p->name_len = eq ? (size_t)(eq - s) : len;
  p->value = eq ? eq + 1 : NULL;
  p->value_len = eq ? len - p->name_len - 1 : 0;
  *cursor = s + len + (s[len] == '&');
  return 1;
}

/* The value of hex digit c, or -1. */
static int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = (char)(c | 0x20);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* len bytes of a part decoded as a form encodes them ('+' is a space, %XX a
 * byte; a '%' without two hex digits stands for itself) into a new string;
 * *nul is set when they held a NUL byte. NULL without memory. */
static char *form_decode(const char *s, size_t len, int *nul) {
  char *out = malloc(len + 1);
  size_t o = 0;
  *nul = 0;
  if (!out)
    return NULL;
  for (size_t i = 0; i < len; i++) {
    int hi, lo;
    if (s[i] == '+') {
      out[o++] = ' ';
    } else if (s[i] == '%' && i + 2 < len && (hi = hex_digit(s[i + 1])) >= 0 &&
               (lo = hex_digit(s[i + 2])) >= 0) {
      out[o++] = (char)(hi << 4 | lo);
      i += 2;
    } else {
      out[o++] = s[i];
    }
    *nul |= o && out[o - 1] == '\0';
  }
  out[o] = '\0';
  return out;
}

int idl_query_part_decode(const struct idl_query_part *p, char **name, int *nul_name,
                          char **value, int *nul_value) {
  *name = form_decode(p->name, p->name_len, nul_name);
  *value = form_decode(p->value ? p->value : "", p->value_len, nul_value);
  if (*name && *value)
    return 0;
  free(*name);
  free(*value);
  *name = *value = NULL;
  return -1;
}

void idl_query_fini(struct idl_query *q) {
  for (size_t i = 0; i < q->n; i++) {
    for (size_t k = 0; k < q->preds[i].n_vals; k++)
      idl_value_clear(&q->preds[i].vals[k]);
    free(q->preds[i].vals);
    free(q->preds[i].key);
    free(q->preds[i].param);
    idl_ids_fini(&q->preds[i].selected);
  }
  free(q->preds);
  for (size_t i = 0; i < q->n_params; i++) {
    free(q->params[i].name);
    free(q->params[i].value);
  }
  free(q->params);
  memset(q, 0, sizeof(*q));
}

static const char *const MSG_NUMBER = "Enter a number.";
static const char *const MSG_DATE = "Enter a valid date.";
static const char *const MSG_DATETIME = "Enter a valid date/time.";

static void bad_choice(struct idl_errors *e, const char *param, const char *v) {
  idl_errors_add(e, param, "Select a valid choice. %.200s is not one of the available choices.",
                 v);
}

/* Parses one filter value of pred into pred->vals[k]; errors go to e. */
static void parse_one(const struct idl_field *f, struct idl_pred *p, const char *text,
                      struct idl_errors *e) {
  struct idl_value *v = &p->vals[p->n_vals];
  *v = (struct idl_value){.null = 1};
  if (p->lookup == IDL_L_ISNULL) {
    int64_t b;
    if (strcmp(text, "true") == 0 || strcmp(text, "True") == 0 || strcmp(text, "1") == 0)
      b = 1;
    else if (strcmp(text, "false") == 0 || strcmp(text, "False") == 0 || strcmp(text, "0") == 0)
      b = 0;
    else
      return bad_choice(e, p->param, text);
    *v = (struct idl_value){.i = b};
    p->n_vals++;
    return;
  }
  if (p->key) { /* JSON key: compared as text */
    if ((v->s = strdup(text))) {
      v->len = strlen(text);
      v->null = 0;
      p->n_vals++;
    }
    return;
  }
  int is_date_like = f->type == IDL_F_DATE || f->type == IDL_F_TIME;
  switch (f->type) {
  case IDL_F_BOOL:
    if (strcmp(text, "true") && strcmp(text, "false") && strcmp(text, "True") &&
        strcmp(text, "False") && strcmp(text, "1") && strcmp(text, "0"))
      return bad_choice(e, p->param, text);
    break;
  case IDL_F_ENUM: {
    size_t i = 0;
    while (f->choices[i] && strcmp(f->choices[i], text))
      i++;
    if (!f->choices[i])
      return bad_choice(e, p->param, text);
    break;
  }
  default:
    break;
  }
  if (is_date_like) {
    /* A date means that whole UTC day (exact, date), or its first instant
     * (a bound); a datetime, that instant. */
    int64_t days, us;
    if (idl_parse_date(text, &days) == 0) {
      *v = (struct idl_value){.i = f->type == IDL_F_TIME ? days * DAY_US : days};
      p->whole_day = f->type == IDL_F_TIME && (p->lookup == IDL_L_EXACT || p->lookup == IDL_L_IN ||
                                               p->lookup == IDL_L_DATE);
    } else if (f->type == IDL_F_TIME && p->lookup != IDL_L_DATE &&
               idl_parse_datetime(text, &us) == 0) {
      *v = (struct idl_value){.i = us};
    } else {
      idl_errors_add(e, p->param, "%s",
                     f->type == IDL_F_TIME && p->lookup != IDL_L_DATE ? MSG_DATETIME : MSG_DATE);
      return;
    }
    if (p->lookup == IDL_L_DATE)
      p->whole_day = 1;
    p->n_vals++;
    return;
  }
  if (p->lookup == IDL_L_STARTSWITH) {
    char *lower = strdup(text);
    if (!lower)
      return;
    if (f->type == IDL_F_EMAIL)
      for (char *c = lower; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    v->s = lower;
    v->len = strlen(lower);
    v->null = 0;
    p->n_vals++;
    return;
  }
  if (idl_value_from_text(f, text, v) != 0) {
    if (f->type == IDL_F_BOOL)
      return bad_choice(e, p->param, text);
    idl_errors_add(e, p->param, "%s", MSG_NUMBER);
    return;
  }
  p->n_vals++;
}

/* Finds the predicate of param (field, lookup, key), adding one if new. */
static struct idl_pred *pred_for(struct idl_query *q, int field, unsigned lookup,
                                 const char *key, const char *param) {
  for (size_t i = 0; i < q->n; i++)
    if (q->preds[i].field == field && q->preds[i].lookup == lookup &&
        !strcmp(q->preds[i].param, param))
      return &q->preds[i];
  struct idl_pred *v = idl_grow(q->preds, &q->cap, q->n, sizeof(*v));
  if (!v)
    return NULL;
  q->preds = v;
  struct idl_pred *p = &q->preds[q->n++];
  *p = (struct idl_pred){.field = field, .lookup = lookup, .key = key ? strdup(key) : NULL,
                         .param = strdup(param)};
  return p;
}

/* Splits NAME into a field and a lookup: "email__startswith", "email",
 * "attributes__colour". Returns the field, or -1 when not offered. */
static int resolve(const struct idl_resource *res, const char *name, unsigned *lookup,
                   const char **key) {
  const char *sep = strstr(name, "__");
  char field[96];
  snprintf(field, sizeof(field), "%.*s", (int)(sep ? (size_t)(sep - name) : strlen(name)), name);
  int i = idl_resource_field(res, field);
  *key = NULL;
  *lookup = IDL_L_EXACT;
  if (i < 0)
    return -1;
  const struct idl_field *f = &res->fields[i];
  if (sep && (f->lookups & IDL_L_KEY)) {
    *key = sep + 2;
    *lookup = IDL_L_KEY;
    return **key ? i : -1;
  }
  if (sep) {
    *lookup = 0;
    for (size_t k = 0; k < sizeof(lookups) / sizeof(lookups[0]); k++)
      if (strcmp(sep + 2, lookups[k].name) == 0)
        *lookup = lookups[k].lookup;
  }
  return *lookup && (f->lookups & *lookup) ? i : -1;
}

static void add_filter(const struct idl_resource *res, struct idl_query *q, const char *name,
                       const char *value, struct idl_errors *e) {
  unsigned lookup;
  const char *key;
  int field = resolve(res, name, &lookup, &key);
  if (field < 0) {
    idl_errors_detail(e, 400, "Unknown query parameter \"%.100s\".", name);
    return;
  }
  struct idl_pred *p = pred_for(q, field, lookup, key, name);
  if (!p || !p->param)
    return idl_errors_set(e, 500, "{\"detail\":\"Out of memory.\"}");
  /* in: comma-separated values; every lookup: a repeated parameter adds one. */
  size_t more = 1;
  for (const char *c = value; lookup == IDL_L_IN && *c; c++)
    more += *c == ',';
  struct idl_value *vals = realloc(p->vals, (p->n_vals + more) * sizeof(*vals));
  if (!vals)
    return idl_errors_set(e, 500, "{\"detail\":\"Out of memory.\"}");
  p->vals = vals;
  if (lookup != IDL_L_IN)
    return parse_one(&res->fields[field], p, value, e);
  /* The first value refused is the one named, as django-filter's CSV field
   * stops at it. */
  char *copy = strdup(value), *save = NULL;
  size_t refused = e->n;
  for (char *part = copy ? strtok_r(copy, ",", &save) : NULL; part && e->n == refused;
       part = strtok_r(NULL, ",", &save))
    parse_one(&res->fields[field], p, part, e);
  free(copy);
}

static int is_special(const char *name, const char *const *extra) {
  if (!strcmp(name, "page") || !strcmp(name, "limit") || !strcmp(name, "ordering"))
    return 1;
  for (size_t i = 0; extra && extra[i]; i++)
    if (!strcmp(name, extra[i]))
      return 1;
  return 0;
}

static void read_specials(const struct idl_resource *res, struct idl_query *q, const char *name,
                          const char *value, struct idl_errors *e) {
  if (!strcmp(name, "ordering")) {
    const char *f = value + (*value == '-');
    int i = idl_resource_field(res, f);
    if (i < 0 || !(res->fields[i].flags & IDL_FF_ORDERABLE)) {
      idl_errors_detail(e, 400, "Unknown ordering field \"%.100s\".", f);
      return;
    }
    q->order_field = i;
    q->order_desc = *value == '-';
  } else if (!strcmp(name, "page")) {
    char *end;
    unsigned long long v = strtoull(value, &end, 10);
    q->page = (*value >= '0' && *value <= '9' && !*end && v > 0) ? v : 0;
  } else if (!strcmp(name, "limit")) {
    char *end;
    unsigned long long v = strtoull(value, &end, 10);
    /* A limit that is not a positive integer is ignored, as DRF does. */
    if (*value >= '0' && *value <= '9' && !*end && v > 0)
      q->limit = v > MAX_LIMIT ? MAX_LIMIT : (size_t)v;
  }
}

static int keep_param(struct idl_query *q, const char *name, const char *value) {
  struct idl_param *v = idl_grow(q->params, &q->params_cap, q->n_params, sizeof(*v));
  if (!v)
    return -1;
  q->params = v;
  q->params[q->n_params++] = (struct idl_param){strdup(name), strdup(value)};
  return 0;
}

void idl_query_parse(const struct idl_resource *res, const char *query,
                     const char *const *extra, struct idl_query *q, struct idl_errors *e) {
  memset(q, 0, sizeof(*q));
  q->order_field = -1;
  q->page = 1;
  q->limit = DEFAULT_LIMIT;
  /* Every bad value is reported together; an unknown parameter or ordering
   * (a detail of its own) ends the parse. */
  struct idl_query_part part;
  for (const char *s = query; !e->status && idl_query_next(&s, &part);) {
    int nul_name = 0, nul_value = 0;
    char *name, *value;
    int failed = idl_query_part_decode(&part, &name, &nul_name, &value, &nul_value);
    unsigned lookup;
    const char *key;
    if (failed) {
      idl_errors_set(e, 500, "{\"detail\":\"Out of memory.\"}");
    } else if (!part.name_len && !part.value) {
      /* an empty part ("a=1&&b=2"): nothing */
    } else if (nul_name) {
      idl_errors_detail(e, 400, "Unknown query parameter \"%.100s\" followed by a null "
                        "character.", name);
    } else if (nul_value) {
      idl_errors_add(e, name, "Null characters are not allowed.");
    } else if (is_special(name, extra)) {
      keep_param(q, name, value);
      read_specials(res, q, name, value, e);
    } else if (*value) {
      keep_param(q, name, value);
      add_filter(res, q, name, value, e);
    } else if (resolve(res, name, &lookup, &key) < 0) {
      /* An empty value filters nothing, as django-filter does; an unknown
       * name is still a typo to report. */
      idl_errors_detail(e, 400, "Unknown query parameter \"%.100s\".", name);
    } else {
      keep_param(q, name, value);
    }
    free(name);
    free(value);
  }
}

/* -------------------------------------------------------------- matching */

static int text_cmp(const struct idl_value *a, const struct idl_value *b) {
  size_t n = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->s, b->s, n);
  return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* The text of key in a JSON object's text, as a filter compares it. */
static char *json_key_text(const struct idl_value *v, const char *key) {
  if (v->null)
    return NULL;
  json_t *o = json_loadb(v->s, v->len, 0, NULL), *j = o ? json_object_get(o, key) : NULL;
  char *out = NULL;
  if (json_is_string(j))
    out = strdup(json_string_value(j));
  else if (j)
    out = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref(o);
  return out;
}

static int value_matches(const struct idl_field *f, const struct idl_pred *p,
                         const struct idl_value *v, const struct idl_value *want) {
  int text = idl_ftype_is_text(f->type);
  switch (p->lookup) {
  case IDL_L_ISNULL:
    return v->null == (int)want->i;
  case IDL_L_STARTSWITH:
    return !v->null && v->len >= want->len && memcmp(v->s, want->s, want->len) == 0;
  case IDL_L_EXACT:
  case IDL_L_IN:
  case IDL_L_DATE:
    if (v->null)
      return 0;
    if (p->whole_day)
      return f->type == IDL_F_TIME ? v->i >= want->i && v->i < want->i + DAY_US
                                   : v->i == want->i;
    return text ? text_cmp(v, want) == 0 : v->i == want->i;
  default:
    break;
  }
  if (v->null)
    return 0;
  int c = text ? text_cmp(v, want) : (v->i > want->i) - (v->i < want->i);
  switch (p->lookup) {
  case IDL_L_GT: return c > 0;
  case IDL_L_GTE: return c >= 0;
  case IDL_L_LT: return c < 0;
  default: return c <= 0;
  }
}

/* Whether rec passes p: any of its values (a parameter given twice, or in). */
static int pred_matches(const struct idl_resource *res, const struct idl_pred *p,
                        const struct idl_record *rec) {
  const struct idl_field *f = &res->fields[p->field];
  if (f->flags & IDL_FF_COMPUTED) {
    for (size_t i = 0; i < p->selected.n; i++)
      if (p->selected.v[i] == rec->pk)
        return 1;
    return 0;
  }
  const struct idl_value pk = {.i = (int64_t)rec->pk};
  const struct idl_value *v = f->type == IDL_F_PK ? &pk : &rec->v[p->field];
  if (p->lookup == IDL_L_KEY) {
    char *text = json_key_text(v, p->key);
    int ok = 0;
    for (size_t i = 0; text && !ok && i < p->n_vals; i++)
      ok = strcmp(text, p->vals[i].s) == 0;
    free(text);
    return ok;
  }
  for (size_t i = 0; i < p->n_vals; i++)
    if (value_matches(f, p, v, &p->vals[i]))
      return 1;
  return 0;
}

int idl_query_matches(const struct idl_resource *res, const struct idl_query *q,
                      const struct idl_record *rec) {
  for (size_t i = 0; i < q->n; i++)
    if (!pred_matches(res, &q->preds[i], rec))
      return 0;
  return 1;
}

/* -------------------------------------------------------------- planning */

/* The bytes of the index key before field's own: those of the first field
 * (an INT) when field is the second of a two-field index, which is then
 * read by a skip scan; else 0. */
static size_t lead_of(const struct idl_resource *res, int field) {
  int index = res->fields[field].index;
  return index >= 0 && res->indexes[index].fields[0] != field ? 8 : 0;
}

/* For p on the second field of a two-field index: the filter of q, exact
 * and of one value, on the first field, which narrows p's scan to that
 * value; else NULL. */
static const struct idl_pred *lead_pred(const struct idl_resource *res,
                                        const struct idl_query *q, const struct idl_pred *p) {
  if (!lead_of(res, p->field))
    return NULL;
  int first = res->indexes[res->fields[p->field].index].fields[0];
  for (size_t i = 0; i < q->n; i++) {
    const struct idl_pred *o = &q->preds[i];
    if (o->field == first && o->lookup == IDL_L_EXACT && o->n_vals == 1 && !o->vals[0].null)
      return o;
  }
  return NULL;
}

/* How well p can drive query q from its index: 0 not at all, else lower is
 * narrower. */
static int drive_rank(const struct idl_resource *res, const struct idl_query *q,
                      const struct idl_pred *p) {
  const struct idl_field *f = &res->fields[p->field];
  if (f->flags & IDL_FF_COMPUTED)
    return f->select ? 1 : 0;
  if (f->type == IDL_F_PK && (p->lookup & (IDL_L_EXACT | IDL_L_IN)))
    return 1;
  if (f->index < 0 || p->lookup == IDL_L_ISNULL || p->lookup == IDL_L_KEY)
    return 0;
  /* A skip scan seeks once per value of the index's first field: after a
   * lookup of one key, before a prefix or a range, which may match many. */
  int skip = lead_of(res, p->field) && !lead_pred(res, q, p);
  if (p->lookup & (IDL_L_EXACT | IDL_L_IN))
    return skip ? 4 : res->indexes[f->index].unique ? 2 : 3;
  return p->lookup == IDL_L_STARTSWITH ? 5 : 6;
}

/* The index range of one value of p. keybuf holds the bounds' bytes. */
static void range_of(const struct idl_field *f, const struct idl_pred *p,
                     const struct idl_value *want, unsigned char keybuf[2][8],
                     struct idl_range *r) {
  memset(r, 0, sizeof(*r));
  if (idl_ftype_is_text(f->type)) {
    if (p->lookup == IDL_L_STARTSWITH) {
      r->prefix = want->s;
      r->prefix_len = want->len;
    } else {
      *r = idl_range_exact(want->s, want->len);
    }
    return;
  }
  int64_t lo = want->i, hi = want->i;
  int lo_incl = 1, hi_incl = 1, has_lo = 1, has_hi = 1;
  if (p->whole_day) {
    hi = want->i + (f->type == IDL_F_TIME ? DAY_US : 1);
    hi_incl = 0;
  }
  switch (p->lookup) {
  case IDL_L_GT: lo_incl = 0; has_hi = 0; break;
  case IDL_L_GTE: has_hi = 0; break;
  case IDL_L_LT: hi_incl = 0; has_lo = 0; hi = want->i; break;
  case IDL_L_LTE: has_lo = 0; hi = want->i; hi_incl = 1; break;
  default: break;
  }
  idl_key_int(lo, keybuf[0]);
  idl_key_int(hi, keybuf[1]);
  if (has_lo) {
    r->lo = keybuf[0];
    r->lo_len = 8;
    r->lo_incl = lo_incl;
  }
  if (has_hi) {
    r->hi = keybuf[1];
    r->hi_len = 8;
    r->hi_incl = hi_incl;
  }
}

/* The other end of a range: a lower bound (gt, gte) of p's field beside
 * p's upper one (lt, lte), or the other way round, each of one value. NULL
 * when q has none. */
static const struct idl_pred *partner(const struct idl_query *q, const struct idl_pred *p) {
  const unsigned lower = IDL_L_GT | IDL_L_GTE, upper = IDL_L_LT | IDL_L_LTE;
  if (p->n_vals != 1 || !(p->lookup & (lower | upper)))
    return NULL;
  for (size_t i = 0; i < q->n; i++) {
    const struct idl_pred *o = &q->preds[i];
    if (o != p && o->field == p->field && o->n_vals == 1 &&
        (o->lookup & ((p->lookup & lower) ? upper : lower)))
      return o;
  }
  return NULL;
}

/* The candidates of the driving predicate p, ascending. */
static enum idl_err candidates(struct idl_txn *txn, const struct idl_resource *res,
                               const struct idl_query *q, struct idl_pred *p,
                               struct idl_ids *out) {
  const struct idl_field *f = &res->fields[p->field];
  enum idl_err err = IDL_ERR_OK;
  if (f->type == IDL_F_PK) {
    for (size_t i = 0; i < p->n_vals && !err; i++)
      if (p->vals[i].i > 0)
        err = idl_ids_push(out, (uint64_t)p->vals[i].i);
  } else {
    size_t t = idl_resource_table(res);
    const struct idl_pred *other = partner(q, p), *lead = lead_pred(res, q, p);
    unsigned char lead_key[8];
    size_t lead_len = lead_of(res, p->field);
    if (lead)
      idl_key_int(lead->vals[0].i, lead_key);
    for (size_t i = 0; i < p->n_vals && !err; i++) {
      unsigned char keybuf[2][8], other_buf[2][8];
      struct idl_range r, o;
      range_of(f, p, &p->vals[i], keybuf, &r);
      /* gte and lt of one field read one bounded range, not to the end. */
      if (other) {
        range_of(f, other, &other->vals[0], other_buf, &o);
        if (o.hi) {
          memcpy(keybuf[1], o.hi, 8);
          r.hi = keybuf[1], r.hi_len = 8, r.hi_incl = o.hi_incl;
        } else {
          memcpy(keybuf[0], o.lo, 8);
          r.lo = keybuf[0], r.lo_len = 8, r.lo_incl = o.lo_incl;
        }
      }
      r.lead = lead_len;
      r.lead_key = lead ? lead_key : NULL;
      err = idl_table_index_scan(txn, t, (size_t)f->index, &r, idl_entry_push_pk, out);
    }
  }
  if (!err)
    idl_ids_sort_unique(out);
  return err;
}

/* Fills the pk sets of computed filters (the identity filter). */
static enum idl_err select_computed(struct idl_txn *txn, const struct idl_resource *res,
                                    struct idl_query *q) {
  for (size_t i = 0; i < q->n; i++) {
    struct idl_pred *p = &q->preds[i];
    const struct idl_field *f = &res->fields[p->field];
    if (!(f->flags & IDL_FF_COMPUTED) || !f->select)
      continue;
    for (size_t k = 0; k < p->n_vals; k++) {
      char text[32];
      snprintf(text, sizeof(text), "%lld", (long long)p->vals[k].i);
      enum idl_err err = f->select(txn, text, &p->selected);
      if (err)
        return err;
    }
    idl_ids_sort_unique(&p->selected);
  }
  return IDL_ERR_OK;
}

/* ------------------------------------------------------------ running */

struct run {
  struct idl_txn *txn;
  const struct idl_resource *res;
  const struct idl_query *q;
  idl_match_fn fn;
  void *arg;
};

static enum idl_err visit(struct run *run, uint64_t pk, const void *data, size_t len) {
  struct idl_record rec;
  enum idl_err err = data ? idl_record_decode(run->res, pk, data, len, &rec)
                          : idl_record_get(run->txn, run->res, pk, &rec);
  if (err == IDL_ERR_NOTFOUND)
    return IDL_ERR_OK;
  if (err)
    return err;
  if (idl_query_matches(run->res, run->q, &rec))
    err = run->fn(&rec, run->arg);
  idl_record_fini(&rec);
  return err;
}

static enum idl_err visit_bytes(uint64_t pk, const void *data, size_t len, void *arg) {
  return visit(arg, pk, data, len);
}

/* The driving predicate of q, or NULL. */
static struct idl_pred *driver(const struct idl_resource *res, struct idl_query *q) {
  struct idl_pred *best = NULL;
  int best_rank = 0;
  for (size_t i = 0; i < q->n; i++) {
    int rank = drive_rank(res, q, &q->preds[i]);
    if (rank && (!best || rank < best_rank)) {
      best = &q->preds[i];
      best_rank = rank;
    }
  }
  return best;
}

enum idl_err idl_query_each(struct idl_txn *txn, const struct idl_resource *res,
                            struct idl_query *q, idl_match_fn fn, void *arg) {
  enum idl_err err = select_computed(txn, res, q);
  if (err)
    return err;
  struct run run = {txn, res, q, fn, arg};
  struct idl_pred *d = driver(res, q);
  if (!d)
    return idl_table_scan(txn, idl_resource_table(res), 1, 0, visit_bytes, &run);
  struct idl_ids pks = {0};
  if ((res->fields[d->field].flags & IDL_FF_COMPUTED))
    err = idl_ids_copy(&pks, &d->selected);
  else
    err = candidates(txn, res, q, d, &pks);
  for (size_t i = 0; i < pks.n && !err; i++)
    err = visit(&run, pks.v[i], NULL, 0);
  idl_ids_fini(&pks);
  return err == IDL_ERR_STOP ? IDL_ERR_OK : err;
}

/* --------------------------------------------------------------- pages */

/* A match kept for ordering: its pk and the value it is ordered by. */
struct sort_entry {
  uint64_t pk;
  struct idl_value v;
};

struct collect {
  const struct idl_query *q;
  uint64_t count;
  uint64_t skip;   /* matches before the page */
  struct idl_page *page;
  int keep_all;    /* ordering by a field: every match's sort entry is kept */
  struct sort_entry *sorted;
  size_t n_sorted, cap_sorted;
};

/* Moves rec into the page (rec is left empty). */
static enum idl_err keep(struct idl_page *page, struct idl_record *rec) {
  struct idl_record *v = idl_grow(page->recs, &page->cap, page->n, sizeof(*v));
  if (!v)
    return IDL_ERR_NOMEM;
  page->recs = v;
  page->recs[page->n++] = *rec;
  *rec = (struct idl_record){0};
  return IDL_ERR_OK;
}

/* Keeps rec's pk and its ordering value (moved out of rec), not the record:
 * ordering a million matches holds a million small entries. */
static enum idl_err keep_sort_entry(struct collect *c, struct idl_record *rec) {
  struct sort_entry *v = idl_grow(c->sorted, &c->cap_sorted, c->n_sorted, sizeof(*v));
  if (!v)
    return IDL_ERR_NOMEM;
  c->sorted = v;
  struct idl_value *field = &rec->v[c->q->order_field];
  struct idl_value kept = *field;
  if (kept.borrowed) { /* its text dies with the record */
    if (!(kept.s = malloc(kept.len + 1)))
      return IDL_ERR_NOMEM;
    memcpy(kept.s, field->s, kept.len + 1);
    kept.borrowed = 0;
  }
  v[c->n_sorted++] = (struct sort_entry){rec->pk, kept};
  *field = (struct idl_value){.null = 1};
  return IDL_ERR_OK;
}

static enum idl_err collect_cb(struct idl_record *rec, void *arg) {
  struct collect *c = arg;
  c->count++;
  if (c->keep_all)
    return keep_sort_entry(c, rec);
  if (c->count > c->skip && c->page->n < c->q->limit)
    return keep(c->page, rec);
  return IDL_ERR_OK;
}

struct sort_by {
  const struct idl_resource *res;
  int field, desc;
};

/* Orders entries by the sort field's value (nulls last), then by pk. */
static int cmp_entries(const void *pa, const void *pb, void *arg) {
  const struct sort_entry *a = pa, *b = pb;
  const struct sort_by *by = arg;
  const struct idl_field *f = &by->res->fields[by->field];
  const struct idl_value *x = &a->v, *y = &b->v;
  int c;
  if (f->type == IDL_F_PK)
    c = (a->pk > b->pk) - (a->pk < b->pk);
  else if (x->null || y->null)
    c = x->null - y->null; /* nulls last */
  else if (idl_ftype_is_text(f->type))
    c = text_cmp(x, y);
  else
    c = (x->i > y->i) - (x->i < y->i);
  if (!c)
    c = (a->pk > b->pk) - (a->pk < b->pk);
  return by->desc ? -c : c;
}

void idl_page_fini(struct idl_page *page) {
  for (size_t i = 0; i < page->n; i++)
    idl_record_fini(&page->recs[i]);
  free(page->recs);
  memset(page, 0, sizeof(*page));
}

/* Whether every filter of q is answered by the driving index alone, so
 * that the count needs no record. */
static int driver_covers(const struct idl_resource *res, struct idl_query *q,
                         const struct idl_pred *d, size_t max_key) {
  if (!d || (q->n != 1 && !(q->n == 2 && partner(q, d))))
    return 0;
  const struct idl_field *f = &res->fields[d->field];
  if (f->type == IDL_F_PK || (f->flags & IDL_FF_COMPUTED))
    return 0;
  size_t lead = lead_of(res, d->field);
  for (size_t i = 0; i < d->n_vals; i++)
    if (idl_ftype_is_text(f->type) && lead + d->vals[i].len >= max_key)
      return 0;
  return res->indexes[f->index].fields[1] < 0 || lead;
}

/* The page of an unfiltered list in pk order: the count is the table's, the
 * rows before the page are stepped over undecoded, and the scan stops after
 * the page. */
struct plain_page {
  const struct idl_resource *res;
  struct idl_page *page;
  uint64_t skip, limit, seen;
};

static enum idl_err plain_row(uint64_t pk, const void *data, size_t len, void *arg) {
  struct plain_page *p = arg;
  if (p->seen++ < p->skip)
    return IDL_ERR_OK;
  if (p->page->n >= p->limit)
    return IDL_ERR_STOP;
  struct idl_record rec;
  enum idl_err err = idl_record_decode(p->res, pk, data, len, &rec);
  if (!err)
    err = keep(p->page, &rec);
  idl_record_fini(&rec);
  return err;
}

enum idl_err idl_query_page(struct idl_txn *txn, const struct idl_resource *res,
                            struct idl_query *q, struct idl_page *page) {
  memset(page, 0, sizeof(*page));
  int ordered = q->order_field >= 0 &&
                !(res->fields[q->order_field].type == IDL_F_PK && !q->order_desc);
  uint64_t skip = (q->page - 1) * (uint64_t)q->limit;
  if (q->n == 0 && !ordered) {
    size_t t = idl_resource_table(res);
    struct plain_page p = {res, page, skip, q->limit, 0};
    enum idl_err err = idl_table_count(txn, t, &page->count);
    if (!err && skip < page->count)
      err = idl_table_scan(txn, t, 1, 0, plain_row, &p);
    if (err)
      idl_page_fini(page);
    return err;
  }
  enum idl_err err = select_computed(txn, res, q);
  struct idl_pred *d = err ? NULL : driver(res, q);
  /* Only the page's records are read when the index answers the count. */
  if (!err && !ordered && driver_covers(res, q, d, idl_store_max_key(idl_txn_store(txn)))) {
    struct idl_ids pks = {0};
    err = candidates(txn, res, q, d, &pks);
    page->count = pks.n;
    for (uint64_t i = skip; !err && i < pks.n && page->n < q->limit; i++) {
      struct idl_record rec;
      if ((err = idl_record_get(txn, res, pks.v[i], &rec)) == IDL_ERR_OK) {
        err = keep(page, &rec);
        idl_record_fini(&rec);
      }
    }
    idl_ids_fini(&pks);
    return err;
  }
  struct collect c = {.q = q, .skip = skip, .page = page, .keep_all = ordered};
  if (!err)
    err = idl_query_each(txn, res, q, collect_cb, &c);
  page->count = c.count;
  if (!err && ordered) {
    struct sort_by by = {res, q->order_field, q->order_desc};
    if (c.n_sorted > 1)
      qsort_r(c.sorted, c.n_sorted, sizeof(*c.sorted), cmp_entries, &by);
    /* Only the page's slice is read in full. */
    for (uint64_t i = skip; !err && i < c.n_sorted && page->n < q->limit; i++) {
      struct idl_record rec;
      if (!(err = idl_record_get(txn, res, c.sorted[i].pk, &rec)))
        err = keep(page, &rec);
      idl_record_fini(&rec);
    }
  }
  for (size_t i = 0; i < c.n_sorted; i++)
    idl_value_clear(&c.sorted[i].v);
  free(c.sorted);
  if (err)
    idl_page_fini(page);
  return err;
}

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idlink/contact.h"

void *idl_grow(void *v, size_t *cap, size_t n, size_t size) {
  if (n < *cap)
    return v;
  size_t more = *cap ? *cap * 2 : 16;
  void *grown = realloc(v, more * size);
  if (grown)
    *cap = more;
  return grown;
}

enum idl_err idl_ids_push(struct idl_ids *ids, uint64_t id) {
  uint64_t *v = idl_grow(ids->v, &ids->cap, ids->n, sizeof(*v));
  if (!v)
    return IDL_ERR_NOMEM;
  ids->v = v;
  ids->v[ids->n++] = id;
  return IDL_ERR_OK;
}

int idl_ids_contains(const struct idl_ids *ids, uint64_t id) {
  for (size_t i = 0; i < ids->n; i++)
    if (ids->v[i] == id)
      return 1;
  return 0;
}

enum idl_err idl_ids_add_unique(struct idl_ids *ids, uint64_t id) {
  return idl_ids_contains(ids, id) ? IDL_ERR_OK : idl_ids_push(ids, id);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

int idl_cmp_leading_id(const void *key, const void *elem) {
  uint64_t k = *(const uint64_t *)key, id;
  memcpy(&id, elem, sizeof(id));
  return (k > id) - (k < id);
}

enum idl_err idl_ids_copy(struct idl_ids *dst, const struct idl_ids *src) {
  for (size_t i = 0; i < src->n; i++)
    if (idl_ids_push(dst, src->v[i]))
      return IDL_ERR_NOMEM;
  return IDL_ERR_OK;
}

/* Ids from one index key, or from a time index, mostly come in order
 * already: they are checked first, which costs less than qsort's calls. */
void idl_ids_sort(struct idl_ids *ids) {
  size_t i = 1;
  while (i < ids->n && ids->v[i - 1] <= ids->v[i])
    i++;
  if (i < ids->n)
    qsort(ids->v, ids->n, sizeof(*ids->v), cmp_u64);
}

void idl_ids_sort_unique(struct idl_ids *ids) {
  idl_ids_sort(ids);
  size_t k = 0;
  for (size_t i = 0; i < ids->n; i++)
    if (k == 0 || ids->v[k - 1] != ids->v[i])
      ids->v[k++] = ids->v[i];
  ids->n = k;
}

void idl_ids_fini(struct idl_ids *ids) {
  free(ids->v);
  memset(ids, 0, sizeof(*ids));
}

uint64_t idl_hash64(const void *data, size_t len) {
  const unsigned char *s = data;
  uint64_t h = 14695981039346656037ULL;
  for (size_t i = 0; i < len; i++)
    h = (h ^ s[i]) * 1099511628211ULL;
  return h;
}

int64_t idl_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t idl_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------- time text */

/* The civil date of a day count since 1970-01-01 (Howard Hinnant's
 * algorithm). */
static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

/* Writes v as n decimal digits (zero-padded) at p; returns the end. */
static char *put_digits(char *p, unsigned v, int n) {
  for (int i = n - 1; i >= 0; i--, v /= 10)
    p[i] = (char)('0' + v % 10);
  return p + n;
}

/* YYYY-MM-DD at buf for years 0 to 9999 (the digits written by hand: every
 * record of every page shows two times, every contact of an answer two);
 * NULL for others. */
static char *put_civil(char *buf, int y, unsigned m, unsigned d) {
  if (y < 0 || y > 9999)
    return NULL;
  char *p = put_digits(buf, (unsigned)y, 4);
  *p++ = '-';
  p = put_digits(p, m, 2);
  *p++ = '-';
  return put_digits(p, d, 2);
}

void idl_format_date(int64_t days, char *buf) {
  int y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  char *p = put_civil(buf, y, m, d);
  if (p)
    *p = '\0';
  else
    snprintf(buf, IDL_TIME_TEXT_MAX, "%04d-%02u-%02u", y, m, d);
}

/* Floor division of v by unit, and what is left of it (0 to unit - 1). */
static int64_t floor_div(int64_t v, int64_t unit, unsigned *left) {
  int64_t r = v % unit;
  *left = (unsigned)(r < 0 ? r + unit : r);
  return v / unit - (r < 0);
}

/* ISO 8601 UTC of secs since the epoch and its fraction frac of frac_digits
 * digits, into buf of IDL_TIME_TEXT_MAX bytes. */
static void format_iso(int64_t secs, unsigned frac, int frac_digits, char *buf) {
  unsigned rest;
  int64_t days = floor_div(secs, 86400, &rest);
  int y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  char *p = put_civil(buf, y, m, d);
  if (!p) {
    snprintf(buf, IDL_TIME_TEXT_MAX, "%04d-%02u-%02uT%02d:%02d:%02d.%0*uZ", y, m, d,
             (int)(rest / 3600), (int)(rest / 60 % 60), (int)(rest % 60), frac_digits, frac);
    return;
  }
  *p++ = 'T';
  p = put_digits(p, (unsigned)(rest / 3600), 2);
  *p++ = ':';
  p = put_digits(p, (unsigned)(rest / 60 % 60), 2);
  *p++ = ':';
  p = put_digits(p, (unsigned)(rest % 60), 2);
  *p++ = '.';
  p = put_digits(p, frac, frac_digits);
  *p++ = 'Z';
  *p = '\0';
}

void idl_format_time_us(int64_t us, char *buf) {
  unsigned frac;
  int64_t secs = floor_div(us, 1000000, &frac);
  format_iso(secs, frac, 6, buf);
}

void idl_format_time(int64_t ms, char *buf) {
  unsigned frac;
  int64_t secs = floor_div(ms, 1000, &frac);
  char full[IDL_TIME_TEXT_MAX];
  format_iso(secs, frac, 3, full);
  memcpy(buf, full, IDL_ISO_TIME_LEN);
  buf[IDL_ISO_TIME_LEN] = '\0';
}

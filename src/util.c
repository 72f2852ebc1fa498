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

void idl_format_time(int64_t ms, char *buf) {
  time_t secs = (time_t)(ms / 1000);
  int millis = (int)(ms % 1000);
  if (millis < 0) {
    millis += 1000;
    secs -= 1;
  }
  struct tm tm;
  if (!gmtime_r(&secs, &tm))
    memset(&tm, 0, sizeof(tm)); /* out of range: shown as year 1900 */
  char full[64]; /* room for any year gmtime_r gives */
  snprintf(full, sizeof(full), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  memcpy(buf, full, IDL_ISO_TIME_LEN);
  buf[IDL_ISO_TIME_LEN] = '\0';
}

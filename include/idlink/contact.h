/* The contact record and the small containers the core passes around. */
#ifndef IDLINK_CONTACT_H
#define IDLINK_CONTACT_H

#include <stddef.h>
#include <stdint.h>

#include "idlink/err.h"

/* Normalized limits (SPEC section 2). An email is at most 254 characters of
 * UTF-8, so at most 4 bytes each. */
#define IDL_EMAIL_MAX_CHARS 254
#define IDL_EMAIL_MAX_BYTES (IDL_EMAIL_MAX_CHARS * 4)
#define IDL_PHONE_MAX_DIGITS 20
#define IDL_PHONE_MAX_BYTES (IDL_PHONE_MAX_DIGITS + 1) /* one leading '+' */

/* A timestamp in milliseconds since the epoch; IDL_TIME_NULL when unset. */
#define IDL_TIME_NULL INT64_MIN

enum idl_precedence { IDL_PRIMARY = 0, IDL_SECONDARY = 1 };

/* One row of the contact graph. Strings are inline: an empty string is null.
 * linked_id is 0 for a primary. */
struct idl_contact {
  uint64_t id;
  uint64_t linked_id;
  enum idl_precedence precedence;
  int64_t created_ms;
  int64_t updated_ms;
  int64_t deleted_ms;
  char email[IDL_EMAIL_MAX_BYTES + 1];
  char phone[IDL_PHONE_MAX_BYTES + 1];
};

/* The primary a contact belongs to: itself or its linkedId. */
static inline uint64_t idl_contact_primary(const struct idl_contact *c) {
  return c->precedence == IDL_PRIMARY ? c->id : c->linked_id;
}

/* A growable array of ids. Zero-initialize, then _push; _fini frees. */
struct idl_ids {
  uint64_t *v;
  size_t n;
  size_t cap;
};

/* Makes room for one more element in array v of n elements of size bytes,
 * *cap of them allocated: returns v, or v moved to a larger allocation (*cap
 * then updated), or NULL without memory (v and *cap left as they were). */
void *idl_grow(void *v, size_t *cap, size_t n, size_t size);

enum idl_err idl_ids_push(struct idl_ids *ids, uint64_t id);
/* Pushes id unless it is already present (linear; for the short lists of one request). */
enum idl_err idl_ids_add_unique(struct idl_ids *ids, uint64_t id);
int idl_ids_contains(const struct idl_ids *ids, uint64_t id);
void idl_ids_sort(struct idl_ids *ids);
/* Sorts ids ascending and removes repeats. */
void idl_ids_sort_unique(struct idl_ids *ids);
/* Appends every id of src to dst. */
enum idl_err idl_ids_copy(struct idl_ids *dst, const struct idl_ids *src);
void idl_ids_fini(struct idl_ids *ids);

/* A bsearch() comparator: the uint64_t key against the uint64_t id that
 * starts each element of an array sorted by it. */
int idl_cmp_leading_id(const void *key, const void *elem);

/* FNV-1a, 64 bits, of len bytes: the checkers keep values as these. */
uint64_t idl_hash64(const void *data, size_t len);

/* Milliseconds since the epoch, from the real-time clock. */
int64_t idl_now_ms(void);

/* Microseconds from the monotonic clock, for durations. */
int64_t idl_now_us(void);

/* Formats ms as ISO 8601 UTC with milliseconds ("2023-04-01T00:00:00.374Z")
 * into buf, which must hold IDL_ISO_TIME_LEN + 1 bytes. */
#define IDL_ISO_TIME_LEN 24
void idl_format_time(int64_t ms, char *buf);

/* Formats microseconds since the epoch as ISO 8601 UTC with microseconds, a
 * day count since 1970-01-01 as YYYY-MM-DD, into buf of IDL_TIME_TEXT_MAX
 * bytes (room for any year an int64 of days or microseconds names). */
#define IDL_TIME_TEXT_MAX 64
void idl_format_time_us(int64_t us, char *buf);
void idl_format_date(int64_t days, char *buf);

#endif

/* The invariant checker. One pass over the contacts builds a compact table
 * of every row; passes over the members and both indexes then check each
 * entry against it and mark what they saw, so that a row missing from an
 * index or from its primary's members shows as an unmarked row. */
#include "idlink/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SEEN_MEMBER = 1, SEEN_EMAIL = 2, SEEN_PHONE = 4, HAS_EMAIL = 8, HAS_PHONE = 16 };

/* A row of the table: what the index passes need, without reading the
 * record again. Values are kept as 64-bit FNV-1a hashes of their index keys. */
struct row {
  uint64_t id;
  uint64_t linked;
  uint64_t email_hash;
  uint64_t phone_hash;
  uint8_t precedence;
  uint8_t active;
  uint8_t flags;
};

struct checker {
  struct idl_txn *txn;
  idl_violation_fn fn;
  void *arg;
  struct idl_check_report *rep;
  struct row *rows;
  size_t n, cap;
  enum idl_err err;
  /* The group of index entries under one key being scanned. */
  char group_key[IDL_EMAIL_MAX_BYTES + 1];
  size_t group_key_len;
  uint64_t group_primary, group_first;
};

static void violation(struct checker *ck, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void violation(struct checker *ck, const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  ck->rep->violations++;
  ck->fn(line, ck->arg);
}

static struct row *find_row(struct checker *ck, uint64_t id) {
  return bsearch(&id, ck->rows, ck->n, sizeof(*ck->rows), idl_cmp_leading_id);
}

#define ID(x) ((unsigned long long)(x))

static uint64_t fnv1a(const char *s, size_t len) {
  uint64_t h = 14695981039346656037ULL;
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  return h;
}

/* The hash of the key value is indexed under. */
static uint64_t key_hash(const struct checker *ck, const char *value) {
  return fnv1a(value, idl_store_index_key_len(idl_txn_store(ck->txn), strlen(value)));
}

static enum idl_err add_row(const struct idl_contact *c, void *arg) {
  struct checker *ck = arg;
  struct row *rows = idl_grow(ck->rows, &ck->cap, ck->n, sizeof(*rows));
  if (!rows)
    return IDL_ERR_NOMEM;
  ck->rows = rows;
  int active = c->deleted_ms == IDL_TIME_NULL;
  ck->rows[ck->n++] = (struct row){
      .id = c->id, .linked = c->linked_id, .precedence = (uint8_t)c->precedence,
      .email_hash = key_hash(ck, c->email), .phone_hash = key_hash(ck, c->phone),
      .active = (uint8_t)active,
      .flags = (uint8_t)((*c->email ? HAS_EMAIL : 0) | (*c->phone ? HAS_PHONE : 0))};
  ck->rep->contacts++;
  if (!active)
    ck->rep->deleted++;
  else if (c->precedence == IDL_PRIMARY)
    ck->rep->primaries++;
  else
    ck->rep->secondaries++;
  if (c->id >= ck->rep->next_id)
    violation(ck, "contact %llu: id is not below next id %llu", ID(c->id),
              ID(ck->rep->next_id));
  return IDL_ERR_OK;
}

static void check_links(struct checker *ck) {
  for (size_t i = 0; i < ck->n; i++) {
    const struct row *r = &ck->rows[i];
    if (!r->active || r->precedence != IDL_SECONDARY)
      continue;
    const struct row *p = find_row(ck, r->linked);
    if (!p)
      violation(ck, "contact %llu: linkedId %llu names no contact", ID(r->id), ID(r->linked));
    else if (p->precedence != IDL_PRIMARY)
      violation(ck, "contact %llu: linkedId %llu names a secondary (a chain)", ID(r->id),
                ID(r->linked));
    else if (!p->active)
      violation(ck, "contact %llu: linkedId %llu names a deleted contact", ID(r->id),
                ID(r->linked));
  }
}

static enum idl_err check_member(uint64_t primary, uint64_t member, void *arg) {
  struct checker *ck = arg;
  struct row *m = find_row(ck, member);
  if (!m)
    violation(ck, "members of %llu: %llu names no contact", ID(primary), ID(member));
  else if (!m->active || m->precedence != IDL_SECONDARY || m->linked != primary)
    violation(ck, "members of %llu: %llu is not an active secondary linked to it",
              ID(primary), ID(member));
  else
    m->flags |= SEEN_MEMBER;
  return IDL_ERR_OK;
}

/* Checks one index entry: the contact exists, is active and holds the value
 * under that key; entries under one key belong to one identity. */
static enum idl_err check_index_entry(struct checker *ck, enum idl_index which,
                                      const char *key, size_t key_len, uint64_t id) {
  const char *what = which == IDL_INDEX_EMAIL ? "email" : "phone";
  struct row *r = find_row(ck, id);
  if (!r) {
    violation(ck, "%s index: an entry names contact %llu, which does not exist", what,
              ID(id));
    return IDL_ERR_OK;
  }
  uint64_t want = which == IDL_INDEX_EMAIL ? r->email_hash : r->phone_hash;
  if (!r->active || fnv1a(key, key_len) != want) {
    violation(ck, "%s index: an entry for contact %llu does not match its %s", what,
              ID(id), r->active ? "value" : "deletion");
    return IDL_ERR_OK;
  }
  r->flags |= which == IDL_INDEX_EMAIL ? SEEN_EMAIL : SEEN_PHONE;
  uint64_t primary = r->precedence == IDL_PRIMARY ? r->id : r->linked;
  int cut = key_len == idl_store_index_key_len(idl_txn_store(ck->txn), SIZE_MAX);
  if (key_len != ck->group_key_len || memcmp(key, ck->group_key, key_len) != 0) {
    memcpy(ck->group_key, key, key_len);
    ck->group_key_len = key_len;
    ck->group_primary = primary;
    ck->group_first = id;
  } else if (primary != ck->group_primary && !cut) {
    /* (Values longer than a key may share one: those are told apart by the
     * records, which lookups read.) */
    violation(ck, "contacts %llu and %llu share %s but belong to primaries %llu and %llu",
              ID(ck->group_first), ID(id),
              which == IDL_INDEX_EMAIL ? "an email" : "a phone", ID(ck->group_primary),
              ID(primary));
  }
  return IDL_ERR_OK;
}

static enum idl_err check_email(const char *key, size_t len, uint64_t id, void *arg) {
  struct checker *ck = arg;
  ck->rep->emails++;
  return check_index_entry(ck, IDL_INDEX_EMAIL, key, len, id);
}

static enum idl_err check_phone(const char *key, size_t len, uint64_t id, void *arg) {
  struct checker *ck = arg;
  ck->rep->phones++;
  return check_index_entry(ck, IDL_INDEX_PHONE, key, len, id);
}

/* Reports the active rows a pass should have seen and did not. */
static void check_unseen(struct checker *ck) {
  for (size_t i = 0; i < ck->n; i++) {
    const struct row *r = &ck->rows[i];
    if (!r->active)
      continue;
    if (r->precedence == IDL_SECONDARY && !(r->flags & SEEN_MEMBER))
      violation(ck, "contact %llu: missing from the members of its primary %llu",
                ID(r->id), ID(r->linked));
    if ((r->flags & HAS_EMAIL) && !(r->flags & SEEN_EMAIL))
      violation(ck, "contact %llu: its email is missing from the email index", ID(r->id));
    if ((r->flags & HAS_PHONE) && !(r->flags & SEEN_PHONE))
      violation(ck, "contact %llu: its phone is missing from the phone index", ID(r->id));
  }
}

static enum idl_err check_log(struct checker *ck) {
  struct idl_change *after;
  size_t n;
  enum idl_err err = idl_store_changes(ck->txn, ck->rep->last_seq, 1, &after, &n);
  if (err)
    return err;
  if (n)
    violation(ck, "change log: entry %llu is above the last sequence number %llu",
              ID(after[0].seq), ID(ck->rep->last_seq));
  for (size_t i = 0; i < n; i++)
    idl_change_fini(&after[i]);
  free(after);
  return IDL_ERR_OK;
}

enum idl_err idl_check_store(struct idl_txn *txn, idl_violation_fn fn, void *arg,
                             struct idl_check_report *out) {
  struct idl_check_report rep = {0};
  struct checker ck = {.txn = txn, .fn = fn, .arg = arg, .rep = &rep};
  struct idl_store_info info;
  enum idl_err err = idl_store_info(txn, &info);
  if (err)
    return err;
  rep.next_id = info.next_id;
  rep.last_seq = info.last_seq;
  err = idl_store_scan_contacts(txn, add_row, &ck);
  if (!err) {
    check_links(&ck);
    err = idl_store_scan_members(txn, check_member, &ck);
  }
  if (!err) {
    ck.group_key_len = SIZE_MAX;
    err = idl_store_scan_index(txn, IDL_INDEX_EMAIL, check_email, &ck);
  }
  if (!err) {
    ck.group_key_len = SIZE_MAX;
    err = idl_store_scan_index(txn, IDL_INDEX_PHONE, check_phone, &ck);
  }
  if (!err) {
    check_unseen(&ck);
    err = check_log(&ck);
  }
  free(ck.rows);
  if (!err)
    *out = rep;
  return err;
}

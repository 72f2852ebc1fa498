/* The invariant checker. The rows, fed once in id order, go into a compact
 * table; the rules between rows (links, values shared by two identities, the
 * store's position) run over that table. A snapshot's rows stop there. A
 * store's check then passes over the members and both indexes, checks each
 * entry against the table and marks what it saw, so that a row missing from
 * an index or from its primary's members shows as an unmarked row. */
#include "idlink/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idlink/blocklist.h"
#include "idlink/bridge.h"
#include "idlink/identity.h"
#include "idlink/normalize.h"

enum { SEEN_MEMBER = 1, SEEN_EMAIL = 2, SEEN_PHONE = 4, HAS_EMAIL = 8, HAS_PHONE = 16 };

/* A row of the table: what the later passes need, without reading the record
 * again. Values are kept as 64-bit FNV-1a hashes rather than copies, which
 * would more than double the table: two different values among a million
 * share a hash with a chance of about 3 in 10^8, and would then be reported
 * as one value shared (the report names both contacts). */
struct row {
  uint64_t id;
  uint64_t linked;
  uint64_t email_hash;
  uint64_t phone_hash;
  uint8_t precedence;
  uint8_t active;
  uint8_t flags;
};

struct idl_checker {
  idl_violation_fn fn;
  void *arg;
  struct idl_check_report rep;
  struct row *rows;
  size_t n, cap;
  struct idl_txn *txn; /* idl_check_store's, for the passes over the store */
  const struct idl_blocklist *blocklist; /* values never indexed nor shared-checked */
};

#define ID(x) ((unsigned long long)(x))

void idl_report_finding(idl_violation_fn fn, void *arg, uint64_t *count, const char *fmt, ...) {
  char line[2048]; /* a mirror key holds up to 1 KiB of email */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  (*count)++;
  fn(line, arg);
}

/* One violation, counted in the report. */
#define VIOLATION(ck, ...) idl_report_finding((ck)->fn, (ck)->arg, &(ck)->rep.violations, __VA_ARGS__)

static struct row *find_row(struct idl_checker *ck, uint64_t id) {
  return bsearch(&id, ck->rows, ck->n, sizeof(*ck->rows), idl_cmp_leading_id);
}

static uint64_t primary_of(const struct row *r) {
  return r->precedence == IDL_PRIMARY ? r->id : r->linked;
}


static uint64_t value_hash(const struct row *r, enum idl_index which) {
  return which == IDL_INDEX_EMAIL ? r->email_hash : r->phone_hash;
}

/* ------------------------------------------------------------------ rows */

enum idl_err idl_checker_new(idl_violation_fn fn, void *arg, struct idl_checker **out) {
  struct idl_checker *ck = calloc(1, sizeof(*ck));
  if (!ck)
    return IDL_ERR_NOMEM;
  ck->fn = fn;
  ck->arg = arg;
  *out = ck;
  return IDL_ERR_OK;
}

void idl_checker_set_blocklist(struct idl_checker *ck, const struct idl_blocklist *bl) {
  ck->blocklist = bl;
}

void idl_checker_free(struct idl_checker *ck) {
  if (!ck)
    return;
  free(ck->rows);
  free(ck);
}

/* Whether c's email and phone are what normalization would have stored. */
static int normalized(const struct idl_contact *c) {
  char email[IDL_EMAIL_MAX_BYTES + 1], phone[IDL_PHONE_MAX_BYTES + 1];
  return (!*c->email || (!idl_normalize_email(c->email, strlen(c->email), email) &&
                         strcmp(email, c->email) == 0)) &&
         (!*c->phone || (!idl_normalize_phone(c->phone, strlen(c->phone), phone) &&
                         strcmp(phone, c->phone) == 0));
}

static void count(struct idl_check_report *rep, const struct idl_contact *c) {
  rep->contacts++;
  if (c->deleted_ms != IDL_TIME_NULL)
    rep->deleted++;
  else if (c->precedence == IDL_PRIMARY)
    rep->primaries++;
  else
    rep->secondaries++;
}

enum idl_err idl_checker_add(const struct idl_contact *c, void *checker) {
  struct idl_checker *ck = checker;
  /* The table is searched by id: it must ascend. */
  if (ck->n && c->id <= ck->rows[ck->n - 1].id)
    return IDL_ERR_INVAL;
  struct row *rows = idl_grow(ck->rows, &ck->cap, ck->n, sizeof(*rows));
  if (!rows)
    return IDL_ERR_NOMEM;
  ck->rows = rows;
  ck->rows[ck->n++] = (struct row){
      .id = c->id, .linked = c->linked_id, .precedence = (uint8_t)c->precedence,
      .email_hash = idl_hash64(c->email, strlen(c->email)),
      .phone_hash = idl_hash64(c->phone, strlen(c->phone)),
      .active = c->deleted_ms == IDL_TIME_NULL,
      /* A blocked value is held but matched with nothing: not indexed, and
       * free to stand in many identities. */
      .flags = (uint8_t)((*c->email && !idl_blocklist_blocks(ck->blocklist, IDL_INDEX_EMAIL,
                                                             c->email) ? HAS_EMAIL : 0) |
                         (*c->phone && !idl_blocklist_blocks(ck->blocklist, IDL_INDEX_PHONE,
                                                             c->phone) ? HAS_PHONE : 0))};
  count(&ck->rep, c);
  if (!normalized(c))
    VIOLATION(ck, "contact %llu holds an email or phone that is not valid and normalized",
              ID(c->id));
  return IDL_ERR_OK;
}

/* Every id below next id, and every id and sequence number handed out one
 * a store may hand out: the last id (next id - 1) and the last seq at most
 * IDL_CHECK_MAX_ID. (A store that handed out the last one answers 507.) */
static void check_position(struct idl_checker *ck) {
  const struct idl_check_report *rep = &ck->rep;
  if (rep->next_id - 1 > IDL_CHECK_MAX_ID)
    VIOLATION(ck, "next id %llu is past %llu, the largest id a store hands out (int64)",
              ID(rep->next_id), ID(IDL_CHECK_MAX_ID));
  if (rep->last_seq > IDL_CHECK_MAX_ID)
    VIOLATION(ck, "last seq %llu is past %llu, the largest sequence number a store "
              "hands out (int64)", ID(rep->last_seq), ID(IDL_CHECK_MAX_ID));
  for (size_t i = 0; i < ck->n; i++)
    if (ck->rows[i].id >= rep->next_id)
      VIOLATION(ck, "contact %llu: id is not below next id %llu", ID(ck->rows[i].id),
                ID(rep->next_id));
}

/* Every active secondary names an active primary, so that its identity can
 * be shown. (A deleted contact belongs to no identity: its linkedId is
 * where it was when it went.) */
static void check_links(struct idl_checker *ck) {
  for (size_t i = 0; i < ck->n; i++) {
    const struct row *r = &ck->rows[i];
    if (r->precedence != IDL_SECONDARY || !r->active)
      continue;
    const struct row *p = find_row(ck, r->linked);
    if (!p)
      VIOLATION(ck, "contact %llu: linkedId %llu names no contact", ID(r->id), ID(r->linked));
    else if (p->precedence != IDL_PRIMARY)
      VIOLATION(ck, "contact %llu: linkedId %llu names a secondary (a chain)", ID(r->id),
                ID(r->linked));
    else if (r->active && !p->active)
      VIOLATION(ck, "contact %llu: linkedId %llu names a deleted contact", ID(r->id),
                ID(r->linked));
  }
}

/* The first active holder of a value, in an open-addressing table keyed by
 * the value's hash. */
struct holder {
  uint64_t hash;
  size_t row; /* index + 1; 0: an empty slot */
};

/* No email (or phone) of an active contact belongs to two identities. Each
 * active value is looked up, in id order, among those seen so far: one
 * found is a value shared, which must be within one identity. (A store's
 * index holds the same groups; the rows are checked instead, so that a
 * snapshot, which has no index, is held to the same rule by the same code.
 * A table rather than a sort of the values: one pass, and a third of the
 * time for a million rows.) */
static enum idl_err check_shared(struct idl_checker *ck, enum idl_index which) {
  int has = which == IDL_INDEX_EMAIL ? HAS_EMAIL : HAS_PHONE, bits = 4;
  while (((size_t)1 << bits) < 2 * ck->n) /* at most half full */
    bits++;
  size_t mask = ((size_t)1 << bits) - 1;
  struct holder *t = calloc(mask + 1, sizeof(*t));
  if (!t)
    return IDL_ERR_NOMEM;
  for (size_t i = 0; i < ck->n; i++) {
    const struct row *r = &ck->rows[i];
    if (!r->active || !(r->flags & has))
      continue;
    uint64_t h = value_hash(r, which);
    /* Fibonacci hashing spreads FNV's weaker low bits over the slots. */
    size_t at = (size_t)((h * 0x9E3779B97F4A7C15ULL) >> (64 - bits));
    while (t[at].row && t[at].hash != h)
      at = (at + 1) & mask;
    const struct row *first = t[at].row ? &ck->rows[t[at].row - 1] : NULL;
    if (!first)
      t[at] = (struct holder){h, i + 1};
    else if (primary_of(first) != primary_of(r))
      VIOLATION(ck, "contacts %llu and %llu share %s but belong to primaries %llu and %llu",
                ID(first->id), ID(r->id), which == IDL_INDEX_EMAIL ? "an email" : "a phone",
                ID(primary_of(first)), ID(primary_of(r)));
  }
  free(t);
  return IDL_ERR_OK;
}

enum idl_err idl_checker_finish(struct idl_checker *ck, uint64_t next_id, uint64_t last_seq,
                                struct idl_check_report *out) {
  ck->rep.next_id = next_id;
  ck->rep.last_seq = last_seq;
  check_position(ck);
  check_links(ck);
  enum idl_err err = check_shared(ck, IDL_INDEX_EMAIL);
  if (!err)
    err = check_shared(ck, IDL_INDEX_PHONE);
  if (!err)
    *out = ck->rep;
  return err;
}

/* ----------------------------------------------------------------- store */

static enum idl_err check_member(uint64_t primary, uint64_t member, void *arg) {
  struct idl_checker *ck = arg;
  struct row *m = find_row(ck, member);
  if (!m)
    VIOLATION(ck, "members of %llu: %llu names no contact", ID(primary), ID(member));
  else if (!m->active || m->precedence != IDL_SECONDARY || m->linked != primary)
    VIOLATION(ck, "members of %llu: %llu is not an active secondary linked to it",
              ID(primary), ID(member));
  else
    m->flags |= SEEN_MEMBER;
  return IDL_ERR_OK;
}

/* Whether key is the index key of r's value: the value itself, compared by
 * hash; or, for a key cut to the store's key size, the start of the value,
 * compared with the record (such long values are rare). */
static enum idl_err key_matches(struct idl_checker *ck, enum idl_index which,
                                const struct row *r, const char *key, size_t key_len,
                                int *match) {
  if (key_len < idl_store_index_key_len(idl_txn_store(ck->txn), SIZE_MAX)) {
    *match = idl_hash64(key, key_len) == value_hash(r, which);
    return IDL_ERR_OK;
  }
  struct idl_contact c;
  enum idl_err err = idl_store_get(ck->txn, r->id, &c);
  const char *value = which == IDL_INDEX_EMAIL ? c.email : c.phone;
  if (!err)
    *match = strlen(value) >= key_len && memcmp(value, key, key_len) == 0;
  return err;
}

/* Checks one index entry: the contact exists, is active and holds the value
 * under that key. */
static enum idl_err check_index_entry(struct idl_checker *ck, enum idl_index which,
                                      const char *key, size_t key_len, uint64_t id) {
  const char *what = which == IDL_INDEX_EMAIL ? "email" : "phone";
  struct row *r = find_row(ck, id);
  if (!r) {
    VIOLATION(ck, "%s index: an entry names contact %llu, which does not exist", what,
              ID(id));
    return IDL_ERR_OK;
  }
  if (r->active && !(r->flags & (which == IDL_INDEX_EMAIL ? HAS_EMAIL : HAS_PHONE))) {
    VIOLATION(ck, "%s index: an entry for contact %llu, whose %s is blocked or unset", what,
              ID(id), what);
    return IDL_ERR_OK;
  }
  int match = 0;
  enum idl_err err = r->active ? key_matches(ck, which, r, key, key_len, &match) : IDL_ERR_OK;
  if (err)
    return err;
  if (!match)
    VIOLATION(ck, "%s index: an entry for contact %llu does not match its %s", what,
              ID(id), r->active ? "value" : "deletion");
  else
    r->flags |= which == IDL_INDEX_EMAIL ? SEEN_EMAIL : SEEN_PHONE;
  return IDL_ERR_OK;
}

static enum idl_err check_email(const char *key, size_t len, uint64_t id, void *arg) {
  struct idl_checker *ck = arg;
  ck->rep.emails++;
  return check_index_entry(ck, IDL_INDEX_EMAIL, key, len, id);
}

static enum idl_err check_phone(const char *key, size_t len, uint64_t id, void *arg) {
  struct idl_checker *ck = arg;
  ck->rep.phones++;
  return check_index_entry(ck, IDL_INDEX_PHONE, key, len, id);
}

/* Reports the active rows a pass should have seen and did not. */
static void check_unseen(struct idl_checker *ck) {
  for (size_t i = 0; i < ck->n; i++) {
    const struct row *r = &ck->rows[i];
    if (!r->active)
      continue;
    if (r->precedence == IDL_SECONDARY && !(r->flags & SEEN_MEMBER))
      VIOLATION(ck, "contact %llu: missing from the members of its primary %llu",
                ID(r->id), ID(r->linked));
    if ((r->flags & HAS_EMAIL) && !(r->flags & SEEN_EMAIL))
      VIOLATION(ck, "contact %llu: its email is missing from the email index", ID(r->id));
    if ((r->flags & HAS_PHONE) && !(r->flags & SEEN_PHONE))
      VIOLATION(ck, "contact %llu: its phone is missing from the phone index", ID(r->id));
  }
}

static enum idl_err check_log(struct idl_checker *ck) {
  struct idl_change *after;
  size_t n;
  enum idl_err err = idl_store_changes(ck->txn, ck->rep.last_seq, 1, &after, &n);
  if (err)
    return err;
  if (n)
    VIOLATION(ck, "change log: entry %llu is above the last sequence number %llu",
              ID(after[0].seq), ID(ck->rep.last_seq));
  for (size_t i = 0; i < n; i++)
    idl_change_fini(&after[i]);
  free(after);
  return IDL_ERR_OK;
}

/* The primary of the first active holder of value, 0 when none holds it. */
static enum idl_err holder_primary(struct idl_checker *ck, enum idl_index which,
                                   const char *value, uint64_t *primary) {
  uint64_t id = 0;
  enum idl_err err = idl_store_find_first(ck->txn, which, value, &id);
  const struct row *r = err ? NULL : find_row(ck, id);
  *primary = r ? primary_of(r) : 0;
  return err == IDL_ERR_NOTFOUND ? IDL_ERR_OK : err;
}

/* A bridge links the holders of its email with those of its phone: they
 * are in one identity. */
static enum idl_err check_bridge(const struct idl_bridge *b, void *arg) {
  struct idl_checker *ck = arg;
  uint64_t by_email = 0, by_phone = 0;
  enum idl_err err = holder_primary(ck, IDL_INDEX_EMAIL, b->email, &by_email);
  if (!err)
    err = holder_primary(ck, IDL_INDEX_PHONE, b->phone, &by_phone);
  if (!err && by_email && by_phone && by_email != by_phone)
    VIOLATION(ck, "bridge %llu links the identities of %llu and %llu, which are apart",
              ID(b->pk), ID(by_email), ID(by_phone));
  return err;
}

/* Every identity is connected over its links (SPEC section 10): a part that
 * no chain of shared values and bridges reaches should have been split off.
 * Held once the store keeps bridges; one from before gets them at start. */
static enum idl_err check_connected(struct idl_checker *ck) {
  uint64_t flag;
  enum idl_err err = idl_store_meta_get(ck->txn, IDL_META_BRIDGES, &flag);
  if (err)
    return err == IDL_ERR_NOTFOUND ? IDL_ERR_OK : err;
  for (size_t i = 0; i < ck->n && !err; i++) {
    const struct row *r = &ck->rows[i];
    uint64_t apart = 0;
    if (r->active && r->precedence == IDL_PRIMARY &&
        !(err = idl_links_check(ck->txn, r->id, &apart)) && apart)
      VIOLATION(ck, "identity %llu is not connected: no chain of shared values or bridges "
                "joins contact %llu to its primary", ID(r->id), ID(apart));
  }
  return err ? err : idl_bridges_each(ck->txn, check_bridge, ck);
}

/* The passes over what only a store holds: members, indexes and the log. */
static enum idl_err check_derived(struct idl_checker *ck) {
  enum idl_err err = idl_store_scan_members(ck->txn, check_member, ck);
  if (!err)
    err = idl_store_scan_index(ck->txn, IDL_INDEX_EMAIL, check_email, ck);
  if (!err)
    err = idl_store_scan_index(ck->txn, IDL_INDEX_PHONE, check_phone, ck);
  if (!err) {
    check_unseen(ck);
    err = check_log(ck);
  }
  if (!err)
    err = check_connected(ck);
  return err;
}

enum idl_err idl_check_store(struct idl_txn *txn, idl_violation_fn fn, void *arg,
                             struct idl_check_report *out) {
  struct idl_store_info info;
  struct idl_checker *ck = NULL;
  struct idl_check_report rep;
  enum idl_err err = idl_store_info(txn, &info);
  if (!err)
    err = idl_checker_new(fn, arg, &ck);
  if (!err) {
    ck->txn = txn;
    ck->blocklist = idl_store_blocklist(idl_txn_store(txn));
    err = idl_store_scan_contacts(txn, idl_checker_add, ck);
  }
  if (!err)
    err = idl_checker_finish(ck, info.next_id, info.last_seq, &rep);
  if (!err)
    err = check_derived(ck);
  if (!err)
    err = idl_check_tables(txn, fn, arg, &ck->rep.records, &ck->rep.violations);
  if (!err)
    *out = ck->rep;
  idl_checker_free(ck);
  return err;
}

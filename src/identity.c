/* The reconciliation rules. Everything here reads and writes through one
 * transaction of the store; the caller decides which. */
#include "idlink/identity.h"

#include "idlink/bridge.h"
#include "idlink/conflict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void idl_identity_fini(struct idl_identity *ident) {
  free(ident->c);
  ident->c = NULL;
  ident->n = 0;
}

/* --------------------------------------------------------- identity views */

/* Orders value slots by string, then by position. */
struct slot {
  const char *s;
  size_t pos;
};

static int cmp_slot(const void *a, const void *b) {
  const struct slot *x = a, *y = b;
  int c = strcmp(x->s, y->s);
  return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

enum idl_err idl_identity_values(const struct idl_identity *ident, enum idl_index which,
                                 const char ***out, size_t *n) {
  size_t cap = ident->n ? ident->n : 1, got = 0;
  const char **v = malloc(cap * sizeof(*v));
  struct slot *slots = malloc(cap * sizeof(*slots));
  if (!v || !slots) {
    free(v);
    free(slots);
    return IDL_ERR_NOMEM;
  }
  size_t filled = 0;
  for (size_t i = 0; i < ident->n; i++) {
    const char *s = which == IDL_INDEX_EMAIL ? ident->c[i].email : ident->c[i].phone;
    if (*s)
      slots[filled++] = (struct slot){s, i};
  }
  /* Sorted by value, each run of equal values keeps its first position;
   * identities with thousands of contacts stay O(n log n). */
  qsort(slots, filled, sizeof(*slots), cmp_slot);
  char *keep = calloc(ident->n ? ident->n : 1, 1);
  if (!keep) {
    free(v);
    free(slots);
    return IDL_ERR_NOMEM;
  }
  for (size_t i = 0; i < filled; i++)
    if (i == 0 || strcmp(slots[i].s, slots[i - 1].s) != 0)
      keep[slots[i].pos] = 1;
  for (size_t i = 0; i < ident->n; i++)
    if (keep[i])
      v[got++] = which == IDL_INDEX_EMAIL ? ident->c[i].email : ident->c[i].phone;
  free(keep);
  free(slots);
  *out = v;
  *n = got;
  return IDL_ERR_OK;
}

/* Fills out with primary and its secondaries. */
static enum idl_err load_identity(struct idl_txn *txn, const struct idl_contact *primary,
                                  struct idl_identity *out) {
  struct idl_ids members = {0};
  enum idl_err err = idl_store_members(txn, primary->id, &members);
  struct idl_contact *c = NULL;
  if (!err && !(c = malloc((members.n + 1) * sizeof(*c))))
    err = IDL_ERR_NOMEM;
  if (!err) {
    c[0] = *primary;
    for (size_t i = 0; i < members.n && !err; i++)
      err = idl_store_get(txn, members.v[i], &c[i + 1]);
    /* A member that is missing is a broken store, not an absent contact. */
    if (err == IDL_ERR_NOTFOUND)
      err = IDL_ERR_CORRUPT;
  }
  if (!err) {
    out->c = c;
    out->n = members.n + 1;
  } else {
    free(c);
  }
  idl_ids_fini(&members);
  return err;
}

enum idl_err idl_identity_of_contact(struct idl_txn *txn, uint64_t id,
                                     struct idl_identity *out) {
  struct idl_contact c;
  enum idl_err err = idl_store_get(txn, id, &c);
  if (!err && c.deleted_ms != IDL_TIME_NULL)
    return IDL_ERR_NOTFOUND;
  if (!err && c.precedence == IDL_SECONDARY) {
    err = idl_store_get(txn, c.linked_id, &c);
    if (err == IDL_ERR_NOTFOUND)
      err = IDL_ERR_CORRUPT;
  }
  return err ? err : load_identity(txn, &c, out);
}

/* ---------------------------------------------------------------- matching */

/* What a request matches: the first contact holding its email and the first
 * holding its phone (0: none). Every contact holding one value belongs to one
 * identity, so these two name the identities the request touches through
 * its values; a value nobody holds may touch more through its bridges. The
 * primaries, the oldest first; m.primaries[0] once any. */
struct match {
  uint64_t by_email, by_phone;
  struct idl_contact *primaries;
  size_t n, cap;
};

static void match_fini(struct match *m) {
  free(m->primaries);
  m->primaries = NULL;
  m->n = m->cap = 0;
}

/* Whether a is older than b: createdAt first, then the smaller id. */
static int older(const struct idl_contact *a, const struct idl_contact *b) {
  if (a->created_ms != b->created_ms)
    return a->created_ms < b->created_ms;
  return a->id < b->id;
}

/* Adds the primary of contact id to m->primaries, keeping the oldest first. */
static enum idl_err add_primary(struct idl_txn *txn, uint64_t id, struct match *m) {
  struct idl_contact c;
  enum idl_err err = idl_store_get(txn, id, &c);
  if (!err && c.precedence == IDL_SECONDARY) {
    uint64_t primary = c.linked_id;
    if ((err = idl_store_get(txn, primary, &c)) == IDL_ERR_OK &&
        c.precedence != IDL_PRIMARY)
      err = IDL_ERR_CORRUPT; /* a linkedId naming a secondary: a chain */
  }
  /* An index entry or a link naming no row is a broken store. */
  if (err)
    return err == IDL_ERR_NOTFOUND ? IDL_ERR_CORRUPT : err;
  size_t at = 0;
  for (; at < m->n && older(&m->primaries[at], &c); at++)
    ;
  for (size_t i = 0; i < m->n; i++)
    if (m->primaries[i].id == c.id)
      return IDL_ERR_OK;
  struct idl_contact *v = idl_grow(m->primaries, &m->cap, m->n, sizeof(*v));
  if (!v)
    return IDL_ERR_NOMEM;
  m->primaries = v;
  memmove(&v[at + 1], &v[at], (m->n - at) * sizeof(*v));
  v[at] = c;
  m->n++;
  return IDL_ERR_OK;
}

/* Finds the first holder of a value: 0 when none. */
static enum idl_err first_holder(struct idl_txn *txn, enum idl_index which,
                                 const char *value, uint64_t *id) {
  *id = 0;
  if (!*value)
    return IDL_ERR_OK;
  enum idl_err err = idl_store_find_first(txn, which, value, id);
  return err == IDL_ERR_NOTFOUND ? IDL_ERR_OK : err;
}

struct bridged {
  struct idl_txn *txn;
  enum idl_index other; /* the kind of the bridge's other value */
  struct match *m;
};

static enum idl_err bridged_primary(const struct idl_bridge *b, void *arg) {
  struct bridged *x = arg;
  uint64_t holder = 0;
  enum idl_err err = first_holder(x->txn, x->other,
                                  x->other == IDL_INDEX_PHONE ? b->phone : b->email, &holder);
  return err || !holder ? err : add_primary(x->txn, holder, x->m);
}

/* The identities a value nobody holds is linked to through its bridges: a
 * contact holding it would be linked to every holder of each bridge's
 * other value, so the request is too. */
static enum idl_err match_bridges(struct idl_txn *txn, enum idl_index which,
                                  const char *value, struct match *m) {
  struct bridged x = {txn, which == IDL_INDEX_EMAIL ? IDL_INDEX_PHONE : IDL_INDEX_EMAIL, m};
  if (!*value || idl_store_blocked(idl_txn_store(txn), which, value))
    return IDL_ERR_OK;
  return idl_bridges_with(txn, which, value, bridged_primary, &x);
}

static enum idl_err match(struct idl_txn *txn, const struct idl_request *req,
                          struct match *m) {
  memset(m, 0, sizeof(*m));
  enum idl_err err = first_holder(txn, IDL_INDEX_EMAIL, req->email, &m->by_email);
  if (!err)
    err = first_holder(txn, IDL_INDEX_PHONE, req->phone, &m->by_phone);
  if (!err && m->by_email)
    err = add_primary(txn, m->by_email, m);
  if (!err && m->by_phone && m->by_phone != m->by_email) /* one contact: one read */
    err = add_primary(txn, m->by_phone, m);
  /* A value nobody holds may still be linked, through a bridge that
   * remembers it beside a value someone does hold. */
  if (!err && !m->by_email)
    err = match_bridges(txn, IDL_INDEX_EMAIL, req->email, m);
  if (!err && !m->by_phone)
    err = match_bridges(txn, IDL_INDEX_PHONE, req->phone, m);
  if (err)
    match_fini(m);
  return err;
}

enum idl_err idl_identity_lookup(struct idl_txn *txn, const struct idl_request *req,
                                 uint64_t *primary) {
  /* A single value that a contact holds names one identity, its holder's:
   * a secondary names its primary, so the holder alone answers (a customer
   * page asks this once per row). */
  if (!*req->email != !*req->phone) {
    uint64_t holder;
    enum idl_err err = first_holder(txn, *req->email ? IDL_INDEX_EMAIL : IDL_INDEX_PHONE,
                                    *req->email ? req->email : req->phone, &holder);
    if (err)
      return err;
    if (holder) {
      struct idl_contact c;
      if ((err = idl_store_get(txn, holder, &c)))
        return err == IDL_ERR_NOTFOUND ? IDL_ERR_CORRUPT : err;
      *primary = c.precedence == IDL_SECONDARY ? c.linked_id : c.id;
      return IDL_ERR_OK;
    }
  }
  struct match m;
  enum idl_err err = match(txn, req, &m);
  if (!err && m.n == 0)
    err = IDL_ERR_NOTFOUND;
  if (!err)
    *primary = m.primaries[0].id;
  match_fini(&m);
  return err;
}

/* ----------------------------------------------------------------- changes */

/* Makes primary `absorbed` and its secondaries secondaries of `winner`. */
static enum idl_err absorb(struct idl_txn *txn, const struct idl_contact *absorbed,
                           uint64_t winner, int64_t now_ms) {
  struct idl_ids members = {0};
  enum idl_err err = idl_store_members(txn, absorbed->id, &members);
  for (size_t i = 0; i < members.n && !err; i++) {
    struct idl_contact old, c;
    if ((err = idl_store_get(txn, members.v[i], &old)))
      break;
    c = old;
    c.linked_id = winner;
    c.updated_ms = now_ms;
    err = idl_store_put(txn, &c, &old);
  }
  idl_ids_fini(&members);
  if (err)
    return err == IDL_ERR_NOTFOUND ? IDL_ERR_CORRUPT : err;
  struct idl_contact c = *absorbed;
  c.precedence = IDL_SECONDARY;
  c.linked_id = winner;
  c.updated_ms = now_ms;
  return idl_store_put(txn, &c, absorbed);
}

static enum idl_err merge(struct idl_txn *txn, const struct match *m, int64_t now_ms) {
  struct idl_change change = {.at_ms = now_ms,
                              .kind = IDL_CHANGE_IDENTITY_MERGED,
                              .primary = m->primaries[0].id};
  enum idl_err err = IDL_ERR_OK;
  for (size_t i = 1; i < m->n && !err; i++) {
    err = absorb(txn, &m->primaries[i], change.primary, now_ms);
    if (!err)
      err = idl_ids_push(&change.absorbed, m->primaries[i].id);
  }
  if (!err) {
    idl_ids_sort(&change.absorbed);
    err = idl_store_log(txn, &change);
  }
  idl_change_fini(&change);
  return err;
}

enum idl_err idl_identity_join(struct idl_txn *txn, const struct idl_ids *primaries,
                               int64_t now_ms) {
  struct match m = {0};
  enum idl_err err = IDL_ERR_OK;
  for (size_t i = 0; i < primaries->n && !err; i++)
    err = add_primary(txn, primaries->v[i], &m); /* oldest first */
  if (!err && m.n > 1)
    err = merge(txn, &m, now_ms);
  match_fini(&m);
  return err;
}

/* Creates a contact with the request's values, a secondary of primary when
 * primary is not 0. Its id is left in *id. */
static enum idl_err create(struct idl_txn *txn, const struct idl_request *req,
                           uint64_t primary, int64_t now_ms, uint64_t *id) {
  struct idl_contact c = {
      .precedence = primary ? IDL_SECONDARY : IDL_PRIMARY,
      .linked_id = primary,
      .created_ms = now_ms,
      .updated_ms = now_ms,
      .deleted_ms = IDL_TIME_NULL,
  };
  memcpy(c.email, req->email, sizeof(c.email));
  memcpy(c.phone, req->phone, sizeof(c.phone));
  enum idl_err err = idl_store_new_id(txn, &c.id);
  if (!err)
    err = idl_store_put(txn, &c, NULL);
  struct idl_change change = {.at_ms = now_ms,
                              .kind = IDL_CHANGE_CONTACT_CREATED,
                              .contact = c.id,
                              .primary = idl_contact_primary(&c)};
  if (!err)
    err = idl_store_log(txn, &change);
  if (!err)
    *id = c.id;
  return err;
}

/* The hub guard: a request that would make an identity larger than the
 * store's limit, by merging or by adding a secondary, changes nothing but
 * the conflicts it is recorded in. */
static enum idl_err guard(struct idl_txn *txn, const struct match *m, int new_info,
                          int64_t now_ms, int *conflict) {
  uint64_t max = idl_store_max_identity(idl_txn_store(txn)), total = new_info ? 1 : 0;
  *conflict = 0;
  if (!max)
    return IDL_ERR_OK;
  enum idl_err err = IDL_ERR_OK;
  for (size_t i = 0; i < m->n && !err; i++) {
    uint64_t members = 0;
    err = idl_store_members_count(txn, m->primaries[i].id, &members);
    total += 1 + members;
  }
  if (err || total <= max)
    return err;
  /* Refused: the identities it would have joined go on record. */
  struct idl_ids primaries = {0};
  for (size_t i = 0; i < m->n && !err; i++)
    err = idl_ids_push(&primaries, m->primaries[i].id);
  char reason[96];
  snprintf(reason, sizeof(reason), "identity would exceed %llu contacts",
           (unsigned long long)max);
  *conflict = 1;
  if (!err)
    err = idl_conflict_add(txn, now_ms, &primaries, reason);
  idl_ids_fini(&primaries);
  return err;
}

static enum idl_err reconcile(struct idl_txn *txn, const struct idl_request *req,
                              int64_t now_ms, enum idl_reconcile_mode mode,
                              const struct match *m_, struct idl_outcome *out);

enum idl_err idl_identity_reconcile(struct idl_txn *txn, const struct idl_request *req,
                                    int64_t now_ms, enum idl_reconcile_mode mode,
                                    struct idl_outcome *out) {
  memset(out, 0, sizeof(*out));
  struct match m;
  enum idl_err err = match(txn, req, &m);
  if (err)
    return err;
  out->email_holder = m.by_email;
  err = reconcile(txn, req, now_ms, mode, &m, out);
  match_fini(&m);
  return err;
}

/* Section 2's rules (and section 10's guard and bridges) for what req
 * matched. */
static enum idl_err reconcile(struct idl_txn *txn, const struct idl_request *req,
                              int64_t now_ms, enum idl_reconcile_mode mode,
                              const struct match *m_, struct idl_outcome *out) {
  const struct match m = *m_;
  enum idl_err err = IDL_ERR_OK;
  /* A value no stored contact has is new to the winner's identity too: every
   * contact holding a known value joins that identity. A blocked value is
   * never known, and never new: it only rides along on a contact created
   * for another reason. */
  const struct idl_store *s = idl_txn_store(txn);
  int new_info = (*req->email && !m.by_email &&
                  !idl_store_blocked(s, IDL_INDEX_EMAIL, req->email)) ||
                 (*req->phone && !m.by_phone &&
                  !idl_store_blocked(s, IDL_INDEX_PHONE, req->phone));
  if (mode == IDL_RECONCILE_READ && (m.n != 1 || new_info)) {
    out->needs_write = 1;
    return IDL_ERR_OK;
  }
  if (m.n == 0) {
    err = create(txn, req, 0, now_ms, &out->created_id);
    out->primary = out->created_id;
    return err;
  }
  out->primary = m.primaries[0].id;
  if ((m.n > 1 || new_info) && (err = guard(txn, &m, new_info, now_ms, &out->conflict)))
    return err;
  if (out->conflict) /* answered with the oldest matched identity, as it is */
    return IDL_ERR_OK;
  if (m.n > 1 && (err = merge(txn, &m, now_ms)))
    return err;
  /* Joined by a request that brings nothing new: only a bridge remembers
   * why, and keeps them one when a contact between them goes. */
  if (m.n > 1 && !new_info && (err = idl_bridge_add(txn, req->email, req->phone, now_ms, 0)))
    return err;
  out->absorbed = m.n - 1;
  if (new_info)
    err = create(txn, req, out->primary, now_ms, &out->created_id);
  return err;
}

/* The reconciliation rules. Everything here reads and writes through one
 * transaction of the store; the caller decides which. */
#include "idlink/identity.h"

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
  if (!err && c.precedence == IDL_SECONDARY) {
    err = idl_store_get(txn, c.linked_id, &c);
    if (err == IDL_ERR_NOTFOUND)
      err = IDL_ERR_CORRUPT;
  }
  return err ? err : load_identity(txn, &c, out);
}

/* ---------------------------------------------------------------- matching */

/* What a request matches: the ids found by its email and by its phone, and
 * the primaries of those contacts, loaded; the oldest primary first. */
struct match {
  struct idl_ids by_email;
  struct idl_ids by_phone;
  struct idl_contact *primaries;
  size_t n;
};

static void match_fini(struct match *m) {
  idl_ids_fini(&m->by_email);
  idl_ids_fini(&m->by_phone);
  free(m->primaries);
}

/* Whether a is older than b: createdAt first, then the smaller id. */
static int older(const struct idl_contact *a, const struct idl_contact *b) {
  if (a->created_ms != b->created_ms)
    return a->created_ms < b->created_ms;
  return a->id < b->id;
}

/* Adds c's primary to m->primaries, keeping the oldest at index 0: c itself
 * when it is a primary, else the row its linkedId names. */
static enum idl_err add_primary(struct idl_txn *txn, const struct idl_contact *c,
                                struct match *m) {
  uint64_t id = idl_contact_primary(c);
  for (size_t i = 0; i < m->n; i++)
    if (m->primaries[i].id == id)
      return IDL_ERR_OK;
  struct idl_contact *p = &m->primaries[m->n];
  if (c->precedence == IDL_PRIMARY) {
    *p = *c;
  } else {
    enum idl_err err = idl_store_get(txn, id, p);
    if (err)
      return err == IDL_ERR_NOTFOUND ? IDL_ERR_CORRUPT : err;
    if (p->precedence != IDL_PRIMARY)
      return IDL_ERR_CORRUPT; /* a linkedId naming a secondary: a chain */
  }
  if (m->n++ > 0 && older(p, &m->primaries[0])) {
    struct idl_contact t = *p;
    *p = m->primaries[0];
    m->primaries[0] = t;
  }
  return IDL_ERR_OK;
}

/* Reads each contact found (once, though both values may find it) and
 * gathers the primaries. */
static enum idl_err collect_primaries(struct idl_txn *txn, struct match *m) {
  size_t total = m->by_email.n + m->by_phone.n;
  if (total == 0)
    return IDL_ERR_OK;
  /* At most one primary per contact found. */
  if (!(m->primaries = malloc(total * sizeof(*m->primaries))))
    return IDL_ERR_NOMEM;
  enum idl_err err = IDL_ERR_OK;
  for (size_t i = 0; i < total && !err; i++) {
    int from_email = i < m->by_email.n;
    uint64_t id = from_email ? m->by_email.v[i] : m->by_phone.v[i - m->by_email.n];
    if (!from_email && idl_ids_contains(&m->by_email, id))
      continue;
    struct idl_contact c;
    if ((err = idl_store_get(txn, id, &c)))
      return err == IDL_ERR_NOTFOUND ? IDL_ERR_CORRUPT : err;
    err = add_primary(txn, &c, m);
  }
  return err;
}

static enum idl_err match(struct idl_txn *txn, const struct idl_request *req,
                          struct match *m) {
  memset(m, 0, sizeof(*m));
  enum idl_err err = IDL_ERR_OK;
  if (*req->email)
    err = idl_store_find(txn, IDL_INDEX_EMAIL, req->email, &m->by_email);
  if (!err && *req->phone)
    err = idl_store_find(txn, IDL_INDEX_PHONE, req->phone, &m->by_phone);
  if (!err)
    err = collect_primaries(txn, m);
  if (err)
    match_fini(m);
  return err;
}

enum idl_err idl_identity_lookup(struct idl_txn *txn, const struct idl_request *req,
                                 struct idl_identity *out) {
  struct match m;
  enum idl_err err = match(txn, req, &m);
  if (err)
    return err;
  err = m.n ? load_identity(txn, &m.primaries[0], out) : IDL_ERR_NOTFOUND;
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

/* Creates a contact with the request's values, a secondary of primary when
 * primary is not NULL. The new row is left in *out. */
static enum idl_err create(struct idl_txn *txn, const struct idl_request *req,
                           const struct idl_contact *primary, int64_t now_ms,
                           struct idl_contact *out) {
  struct idl_contact c = {
      .precedence = primary ? IDL_SECONDARY : IDL_PRIMARY,
      .linked_id = primary ? primary->id : 0,
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
    *out = c;
  return err;
}

enum idl_err idl_identity_reconcile(struct idl_txn *txn, const struct idl_request *req,
                                    int64_t now_ms, enum idl_reconcile_mode mode,
                                    struct idl_outcome *out) {
  memset(out, 0, sizeof(*out));
  struct match m;
  enum idl_err err = match(txn, req, &m);
  if (err)
    return err;
  /* A value no stored contact has is new to the winner's identity too: every
   * contact holding a known value joins that identity. */
  int new_info = (*req->email && m.by_email.n == 0) || (*req->phone && m.by_phone.n == 0);
  if (mode == IDL_RECONCILE_READ && (m.n != 1 || new_info)) {
    out->needs_write = 1;
    goto out;
  }
  struct idl_contact primary, created;
  if (m.n == 0) {
    if (!(err = create(txn, req, NULL, now_ms, &primary)))
      out->created_id = primary.id;
    goto identity;
  }
  primary = m.primaries[0];
  if (m.n > 1 && (err = merge(txn, &m, now_ms)))
    goto out;
  out->absorbed = m.n - 1;
  if (new_info && !(err = create(txn, req, &primary, now_ms, &created)))
    out->created_id = created.id;
identity:
  if (!err)
    err = load_identity(txn, &primary, &out->identity);
out:
  match_fini(&m);
  if (err)
    out->created_id = 0;
  return err;
}

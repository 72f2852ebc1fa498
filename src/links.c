/* Links between contacts and what follows from them (SPEC section 10): two
 * active contacts are linked when they share an email or a phone, or
 * through a bridge; an identity is a connected set of contacts. Deleting a
 * contact re-resolves what is left of its identity into the connected
 * components of those links, each under its oldest contact. Everything
 * reads and writes through the caller's transaction. */
#include <stdlib.h>
#include <string.h>

#include "idlink/blocklist.h"
#include "idlink/bridge.h"
#include "idlink/codec.h"
#include "idlink/identity.h"

/* ------------------------------------------------------------ components */

/* A union-find over the positions of a sorted array of contacts. */
struct forest {
  const struct idl_contact *c;
  size_t n;
  size_t *parent;
  struct idl_txn *txn;
  idl_link_fn fn;
  void *arg;
};

static size_t root(struct forest *f, size_t i) {
  while (f->parent[i] != i) {
    f->parent[i] = f->parent[f->parent[i]]; /* path halving */
    i = f->parent[i];
  }
  return i;
}

/* The position of contact id among f's, or n when it is not one of them. */
static size_t position(const struct forest *f, uint64_t id) {
  const struct idl_contact *hit = bsearch(&id, f->c, f->n, sizeof(*f->c), idl_cmp_leading_id);
  return hit ? (size_t)(hit - f->c) : f->n;
}

/* Joins the sets of positions a and b; a link of the spanning forest when
 * they were apart. */
static enum idl_err join(struct forest *f, size_t a, size_t b, struct idl_link *l) {
  size_t ra = root(f, a), rb = root(f, b);
  if (ra == rb)
    return IDL_ERR_OK;
  f->parent[ra > rb ? ra : rb] = ra < rb ? ra : rb;
  l->from = f->c[a].id;
  l->to = f->c[b].id;
  return f->fn ? f->fn(l, f->arg) : IDL_ERR_OK;
}

/* The position of the first active holder of value among f's, or n. */
static enum idl_err first_position(struct forest *f, enum idl_index which, const char *value,
                                   size_t *at) {
  uint64_t id = 0;
  enum idl_err err = idl_store_find_first(f->txn, which, value, &id);
  *at = err ? f->n : position(f, id);
  return err == IDL_ERR_NOTFOUND ? IDL_ERR_OK : err;
}

struct bridge_walk {
  struct forest *f;
  size_t from; /* the first holder of the bridge's email */
};

static enum idl_err walk_bridge(const struct idl_bridge *b, void *arg) {
  struct bridge_walk *w = arg;
  size_t to;
  enum idl_err err = first_position(w->f, IDL_INDEX_PHONE, b->phone, &to);
  if (err || to == w->f->n)
    return err;
  struct idl_link l = {.via = IDL_LINK_BRIDGE, .value = b->email, .bridge = b};
  return join(w->f, w->from, to, &l);
}

enum idl_err idl_links_components(struct idl_txn *txn, const struct idl_contact *c, size_t n,
                                  size_t *comp, idl_link_fn fn, void *arg) {
  struct forest f = {c, n, comp, txn, fn, arg};
  for (size_t i = 0; i < n; i++)
    comp[i] = i;
  enum idl_err err = IDL_ERR_OK;
  for (size_t i = 0; i < n && !err; i++) {
    static const enum idl_index kinds[] = {IDL_INDEX_EMAIL, IDL_INDEX_PHONE};
    for (size_t k = 0; k < 2 && !err; k++) {
      const char *value = kinds[k] == IDL_INDEX_EMAIL ? c[i].email : c[i].phone;
      size_t first;
      if (!*value || (err = first_position(&f, kinds[k], value, &first)) || first == n)
        continue;
      if (first != i) { /* every holder joins the first one */
        struct idl_link l = {.via = kinds[k] == IDL_INDEX_EMAIL ? IDL_LINK_EMAIL
                                                                : IDL_LINK_PHONE,
                             .value = value};
        err = join(&f, first, i, &l);
      } else if (kinds[k] == IDL_INDEX_EMAIL) {
        /* The bridges of an email, once, from its first holder. */
        struct bridge_walk w = {&f, i};
        err = idl_bridges_with(txn, IDL_INDEX_EMAIL, value, walk_bridge, &w);
      }
    }
  }
  for (size_t i = 0; i < n; i++)
    comp[i] = root(&f, i);
  return err;
}

/* ----------------------------------------------------------- loading */

static int cmp_contact_id(const void *a, const void *b) {
  const struct idl_contact *x = a, *y = b;
  return (x->id > y->id) - (x->id < y->id);
}

void idl_contacts_sort(struct idl_contact *c, size_t n) {
  qsort(c, n, sizeof(*c), cmp_contact_id);
}

/* Loads the active contacts among ids, sorted by id, into a new array. */
static enum idl_err load_active(struct idl_txn *txn, const struct idl_ids *ids,
                                struct idl_contact **out, size_t *n) {
  struct idl_contact *c = malloc((ids->n ? ids->n : 1) * sizeof(*c));
  size_t got = 0;
  enum idl_err err = c ? IDL_ERR_OK : IDL_ERR_NOMEM;
  for (size_t i = 0; i < ids->n && !err; i++) {
    if ((err = idl_store_get(txn, ids->v[i], &c[got])) == IDL_ERR_NOTFOUND)
      err = IDL_ERR_CORRUPT;
    else if (!err && c[got].deleted_ms == IDL_TIME_NULL)
      got++;
  }
  if (err) {
    free(c);
    return err;
  }
  idl_contacts_sort(c, got);
  *out = c;
  *n = got;
  return IDL_ERR_OK;
}

/* The ids of the identity of active primary p: p and its members. */
static enum idl_err identity_ids(struct idl_txn *txn, uint64_t p, struct idl_ids *ids) {
  enum idl_err err = idl_ids_push(ids, p);
  return err ? err : idl_store_members(txn, p, ids);
}

/* Whether a is older than b: createdAt first, then the smaller id. */
static int older(const struct idl_contact *a, const struct idl_contact *b) {
  if (a->created_ms != b->created_ms)
    return a->created_ms < b->created_ms;
  return a->id < b->id;
}

/* ----------------------------------------------------------- resolving */

enum idl_err idl_identity_resolve(struct idl_txn *txn, const struct idl_ids *ids,
                                  int64_t now_ms, struct idl_ids *parts) {
  struct idl_contact *c = NULL;
  size_t n = 0;
  enum idl_err err = load_active(txn, ids, &c, &n);
  size_t *comp = err ? NULL : malloc((n ? n : 1) * sizeof(*comp));
  size_t *oldest = comp ? malloc((n ? n : 1) * sizeof(*oldest)) : NULL;
  if (!err && !oldest)
    err = IDL_ERR_NOMEM;
  if (!err)
    err = idl_links_components(txn, c, n, comp, NULL, NULL);
  /* Each component's oldest contact, kept at its root's position. */
  for (size_t i = 0; !err && i < n; i++)
    oldest[i] = i;
  for (size_t i = 0; !err && i < n; i++)
    if (older(&c[i], &c[oldest[comp[i]]]))
      oldest[comp[i]] = i;
  for (size_t i = 0; !err && i < n; i++) {
    const struct idl_contact *p = &c[oldest[comp[i]]];
    struct idl_contact now = c[i];
    if (p == &c[i]) {
      now.precedence = IDL_PRIMARY;
      now.linked_id = 0;
      err = idl_ids_push(parts, now.id);
    } else {
      now.precedence = IDL_SECONDARY;
      now.linked_id = p->id;
    }
    if (!err && (now.precedence != c[i].precedence || now.linked_id != c[i].linked_id)) {
      now.updated_ms = now_ms;
      err = idl_store_put(txn, &now, &c[i]);
    }
  }
  idl_ids_sort(parts);
  free(oldest);
  free(comp);
  free(c);
  return err;
}

/* Logs what a re-resolution did to the identity of old_primary: a split when
 * it came apart, vanished or changed its primary. */
static enum idl_err log_split(struct idl_txn *txn, uint64_t old_primary,
                              const struct idl_ids *parts, int64_t now_ms) {
  if (parts->n == 1 && parts->v[0] == old_primary)
    return IDL_ERR_OK;
  struct idl_change split = {.at_ms = now_ms, .kind = IDL_CHANGE_IDENTITY_SPLIT,
                             .primary = old_primary};
  enum idl_err err = idl_ids_copy(&split.absorbed, parts);
  if (!err)
    err = idl_store_log(txn, &split);
  idl_change_fini(&split);
  return err;
}

enum idl_err idl_identity_delete(struct idl_txn *txn, uint64_t id, int64_t now_ms,
                                 struct idl_deletion *out) {
  memset(out, 0, sizeof(*out));
  struct idl_contact c;
  enum idl_err err = idl_store_get(txn, id, &c);
  if (err || c.deleted_ms != IDL_TIME_NULL)
    return err; /* deleted already: nothing changes */
  out->changed = 1;
  out->old_primary = idl_contact_primary(&c);
  struct idl_ids ids = {0};
  err = identity_ids(txn, out->old_primary, &ids);
  struct idl_contact gone = c;
  gone.deleted_ms = now_ms;
  gone.updated_ms = now_ms;
  /* Its values leave the indexes, and it leaves its primary's members. */
  if (!err)
    err = idl_store_put(txn, &gone, &c);
  if (!err)
    err = idl_identity_resolve(txn, &ids, now_ms, &out->parts);
  struct idl_change deleted = {.at_ms = now_ms, .kind = IDL_CHANGE_CONTACT_DELETED,
                               .contact = id, .primary = out->old_primary};
  if (!err)
    err = idl_store_log(txn, &deleted);
  if (!err)
    err = log_split(txn, out->old_primary, &out->parts, now_ms);
  idl_ids_fini(&ids);
  return err;
}

void idl_deletion_fini(struct idl_deletion *d) {
  idl_ids_fini(&d->parts);
}

/* ------------------------------------------------------- legacy bridges */

/* Joins the components of one identity that its values alone leave apart
 * with legacy bridges, each from an email of the part joined so far to a
 * phone of another part, or the other way round. */
static enum idl_err bridge_parts(struct idl_txn *txn, const struct idl_contact *c, size_t n,
                                 const size_t *comp, int64_t now_ms, uint64_t *added) {
  char *joined = calloc(n ? n : 1, 1); /* by root position: in the joined part */
  if (!joined)
    return IDL_ERR_NOMEM;
  size_t main_root = comp[0]; /* the primary's part: any start will do */
  joined[main_root] = 1;
  enum idl_err err = IDL_ERR_OK;
  for (int progress = 1; progress && !err;) {
    progress = 0;
    const struct idl_contact *email = NULL, *phone = NULL; /* of the joined part */
    for (size_t i = 0; i < n; i++)
      if (joined[comp[i]]) {
        if (!email && *c[i].email)
          email = &c[i];
        if (!phone && *c[i].phone)
          phone = &c[i];
      }
    for (size_t i = 0; i < n && !err; i++) {
      if (joined[comp[i]])
        continue;
      if (phone && *c[i].email)
        err = idl_bridge_add(txn, c[i].email, phone->phone, now_ms, 1);
      else if (email && *c[i].phone)
        err = idl_bridge_add(txn, email->email, c[i].phone, now_ms, 1);
      else
        continue;
      joined[comp[i]] = 1;
      ++*added;
      progress = 1;
      break; /* the joined part grew: look again */
    }
  }
  free(joined);
  return err;
}

struct legacy {
  struct idl_txn *txn;
  int64_t now_ms;
  uint64_t added;
};

static enum idl_err legacy_identity(const struct idl_contact *p, void *arg) {
  struct legacy *lg = arg;
  if (p->precedence != IDL_PRIMARY || p->deleted_ms != IDL_TIME_NULL)
    return IDL_ERR_OK;
  struct idl_ids ids = {0};
  struct idl_contact *c = NULL;
  size_t n = 0, *comp = NULL;
  enum idl_err err = identity_ids(lg->txn, p->id, &ids);
  if (!err)
    err = load_active(lg->txn, &ids, &c, &n);
  if (!err && !(comp = malloc((n ? n : 1) * sizeof(*comp))))
    err = IDL_ERR_NOMEM;
  if (!err)
    err = idl_links_components(lg->txn, c, n, comp, NULL, NULL);
  int apart = 0;
  for (size_t i = 1; !err && i < n; i++)
    apart |= comp[i] != comp[0];
  if (!err && apart)
    err = bridge_parts(lg->txn, c, n, comp, lg->now_ms, &lg->added);
  free(comp);
  free(c);
  idl_ids_fini(&ids);
  return err;
}

enum idl_err idl_links_legacy(struct idl_txn *txn, int64_t now_ms, uint64_t *added) {
  struct legacy lg = {txn, now_ms, 0};
  enum idl_err err = idl_store_scan_contacts(txn, legacy_identity, &lg);
  *added = lg.added;
  return err;
}

/* ---------------------------------------------------------- the checker */

enum idl_err idl_links_check(struct idl_txn *txn, uint64_t primary, uint64_t *apart) {
  struct idl_ids ids = {0};
  struct idl_contact *c = NULL;
  size_t n = 0, *comp = NULL;
  enum idl_err err = identity_ids(txn, primary, &ids);
  if (!err)
    err = load_active(txn, &ids, &c, &n);
  if (!err && !(comp = malloc((n ? n : 1) * sizeof(*comp))))
    err = IDL_ERR_NOMEM;
  if (!err)
    err = idl_links_components(txn, c, n, comp, NULL, NULL);
  *apart = 0;
  for (size_t i = 0; !err && i < n && !*apart; i++)
    if (comp[i] != comp[0])
      *apart = c[i].id;
  free(comp);
  free(c);
  idl_ids_fini(&ids);
  return err;
}

/* ------------------------------------------------------- the blocklist */

struct reindexing {
  struct idl_txn *txn;
  const struct idl_blocklist *old;
  struct idl_ids resolve; /* primaries whose identities lost a link */
  struct idl_ids joined;  /* contacts whose values came into the indexes */
  uint64_t changed;
};

static enum idl_err reindex_contact(const struct idl_contact *c, void *arg) {
  struct reindexing *x = arg;
  int dropped = 0, added = 0;
  if (c->deleted_ms != IDL_TIME_NULL)
    return IDL_ERR_OK;
  enum idl_err err = idl_store_reindex(x->txn, c, x->old, &dropped, &added);
  x->changed += dropped || added;
  if (!err && dropped)
    err = idl_ids_push(&x->resolve, idl_contact_primary(c));
  if (!err && added)
    err = idl_ids_push(&x->joined, c->id);
  return err;
}

/* Joins the identities of the holders of a value that came into an index. */
static enum idl_err join_holders(struct idl_txn *txn, enum idl_index which, const char *value,
                                 int64_t now_ms) {
  struct idl_ids holders = {0}, primaries = {0};
  enum idl_err err = idl_store_find(txn, which, value, &holders);
  for (size_t i = 0; i < holders.n && !err; i++) {
    struct idl_contact c;
    if (!(err = idl_store_get(txn, holders.v[i], &c)))
      err = idl_ids_push(&primaries, idl_contact_primary(&c));
  }
  idl_ids_sort_unique(&primaries);
  if (!err && primaries.n > 1)
    err = idl_identity_join(txn, &primaries, now_ms);
  idl_ids_fini(&holders);
  idl_ids_fini(&primaries);
  return err;
}

enum idl_err idl_links_apply_blocklist(struct idl_txn *txn, int64_t now_ms, uint64_t *changed) {
  char *recorded = NULL, *now = idl_blocklist_text(idl_store_blocklist(idl_txn_store(txn)));
  struct idl_blocklist *old = NULL;
  *changed = 0;
  enum idl_err err = now ? idl_store_recorded_blocklist(txn, &recorded) : IDL_ERR_NOMEM;
  int same = !err && !strcmp(recorded ? recorded : "", now);
  if (!err && !same && !(err = idl_blocklist_new(&old)) && recorded)
    err = idl_blocklist_add_text(old, recorded);
  struct reindexing x = {txn, old, {0}, {0}, 0};
  if (!err && !same)
    err = idl_store_scan_contacts(txn, reindex_contact, &x);
  /* Values now blocked: what they held together comes apart. */
  idl_ids_sort_unique(&x.resolve);
  for (size_t i = 0; i < x.resolve.n && !err; i++) {
    struct idl_contact p;
    struct idl_ids ids = {0}, parts = {0};
    err = idl_store_get(txn, x.resolve.v[i], &p);
    if (!err && p.deleted_ms == IDL_TIME_NULL && p.precedence == IDL_PRIMARY &&
        !(err = identity_ids(txn, p.id, &ids)) &&
        !(err = idl_identity_resolve(txn, &ids, now_ms, &parts)))
      err = log_split(txn, p.id, &parts, now_ms);
    idl_ids_fini(&ids);
    idl_ids_fini(&parts);
  }
  /* Values no longer blocked: the identities that share one become one. */
  for (size_t i = 0; i < x.joined.n && !err; i++) {
    struct idl_contact c;
    if (!(err = idl_store_get(txn, x.joined.v[i], &c)) && *c.email)
      err = join_holders(txn, IDL_INDEX_EMAIL, c.email, now_ms);
    if (!err && *c.phone)
      err = join_holders(txn, IDL_INDEX_PHONE, c.phone, now_ms);
  }
  if (!err && !same)
    err = idl_store_record_blocklist(txn);
  *changed = x.changed;
  idl_ids_fini(&x.resolve);
  idl_ids_fini(&x.joined);
  idl_blocklist_free(old);
  free(recorded);
  free(now);
  return err;
}

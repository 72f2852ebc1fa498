/* Erasure, the right to be forgotten (SPEC section 10): POST /erasure with
 * an email, a phone or a contact id erases the whole identity that holds it.
 * Its contacts stay as deleted rows without email and phone; every row that
 * held one of its values, deleted ones included, loses its values; its
 * customers are anonymized and the personal texts of what goes with them
 * (feedback, tickets) become "[erased]"; the bridges holding its values go.
 * The change log holds ids only, and gets one identity.erased entry, on which
 * the Redis mirror rebuilds its keys from the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idlink/bridge.h"
#include "idlink/erasure.h"
#include "idlink/identity.h"
#include "res_internal.h"

/* The values being erased: emails and phones, each a sorted set of copies. */
struct values {
  char **v[2]; /* by enum idl_index */
  size_t n[2], cap[2];
};

static int has(const struct values *vs, enum idl_index which, const char *value) {
  for (size_t i = 0; i < vs->n[which]; i++)
    if (!strcmp(vs->v[which][i], value))
      return 1;
  return 0;
}

/* Adds value; *grew is set when it is new. A blocked value names no one:
 * the erased rows lose it, but it leads to no other row. */
static enum idl_err add(struct idl_txn *txn, struct values *vs, enum idl_index which,
                        const char *value, int *grew) {
  if (!*value || has(vs, which, value) || idl_store_blocked(idl_txn_store(txn), which, value))
    return IDL_ERR_OK;
  char **v = idl_grow(vs->v[which], &vs->cap[which], vs->n[which], sizeof(*v));
  if (!v)
    return IDL_ERR_NOMEM;
  vs->v[which] = v;
  if (!(v[vs->n[which]] = strdup(value)))
    return IDL_ERR_NOMEM;
  vs->n[which]++;
  *grew = 1;
  return IDL_ERR_OK;
}

static void values_fini(struct values *vs) {
  for (int k = 0; k < 2; k++) {
    for (size_t i = 0; i < vs->n[k]; i++)
      free(vs->v[k][i]);
    free(vs->v[k]);
  }
}

/* ------------------------------------------------------------- contacts */

struct gather {
  struct idl_txn *txn;
  struct values *vs;
  struct idl_ids *rows; /* the contacts to erase */
  int grew;
};

/* The values and contacts of the identity of active contact id. */
static enum idl_err gather_identity(struct gather *g, uint64_t id) {
  struct idl_identity ident;
  enum idl_err err = idl_identity_of_contact(g->txn, id, &ident);
  if (err)
    return err;
  for (size_t i = 0; !err && i < ident.n; i++) {
    const struct idl_contact *c = &ident.c[i];
    if (!(err = add(g->txn, g->vs, IDL_INDEX_EMAIL, c->email, &g->grew)) &&
        !(err = add(g->txn, g->vs, IDL_INDEX_PHONE, c->phone, &g->grew)))
      err = idl_ids_add_unique(g->rows, c->id);
  }
  idl_identity_fini(&ident);
  return err;
}

/* A row holding a value being erased is erased; an active one brings its
 * whole identity (a blocked value may stand in several). */
static enum idl_err gather_row(const struct idl_contact *c, void *arg) {
  struct gather *g = arg;
  if (!has(g->vs, IDL_INDEX_EMAIL, c->email) && !has(g->vs, IDL_INDEX_PHONE, c->phone))
    return IDL_ERR_OK;
  if (c->deleted_ms == IDL_TIME_NULL && !idl_ids_contains(g->rows, c->id))
    return gather_identity(g, c->id);
  return idl_ids_add_unique(g->rows, c->id);
}

/* The identity of active contact id, to begin with. */
static enum idl_err gather_identity_of(struct idl_txn *txn, struct values *vs,
                                       struct idl_ids *rows, uint64_t id) {
  struct gather g = {txn, vs, rows, 0};
  return gather_identity(&g, id);
}

/* Every row to erase: one pass over the contacts, again while the values
 * grow (an identity found brings values that deleted rows may hold). */
static enum idl_err gather(struct idl_txn *txn, struct values *vs, struct idl_ids *rows) {
  struct gather g = {txn, vs, rows, 1};
  enum idl_err err = IDL_ERR_OK;
  for (int pass = 0; !err && g.grew && pass < 8; pass++) {
    g.grew = 0;
    err = idl_store_scan_contacts(txn, gather_row, &g);
  }
  return err;
}

static enum idl_err erase_rows(struct idl_txn *txn, const struct idl_ids *rows, int64_t now_ms) {
  enum idl_err err = IDL_ERR_OK;
  for (size_t i = 0; i < rows->n && !err; i++) {
    struct idl_contact old, c;
    if ((err = idl_store_get(txn, rows->v[i], &old)))
      break;
    c = old;
    c.email[0] = c.phone[0] = '\0';
    if (c.deleted_ms == IDL_TIME_NULL)
      c.deleted_ms = now_ms;
    c.updated_ms = now_ms;
    err = idl_store_put(txn, &c, &old);
  }
  return err;
}

/* ------------------------------------------------------------- records */

/* Clears the personal fields of rec: an email becomes
 * erased-{pk}@erased.invalid, a phone, a date or a nullable text null, a
 * JSON field {}, any other text `text`; a hidden one becomes null. */
static enum idl_err anonymize(const struct idl_resource *res, struct idl_record *rec,
                              const char *text) {
  enum idl_err err = IDL_ERR_OK;
  for (size_t i = 0; i < res->n_fields + res->n_hidden && !err; i++) {
    const struct idl_field *f = &res->fields[i];
    struct idl_value *v = &rec->v[i];
    if (!(f->flags & IDL_FF_PERSONAL) || v->null)
      continue;
    if (i >= res->n_fields) {
      idl_value_clear(v);
      continue;
    }
    char email[64];
    switch (f->type) {
    case IDL_F_EMAIL:
      snprintf(email, sizeof(email), "erased-%llu@erased.invalid", (unsigned long long)rec->pk);
      err = idl_record_set_str(rec, i, email, strlen(email));
      break;
    case IDL_F_JSON:
      err = idl_record_set_str(rec, i, "{}", 2);
      break;
    case IDL_F_STR:
      err = idl_record_set_str(rec, i, text, strlen(text));
      break;
    default: /* a phone, a date */
      if (f->flags & IDL_FF_NULLABLE)
        idl_value_clear(v);
      break;
    }
  }
  return err;
}

/* Anonymizes a record whose FK names the customer being erased (its
 * feedback, its tickets), counting those that held personal texts. */
static enum idl_err erase_dependent(struct idl_txn *txn, const struct idl_resource *res,
                                    const struct idl_record *old, void *arg) {
  struct idl_erasure *out = arg;
  struct idl_record rec;
  enum idl_err err = idl_record_copy(&rec, old);
  if (err)
    return err;
  if (!(err = anonymize(res, &rec, "[erased]"))) {
    int changed = 0;
    for (size_t j = 0; j < rec.n; j++)
      changed |= !idl_value_equal(&rec.v[j], &old->v[j]);
    if (changed && !(err = idl_record_put(txn, res, &rec, old)))
      out->feedback += res == &idl_feedback, out->tickets += res == &idl_tickets;
  }
  idl_record_fini(&rec);
  return err;
}

static enum idl_err erase_dependents(struct idl_txn *txn, uint64_t pk,
                                     struct idl_erasure *out) {
  return idl_record_each_referrer(txn, &idl_customers, pk, 0, erase_dependent, out);
}

/* Anonymizes customer pk: its personal fields, its channel code (an
 * import's is its email), inactive; not reconciled again. */
static enum idl_err erase_customer(struct idl_txn *txn, uint64_t pk, struct idl_erasure *out) {
  struct idl_record old, rec;
  enum idl_err err = idl_record_get(txn, &idl_customers, pk, &old);
  if (err)
    return err;
  if (!(err = idl_record_copy(&rec, &old))) {
    char code[32];
    snprintf(code, sizeof(code), "erased-%llu", (unsigned long long)pk);
    err = anonymize(&idl_customers, &rec, "");
    if (!err)
      err = idl_record_set_str(&rec, CUSTOMER_CHANNEL_CODE, code, strlen(code));
    idl_record_set_int(&rec, CUSTOMER_IS_ACTIVE, 0);
    /* Stored as it is: the hooks would reconcile the new email. */
    if (!err)
      err = idl_record_put(txn, &idl_customers, &rec, &old);
    idl_record_fini(&rec);
  }
  idl_record_fini(&old);
  if (!err) {
    out->customers++;
    err = erase_dependents(txn, pk, out);
  }
  return err;
}

static enum idl_err erase_customers(struct idl_txn *txn, const struct values *vs,
                                    struct idl_erasure *out) {
  struct idl_ids pks = {0};
  enum idl_err err = IDL_ERR_OK;
  for (int k = 0; k < 2 && !err; k++)
    for (size_t i = 0; i < vs->n[k] && !err; i++)
      err = idl_customers_holding(txn, (enum idl_index)k, vs->v[k][i], &pks);
  idl_ids_sort_unique(&pks);
  for (size_t i = 0; i < pks.n && !err; i++)
    err = erase_customer(txn, pks.v[i], out);
  idl_ids_fini(&pks);
  return err;
}

/* -------------------------------------------------------------- bridges */

static enum idl_err collect_bridge(const struct idl_bridge *b, void *arg) {
  return idl_ids_add_unique(arg, b->pk);
}

static enum idl_err erase_bridges(struct idl_txn *txn, const struct values *vs) {
  struct idl_ids pks = {0};
  enum idl_err err = IDL_ERR_OK;
  for (int k = 0; k < 2 && !err; k++)
    for (size_t i = 0; i < vs->n[k] && !err; i++)
      err = idl_bridges_with(txn, (enum idl_index)k, vs->v[k][i], collect_bridge, &pks);
  for (size_t i = 0; i < pks.n && !err; i++)
    err = idl_bridge_delete(txn, pks.v[i]);
  idl_ids_fini(&pks);
  return err;
}

/* ----------------------------------------------------------------- whole */

enum idl_err idl_erase(struct idl_txn *txn, const struct idl_erase_request *req, int64_t now_ms,
                       struct idl_erasure *out) {
  memset(out, 0, sizeof(*out));
  struct values vs = {0};
  struct idl_ids rows = {0};
  uint64_t primary = 0;
  int grew = 0;
  enum idl_err err = IDL_ERR_OK;
  if (req->contact) {
    struct idl_contact c;
    if (!(err = idl_store_get(txn, req->contact, &c))) {
      primary = c.deleted_ms == IDL_TIME_NULL ? idl_contact_primary(&c) : 0;
      if (c.deleted_ms != IDL_TIME_NULL && !*c.email && !*c.phone)
        err = IDL_ERR_NOTFOUND; /* erased already: nothing holds anything */
      if (!err && !(err = add(txn, &vs, IDL_INDEX_EMAIL, c.email, &grew)) &&
          !(err = add(txn, &vs, IDL_INDEX_PHONE, c.phone, &grew)))
        err = c.deleted_ms == IDL_TIME_NULL ? gather_identity_of(txn, &vs, &rows, c.id)
                                            : idl_ids_push(&rows, c.id);
    }
  } else {
    err = add(txn, &vs, req->which, req->value, &grew);
  }
  if (!err)
    err = gather(txn, &vs, &rows);
  idl_ids_sort(&rows);
  if (!err)
    err = erase_customers(txn, &vs, out);
  if (!err && !rows.n && !out->customers)
    err = IDL_ERR_NOTFOUND; /* nothing holds it */
  if (!err && !primary && rows.n) {
    struct idl_contact c; /* the identity's primary, for the log */
    if (!(err = idl_store_get(txn, rows.v[0], &c)) && c.deleted_ms == IDL_TIME_NULL)
      primary = idl_contact_primary(&c);
  }
  if (!err)
    err = erase_rows(txn, &rows, now_ms);
  if (!err)
    err = erase_bridges(txn, &vs);
  out->contacts = rows.n;
  struct idl_change erased = {.at_ms = now_ms, .kind = IDL_CHANGE_IDENTITY_ERASED,
                              .primary = primary};
  if (!err && !(err = idl_ids_copy(&erased.absorbed, &rows)))
    err = idl_store_log(txn, &erased);
  idl_change_fini(&erased);
  idl_ids_fini(&rows);
  values_fini(&vs);
  return err;
}

/* The invariants of the collections' tables, driven by their descriptions:
 * every record decodes and its pk is below the table's next pk; every index
 * holds exactly the keys of the records (no entry missing, none stray);
 * unique indexes hold each key once; and every FK names an existing record.
 * Index keys are kept as 64-bit hashes with their pk, 16 bytes an
 * entry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idlink/check.h"
#include "record_internal.h"

struct entry {
  uint64_t hash;
  uint64_t pk;
};

struct table_check {
  struct idl_ids pks;                    /* ascending */
  struct entry *keys[IDL_MAX_INDEXES];   /* the records' keys, per index */
  size_t n_keys[IDL_MAX_INDEXES], cap_keys[IDL_MAX_INDEXES];
  unsigned char *seen[IDL_MAX_INDEXES];  /* per key: found in the index */
};

struct tables_check {
  struct idl_txn *txn;
  idl_violation_fn fn;
  void *arg;
  uint64_t *violations;
  struct table_check *t; /* one per collection */
  size_t current;
  uint64_t next_pk;
};

#define VIOLATION(c, ...) idl_report_finding((c)->fn, (c)->arg, (c)->violations, __VA_ARGS__)

/* The hash of a key as the index stores it (cut at the store's key limit). */
static uint64_t key_hash(struct idl_txn *txn, const void *key, size_t len) {
  size_t max = idl_store_max_key(idl_txn_store(txn));
  return idl_hash64(key, len < max ? len : max);
}

static int cmp_entry(const void *pa, const void *pb) {
  const struct entry *a = pa, *b = pb;
  if (a->hash != b->hash)
    return a->hash < b->hash ? -1 : 1;
  return (a->pk > b->pk) - (a->pk < b->pk);
}

#define ULL(x) ((unsigned long long)(x))

/* Pass one: every record decodes; its pk and keys are noted. */
static enum idl_err note_record(uint64_t pk, const void *data, size_t len, void *arg) {
  struct tables_check *c = arg;
  const struct idl_resource *res = idl_resources[c->current];
  struct table_check *t = &c->t[c->current];
  struct idl_record rec;
  if (idl_record_decode(res, pk, data, len, &rec)) {
    VIOLATION(c, "%s %llu: the record does not decode", res->singular, ULL(pk));
    return IDL_ERR_OK;
  }
  if (pk >= c->next_pk)
    VIOLATION(c, "%s %llu: pk is not below the next pk %llu", res->singular, ULL(pk),
              ULL(c->next_pk));
  enum idl_err err = idl_ids_push(&t->pks, pk);
  struct idl_keyset *ks = err ? NULL : malloc(sizeof(*ks));
  if (!err && !ks)
    err = IDL_ERR_NOMEM;
  if (!err)
    err = idl_record_keys(res, &rec, ks);
  for (size_t i = 0; !err && i < res->n_indexes; i++) {
    if (ks->key[i].null)
      continue;
    struct entry *v = idl_grow(t->keys[i], &t->cap_keys[i], t->n_keys[i], sizeof(*v));
    if (!v) {
      err = IDL_ERR_NOMEM;
      break;
    }
    t->keys[i] = v;
    v[t->n_keys[i]++] = (struct entry){key_hash(c->txn, ks->key[i].data, ks->key[i].len), pk};
  }
  free(ks);
  idl_record_fini(&rec);
  return err;
}

struct index_pass {
  struct tables_check *c;
  size_t index;
};

/* Pass two: each index entry is one of a record's keys. */
static enum idl_err check_entry(uint64_t pk, const void *key, size_t key_len, void *arg) {
  struct index_pass *p = arg;
  struct tables_check *c = p->c;
  const struct idl_resource *res = idl_resources[c->current];
  struct table_check *t = &c->t[c->current];
  struct entry want = {key_hash(c->txn, key, key_len), pk};
  struct entry *found = bsearch(&want, t->keys[p->index], t->n_keys[p->index],
                                sizeof(want), cmp_entry);
  if (!found)
    VIOLATION(c, "%s index %s: an entry for %s %llu matches no record's value", res->name,
              res->indexes[p->index].name, res->singular, ULL(pk));
  else
    t->seen[p->index][found - t->keys[p->index]] = 1;
  return IDL_ERR_OK;
}

static enum idl_err check_indexes(struct tables_check *c) {
  const struct idl_resource *res = idl_resources[c->current];
  struct table_check *t = &c->t[c->current];
  for (size_t i = 0; i < res->n_indexes; i++) {
    if (t->n_keys[i] > 1)
      qsort(t->keys[i], t->n_keys[i], sizeof(*t->keys[i]), cmp_entry);
    if (!(t->seen[i] = calloc(t->n_keys[i] ? t->n_keys[i] : 1, 1)))
      return IDL_ERR_NOMEM;
    struct index_pass p = {c, i};
    struct idl_range all = {0};
    enum idl_err err = idl_table_index_scan(c->txn, c->current, i, &all, check_entry, &p);
    if (err)
      return err;
    for (size_t k = 0; k < t->n_keys[i]; k++) {
      const struct entry *e = &t->keys[i][k];
      if (!t->seen[i][k])
        VIOLATION(c, "%s %llu: missing from index %s", res->singular, ULL(e->pk),
                  res->indexes[i].name);
      if (res->indexes[i].unique && k > 0 && t->keys[i][k - 1].hash == e->hash)
        VIOLATION(c, "%s %llu and %llu share their %s (it is unique)", res->name,
                  ULL(t->keys[i][k - 1].pk), ULL(e->pk), res->indexes[i].name);
    }
  }
  return IDL_ERR_OK;
}

static int has_fk(const struct idl_resource *res) {
  for (size_t i = 0; i < res->n_fields; i++)
    if (res->fields[i].type == IDL_F_FK)
      return 1;
  return 0;
}

/* Pass three: FKs resolve. */
static enum idl_err check_refs(uint64_t pk, const void *data, size_t len, void *arg) {
  struct tables_check *c = arg;
  const struct idl_resource *res = idl_resources[c->current];
  struct idl_record rec;
  if (idl_record_decode(res, pk, data, len, &rec))
    return IDL_ERR_OK; /* reported by pass one */
  for (size_t i = 0; i < res->n_fields; i++) {
    const struct idl_field *f = &res->fields[i];
    const struct idl_resource *target = f->type == IDL_F_FK ? idl_resource_find(f->fk) : NULL;
    if (!target || rec.v[i].null)
      continue;
    const struct idl_ids *pks = &c->t[idl_resource_table(target)].pks;
    uint64_t want = (uint64_t)rec.v[i].i;
    if (!bsearch(&want, pks->v, pks->n, sizeof(*pks->v), idl_cmp_leading_id))
      VIOLATION(c, "%s %llu: %s %llu does not exist", res->singular, ULL(pk), f->name,
                ULL(want));
  }
  idl_record_fini(&rec);
  return IDL_ERR_OK;
}

static void tables_free(struct tables_check *c) {
  for (size_t t = 0; c->t && t < idl_n_resources; t++) {
    idl_ids_fini(&c->t[t].pks);
    for (size_t i = 0; i < IDL_MAX_INDEXES; i++) {
      free(c->t[t].keys[i]);
      free(c->t[t].seen[i]);
    }
  }
  free(c->t);
}

enum idl_err idl_check_tables(struct idl_txn *txn, idl_violation_fn fn, void *arg,
                              uint64_t *records, uint64_t *violations) {
  struct tables_check c = {.txn = txn, .fn = fn, .arg = arg, .violations = violations};
  enum idl_err err = (c.t = calloc(idl_n_resources, sizeof(*c.t))) ? IDL_ERR_OK
                                                                     : IDL_ERR_NOMEM;
  *records = 0;
  for (size_t t = 0; !err && t < idl_n_resources; t++) {
    c.current = t;
    if (!(err = idl_table_peek_pk(txn, t, &c.next_pk)))
      err = idl_table_scan(txn, t, 1, 0, note_record, &c);
    if (!err)
      err = check_indexes(&c);
    *records += c.t[t].pks.n;
  }
  for (size_t t = 0; !err && t < idl_n_resources; t++) {
    c.current = t;
    if (has_fk(idl_resources[t])) /* a table without FKs has nothing to resolve */
      err = idl_table_scan(txn, t, 1, 0, check_refs, &c);
  }
  tables_free(&c);
  return err;
}

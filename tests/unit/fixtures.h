/* Helpers shared by the unit tests: requests, planted rows, reconciling in a
 * write transaction of the test's own. */
#ifndef IDLINK_TEST_FIXTURES_H
#define IDLINK_TEST_FIXTURES_H

#include "idlink/identity.h"
#include "test.h"

static inline struct idl_request req_of(const char *email, const char *phone) {
  struct idl_request r;
  memset(&r, 0, sizeof(r));
  snprintf(r.email, sizeof(r.email), "%s", email ? email : "");
  snprintf(r.phone, sizeof(r.phone), "%s", phone ? phone : "");
  return r;
}

/* What reconciling answered: the outcome and the consolidated identity
 * (loaded unless needs_write; free with idl_identity_fini). */
struct test_outcome {
  int needs_write;
  uint64_t created_id;
  size_t absorbed;
  struct idl_identity identity;
};

/* Reconciles (email, phone) at time now in a transaction of its own, and
 * loads the identity as the answer shows it. */
static inline enum idl_err reconcile_at(struct idl_store *s, const char *email,
                                        const char *phone, int64_t now,
                                        enum idl_reconcile_mode mode,
                                        struct test_outcome *out) {
  struct idl_request r = req_of(email, phone);
  struct idl_outcome o;
  struct idl_txn *txn;
  memset(out, 0, sizeof(*out));
  enum idl_err err = mode == IDL_RECONCILE_WRITE ? idl_txn_begin_write(s, NULL, &txn)
                                                 : idl_txn_begin_read(s, &txn);
  if (err)
    return err;
  err = idl_identity_reconcile(txn, &r, now, mode, &o);
  if (!err && !o.needs_write)
    err = idl_identity_of_contact(txn, o.primary, &out->identity);
  if (err || mode == IDL_RECONCILE_READ)
    idl_txn_abort(txn);
  else
    err = idl_txn_commit(txn);
  if (err)
    idl_identity_fini(&out->identity);
  out->needs_write = o.needs_write;
  out->created_id = o.created_id;
  out->absorbed = o.absorbed;
  return err;
}

/* Writes a row as it is, ids and links included, and moves next id past it. */
static inline enum idl_err plant(struct idl_store *s, uint64_t id, const char *email,
                                 const char *phone, uint64_t linked, int64_t created) {
  struct idl_contact c = {.id = id, .linked_id = linked,
                          .precedence = linked ? IDL_SECONDARY : IDL_PRIMARY,
                          .created_ms = created, .updated_ms = created,
                          .deleted_ms = IDL_TIME_NULL};
  snprintf(c.email, sizeof(c.email), "%s", email ? email : "");
  snprintf(c.phone, sizeof(c.phone), "%s", phone ? phone : "");
  struct idl_txn *txn;
  enum idl_err err = idl_txn_begin_write(s, NULL, &txn);
  if (err)
    return err;
  err = idl_store_put(txn, &c, NULL);
  uint64_t next = 0;
  while (!err && next < id)
    err = idl_store_new_id(txn, &next);
  if (err) {
    idl_txn_abort(txn);
    return err;
  }
  return idl_txn_commit(txn);
}

static inline enum idl_err get_contact(struct idl_store *s, uint64_t id,
                                       struct idl_contact *out) {
  struct idl_txn *txn;
  enum idl_err err = idl_txn_begin_read(s, &txn);
  if (!err)
    err = idl_store_get(txn, id, out);
  idl_txn_abort(txn);
  return err;
}

/* Joins the identity's distinct emails (or phones) with ',' into buf. */
static inline const char *joined(const struct idl_identity *ident, enum idl_index which,
                                 char *buf, size_t size) {
  const char **v;
  size_t n, used = 0;
  buf[0] = '\0';
  if (idl_identity_values(ident, which, &v, &n))
    return "(no memory)";
  for (size_t i = 0; i < n; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? "," : "", v[i]);
  free(v);
  return buf;
}

static inline const char *joined_secondaries(const struct idl_identity *ident, char *buf,
                                             size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 1; i < ident->n; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%llu", i > 1 ? "," : "",
                             (unsigned long long)ident->c[i].id);
  return buf;
}

#endif

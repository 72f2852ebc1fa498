/* Bridges as a table of the resource layer: stored, indexed by their email
 * and by their phone, dumped and checked like any collection's records, and
 * offered by no route. */
#include <stdlib.h>

#include "idlink/bridge.h"
#include "res_internal.h"

enum { BRIDGE_PK, BRIDGE_EMAIL, BRIDGE_PHONE, BRIDGE_AT, BRIDGE_LEGACY };
enum { IX_EMAIL, IX_PHONE };

static const struct idl_field fields[] = {
    [BRIDGE_PK] = {"pk", IDL_F_PK, IDL_FF_READ_ONLY, 0, -1},
    [BRIDGE_EMAIL] = {"email", IDL_F_STR, IDL_FF_REQUIRED | IDL_FF_PERSONAL, 0, IX_EMAIL,
                      .max = IDL_EMAIL_MAX_CHARS},
    [BRIDGE_PHONE] = {"phoneNumber", IDL_F_STR, IDL_FF_REQUIRED | IDL_FF_PERSONAL, 0, IX_PHONE,
                      .max = IDL_PHONE_MAX_BYTES},
    [BRIDGE_AT] = {"at", IDL_F_TIME, IDL_FF_REQUIRED, 0, -1},
    [BRIDGE_LEGACY] = {"legacy", IDL_F_BOOL, 0, 0, -1, .def = "false"},
};

static const struct idl_index_def indexes[] = {
    [IX_EMAIL] = {"email", {BRIDGE_EMAIL, -1}, 0},
    [IX_PHONE] = {"phoneNumber", {BRIDGE_PHONE, -1}, 0},
};

const struct idl_resource idl_bridges = {
    .name = "bridges",
    .singular = "bridge",
    .fields = fields,
    .n_fields = sizeof(fields) / sizeof(fields[0]),
    .indexes = indexes,
    .n_indexes = sizeof(indexes) / sizeof(indexes[0]),
    .ops = 0, /* the contact graph's own: no route */
    .unlogged = 1,
};

enum idl_err idl_bridge_add(struct idl_txn *txn, const char *email, const char *phone,
                            int64_t at_ms, int legacy) {
  struct idl_record rec;
  enum idl_err err = idl_record_init(&rec, &idl_bridges);
  if (err)
    return err;
  err = idl_record_set_str(&rec, BRIDGE_EMAIL, email, strlen(email));
  if (!err)
    err = idl_record_set_str(&rec, BRIDGE_PHONE, phone, strlen(phone));
  idl_record_set_int(&rec, BRIDGE_AT, at_ms * 1000);
  idl_record_set_int(&rec, BRIDGE_LEGACY, legacy);
  if (!err)
    err = idl_record_put(txn, &idl_bridges, &rec, NULL);
  idl_record_fini(&rec);
  return err;
}

enum idl_err idl_bridges_with(struct idl_txn *txn, enum idl_index which, const char *value,
                              idl_bridge_fn fn, void *arg) {
  size_t field = which == IDL_INDEX_EMAIL ? BRIDGE_EMAIL : BRIDGE_PHONE;
  struct idl_ids pks = {0};
  enum idl_err err = idl_record_pks_by_text(txn, &idl_bridges, field, value, &pks);
  for (size_t i = 0; !err && i < pks.n; i++) {
    struct idl_record rec;
    if ((err = idl_record_get(txn, &idl_bridges, pks.v[i], &rec)))
      break;
    struct idl_bridge b = {rec.pk, rec.v[BRIDGE_EMAIL].s, rec.v[BRIDGE_PHONE].s,
                           rec.v[BRIDGE_AT].i / 1000, (int)rec.v[BRIDGE_LEGACY].i};
    err = fn(&b, arg);
    idl_record_fini(&rec);
  }
  idl_ids_fini(&pks);
  return err == IDL_ERR_STOP ? IDL_ERR_OK : err;
}

struct each_bridge {
  idl_bridge_fn fn;
  void *arg;
};

static enum idl_err each_bridge(uint64_t pk, const void *data, size_t len, void *arg) {
  struct each_bridge *x = arg;
  struct idl_record rec;
  enum idl_err err = idl_record_decode(&idl_bridges, pk, data, len, &rec);
  if (err)
    return err;
  struct idl_bridge b = {rec.pk, rec.v[BRIDGE_EMAIL].s, rec.v[BRIDGE_PHONE].s,
                         rec.v[BRIDGE_AT].i / 1000, (int)rec.v[BRIDGE_LEGACY].i};
  err = x->fn(&b, x->arg);
  idl_record_fini(&rec);
  return err;
}

enum idl_err idl_bridges_each(struct idl_txn *txn, idl_bridge_fn fn, void *arg) {
  struct each_bridge x = {fn, arg};
  return idl_table_scan(txn, idl_resource_table(&idl_bridges), 1, 0, each_bridge, &x);
}

enum idl_err idl_bridge_delete(struct idl_txn *txn, uint64_t pk) {
  struct idl_record rec;
  enum idl_err err = idl_record_get(txn, &idl_bridges, pk, &rec);
  if (!err)
    err = idl_record_delete(txn, &idl_bridges, &rec);
  idl_record_fini(&rec);
  return err;
}

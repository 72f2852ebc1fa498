/* Conflicts as a table of the resource layer: listed in section 7's paged
 * form by GET /conflicts, dumped and checked like any collection's records,
 * and kept out of the change log. */
#include <stdio.h>
#include <stdlib.h>

#include "idlink/conflict.h"
#include "res_internal.h"

enum { CONFLICT_ID, CONFLICT_AT, CONFLICT_PRIMARIES, CONFLICT_REASON };
enum { IX_AT };

static const struct idl_field fields[] = {
    [CONFLICT_ID] = {"id", IDL_F_PK, IDL_FF_READ_ONLY | IDL_FF_ORDERABLE,
                     IDL_L_EXACT | IDL_L_RANGE | IDL_L_IN, -1},
    [CONFLICT_AT] = {"at", IDL_F_TIME, IDL_FF_REQUIRED | IDL_FF_ORDERABLE, IDL_L_RANGE, IX_AT},
    [CONFLICT_PRIMARIES] = {"primaries", IDL_F_JSON, IDL_FF_REQUIRED | IDL_FF_ARRAY, 0, -1},
    [CONFLICT_REASON] = {"reason", IDL_F_STR, IDL_FF_REQUIRED, 0, -1, .max = 200},
};

static const struct idl_index_def indexes[] = {
    [IX_AT] = {"at", {CONFLICT_AT, -1}, 0},
};

const struct idl_resource idl_conflicts = {
    .name = "conflicts",
    .singular = "conflict",
    .fields = fields,
    .n_fields = sizeof(fields) / sizeof(fields[0]),
    .indexes = indexes,
    .n_indexes = sizeof(indexes) / sizeof(indexes[0]),
    .ops = IDL_OP_LIST,
    .unlogged = 1,
};

enum idl_err idl_conflict_add(struct idl_txn *txn, int64_t at_ms,
                              const struct idl_ids *primaries, const char *reason) {
  struct idl_record rec;
  enum idl_err err = idl_record_init(&rec, &idl_conflicts);
  if (err)
    return err;
  /* [p1,p2,...]: at most 21 bytes an id */
  char *list = malloc(primaries->n * 21 + 3), *at = list;
  if (!list) {
    idl_record_fini(&rec);
    return IDL_ERR_NOMEM;
  }
  at += sprintf(at, "[");
  for (size_t i = 0; i < primaries->n; i++)
    at += sprintf(at, "%s%llu", i ? "," : "", (unsigned long long)primaries->v[i]);
  at += sprintf(at, "]");
  idl_record_set_int(&rec, CONFLICT_AT, at_ms * 1000);
  err = idl_record_set_str(&rec, CONFLICT_PRIMARIES, list, (size_t)(at - list));
  if (!err)
    err = idl_record_set_str(&rec, CONFLICT_REASON, reason, strlen(reason));
  if (!err)
    err = idl_record_put(txn, &idl_conflicts, &rec, NULL);
  free(list);
  idl_record_fini(&rec);
  return err;
}

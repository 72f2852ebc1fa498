/* Products (SPEC section 9, seed 003's CRM): a product a customer bought,
 * with its warranty. Assigning, unassigning and transferring a product is a
 * PATCH of `customer`; DELETE /api/v1/products/?customer=5 deletes that
 * customer's products. */
#include <stdlib.h>

#include "res_internal.h"

enum { PRODUCT_PK, PRODUCT_NAME, PRODUCT_PRICE, PRODUCT_PURCHASED, PRODUCT_WARRANTY,
       PRODUCT_CUSTOMER, PRODUCT_CREATED, PRODUCT_MODIFIED };
enum { IX_NAME, IX_CUSTOMER, IX_PURCHASED };

static const struct idl_field fields[] = {
    [PRODUCT_PK] = {"pk", IDL_F_PK, IDL_FF_READ_ONLY | IDL_FF_ORDERABLE,
                    IDL_L_EXACT | IDL_L_RANGE | IDL_L_IN, -1, .alias = "id"},
    [PRODUCT_NAME] = {"name", IDL_F_STR, IDL_FF_REQUIRED | IDL_FF_ORDERABLE,
                      IDL_L_EXACT | IDL_L_STARTSWITH, IX_NAME, .max = 200},
    [PRODUCT_PRICE] = {"price", IDL_F_MONEY, IDL_FF_REQUIRED | IDL_FF_ORDERABLE, 0, -1},
    [PRODUCT_PURCHASED] = {"purchased", IDL_F_DATE, IDL_FF_REQUIRED | IDL_FF_ORDERABLE,
                           IDL_L_EXACT | IDL_L_RANGE, IX_PURCHASED},
    [PRODUCT_WARRANTY] = {"warranty", IDL_F_INT, IDL_FF_REQUIRED, 0, -1, .min = 0, .max = 600},
    [PRODUCT_CUSTOMER] = {"customer", IDL_F_FK, IDL_FF_NULLABLE, IDL_L_EXACT | IDL_L_ISNULL,
                          IX_CUSTOMER, .fk = "customers"},
    [PRODUCT_CREATED] = {"created_date", IDL_F_TIME, IDL_FF_READ_ONLY | IDL_FF_NOW | IDL_FF_ORDERABLE,
                         0, -1},
    [PRODUCT_MODIFIED] = {"modified_date", IDL_F_TIME, IDL_FF_READ_ONLY | IDL_FF_NOW_ALWAYS, 0, -1},
};

static const struct idl_index_def indexes[] = {
    [IX_NAME] = {"name", {PRODUCT_NAME, -1}, 0},
    [IX_CUSTOMER] = {"customer", {PRODUCT_CUSTOMER, -1}, 0},
    [IX_PURCHASED] = {"purchased", {PRODUCT_PURCHASED, -1}, 0},
};

const struct idl_resource idl_products = {
    .name = "products",
    .singular = "product",
    .fields = fields,
    .n_fields = sizeof(fields) / sizeof(fields[0]),
    .indexes = indexes,
    .n_indexes = sizeof(indexes) / sizeof(indexes[0]),
    .ops = IDL_OP_LIST | IDL_OP_CREATE | IDL_OP_RETRIEVE | IDL_OP_UPDATE | IDL_OP_DELETE |
           IDL_OP_EXPORT,
    .delete_by = "customer",
};

enum idl_err idl_product_find(struct idl_txn *txn, const char *name, int64_t purchased,
                              uint64_t *pk) {
  struct idl_ids pks = {0};
  enum idl_err err = idl_record_pks_by_text(txn, &idl_products, PRODUCT_NAME, name, &pks);
  *pk = 0;
  for (size_t i = 0; !err && !*pk && i < pks.n; i++) { /* pk order: the oldest first */
    struct idl_record rec;
    if (!(err = idl_record_get(txn, &idl_products, pks.v[i], &rec))) {
      if (!rec.v[PRODUCT_PURCHASED].null && rec.v[PRODUCT_PURCHASED].i == purchased)
        *pk = rec.pk;
      idl_record_fini(&rec);
    }
  }
  free(pks.v);
  return err;
}

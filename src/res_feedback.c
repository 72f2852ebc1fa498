/* Feedback (SPEC section 9): a customer's word on the brand or on a product.
 * Created, listed, shown and deleted; never updated. It goes with its
 * customer, and with its product. */
#include "res_internal.h"

enum { FEEDBACK_PK, FEEDBACK_KIND, FEEDBACK_CUSTOMER, FEEDBACK_PRODUCT, FEEDBACK_HEADING,
       FEEDBACK_BODY, FEEDBACK_CREATED, FEEDBACK_MODIFIED };
enum { IX_KIND, IX_CUSTOMER, IX_PRODUCT };

static const char *const kinds[] = {"brand", "product", NULL};

static const struct idl_field fields[] = {
    [FEEDBACK_PK] = {"pk", IDL_F_PK, IDL_FF_READ_ONLY | IDL_FF_ORDERABLE,
                     IDL_L_EXACT | IDL_L_RANGE | IDL_L_IN, -1, .alias = "id"},
    [FEEDBACK_KIND] = {"kind", IDL_F_ENUM, IDL_FF_REQUIRED, IDL_L_EXACT, IX_KIND,
                       .choices = kinds},
    [FEEDBACK_CUSTOMER] = {"customer", IDL_F_FK, IDL_FF_REQUIRED | IDL_FF_CASCADE, IDL_L_EXACT,
                           IX_CUSTOMER, .fk = "customers"},
    [FEEDBACK_PRODUCT] = {"product", IDL_F_FK, IDL_FF_NULLABLE | IDL_FF_CASCADE, IDL_L_EXACT,
                          IX_PRODUCT, .fk = "products"},
    [FEEDBACK_HEADING] = {"heading", IDL_F_STR, IDL_FF_REQUIRED | IDL_FF_PERSONAL, 0, -1,
                          .max = 200},
    [FEEDBACK_BODY] = {"body", IDL_F_STR, IDL_FF_REQUIRED | IDL_FF_PERSONAL, 0, -1, .max = 10000},
    [FEEDBACK_CREATED] = {"created_date", IDL_F_TIME, IDL_FF_READ_ONLY | IDL_FF_NOW | IDL_FF_ORDERABLE,
                          0, -1},
    [FEEDBACK_MODIFIED] = {"modified_date", IDL_F_TIME, IDL_FF_READ_ONLY | IDL_FF_NOW_ALWAYS, 0, -1},
};

static const struct idl_index_def indexes[] = {
    [IX_KIND] = {"kind", {FEEDBACK_KIND, -1}, 0},
    [IX_CUSTOMER] = {"customer", {FEEDBACK_CUSTOMER, -1}, 0},
    [IX_PRODUCT] = {"product", {FEEDBACK_PRODUCT, -1}, 0},
};

/* Product feedback names its product; brand feedback none. */
static enum idl_err validate(struct idl_txn *txn, const struct idl_record *rec,
                             const struct idl_record *old, struct idl_errors *e) {
  (void)txn;
  (void)old;
  int brand = !strcmp(rec->v[FEEDBACK_KIND].s, "brand");
  if (brand && !rec->v[FEEDBACK_PRODUCT].null)
    idl_errors_add(e, "product", "Brand feedback takes no product.");
  else if (!brand && rec->v[FEEDBACK_PRODUCT].null)
    idl_errors_add(e, "product", "This field is required.");
  return IDL_ERR_OK;
}

static const struct idl_hooks hooks = {.validate = validate};

const struct idl_resource idl_feedback = {
    .name = "feedback",
    .singular = "feedback",
    .fields = fields,
    .n_fields = sizeof(fields) / sizeof(fields[0]),
    .indexes = indexes,
    .n_indexes = sizeof(indexes) / sizeof(indexes[0]),
    .ops = IDL_OP_LIST | IDL_OP_CREATE | IDL_OP_RETRIEVE | IDL_OP_DELETE | IDL_OP_EXPORT,
    .hooks = &hooks,
};

/* Customers (SPEC section 8, seed 004's Omnitron API): a person as one sales
 * channel knows them. The table below is the whole description; the hooks
 * add the channel rule, the unique (channel, channel_code) set, and the
 * reconciliation of every customer's email and phone into the contact graph. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idlink/identity.h"
#include "record_internal.h"
#include "res_internal.h"

static const char *const genders[] = {"male", "female", NULL};
static const char *const user_types[] = {"registered", "guest", NULL};

#define TIME_LOOKUPS (IDL_L_EXACT | IDL_L_RANGE | IDL_L_DATE)
#define ID_LOOKUPS (IDL_L_EXACT | IDL_L_RANGE | IDL_L_IN)

enum { IX_EMAIL, IX_PHONE, IX_CHANNEL, IX_CHANNEL_CODE, IX_CREATED, IX_MODIFIED };

static enum idl_err select_identity(struct idl_txn *txn, const char *value,
                                    struct idl_ids *pks);

static const struct idl_field fields[] = {
    [CUSTOMER_PK] = {"pk", IDL_F_PK, IDL_FF_READ_ONLY | IDL_FF_ORDERABLE, ID_LOOKUPS, -1,
                     .alias = "id"},
    [CUSTOMER_CHANNEL] = {"channel", IDL_F_INT, IDL_FF_REQUIRED | IDL_FF_FIXED | IDL_FF_PUT_REQUIRED,
                          IDL_L_EXACT, IX_CHANNEL, .min = 1, .max = INT32_MAX},
    [CUSTOMER_EMAIL] = {"email", IDL_F_EMAIL,
                        IDL_FF_REQUIRED | IDL_FF_PUT_REQUIRED | IDL_FF_ORDERABLE | IDL_FF_PERSONAL,
                        IDL_L_EXACT | IDL_L_STARTSWITH, IX_EMAIL},
    [CUSTOMER_FIRST_NAME] = {"first_name", IDL_F_STR, IDL_FF_BLANK | IDL_FF_PERSONAL, IDL_L_EXACT,
                             -1, .max = 150, .def = "\"\""},
    [CUSTOMER_LAST_NAME] = {"last_name", IDL_F_STR, IDL_FF_BLANK | IDL_FF_PERSONAL, IDL_L_EXACT,
                            -1, .max = 150, .def = "\"\""},
    [CUSTOMER_PHONE] = {"phone_number", IDL_F_PHONE, IDL_FF_NULLABLE | IDL_FF_PERSONAL,
                        IDL_L_EXACT, IX_PHONE},
    [CUSTOMER_IS_ACTIVE] = {"is_active", IDL_F_BOOL, 0, IDL_L_EXACT, -1, .def = "true"},
    [CUSTOMER_CHANNEL_CODE] = {"channel_code", IDL_F_STR, IDL_FF_REQUIRED | IDL_FF_PUT_REQUIRED,
                               IDL_L_EXACT, IX_CHANNEL_CODE, .max = 64},
    [CUSTOMER_ERP_CODE] = {"erp_code", IDL_F_STR, IDL_FF_NULLABLE | IDL_FF_BLANK, IDL_L_EXACT, -1,
                           .max = 64},
    [CUSTOMER_EXTRA_FIELD] = {"extra_field", IDL_F_JSON, IDL_FF_PUT_REQUIRED | IDL_FF_PERSONAL,
                              IDL_L_KEY, -1, .def = "{}"},
    [CUSTOMER_MODIFIED] = {"modified_date", IDL_F_TIME,
                           IDL_FF_READ_ONLY | IDL_FF_NOW_ALWAYS | IDL_FF_ORDERABLE, TIME_LOOKUPS,
                           IX_MODIFIED},
    [CUSTOMER_CREATED] = {"created_date", IDL_F_TIME, IDL_FF_READ_ONLY | IDL_FF_NOW | IDL_FF_ORDERABLE,
                          TIME_LOOKUPS, IX_CREATED},
    [CUSTOMER_DATE_JOINED] = {"date_joined", IDL_F_TIME, IDL_FF_NULLABLE, IDL_L_EXACT, -1},
    [CUSTOMER_EMAIL_ALLOWED] = {"email_allowed", IDL_F_BOOL, 0, IDL_L_EXACT, -1, .def = "false"},
    [CUSTOMER_SMS_ALLOWED] = {"sms_allowed", IDL_F_BOOL, 0, IDL_L_EXACT, -1, .def = "false"},
    [CUSTOMER_CALL_ALLOWED] = {"call_allowed", IDL_F_BOOL, 0, IDL_L_EXACT, -1, .def = "false"},
    [CUSTOMER_GENDER] = {"gender", IDL_F_ENUM, IDL_FF_NULLABLE, IDL_L_EXACT, -1,
                         .choices = genders},
    [CUSTOMER_ATTRIBUTES] = {"attributes", IDL_F_JSON, IDL_FF_PERSONAL, IDL_L_KEY, -1, .def = "{}"},
    [CUSTOMER_USER_TYPE] = {"user_type", IDL_F_ENUM, IDL_FF_NULLABLE, IDL_L_EXACT, -1,
                            .choices = user_types},
    [CUSTOMER_DATE_OF_BIRTH] = {"date_of_birth", IDL_F_DATE, IDL_FF_NULLABLE | IDL_FF_PERSONAL,
                                IDL_L_EXACT, -1},
    [CUSTOMER_ATTRIBUTES_KWARGS] = {"attributes_kwargs", IDL_F_JSON, IDL_FF_PERSONAL, 0, -1,
                                    .def = "{}"},
    [CUSTOMER_LOCALIZED] = {"localized_attributes", IDL_F_JSON, IDL_FF_PERSONAL, 0, -1,
                            .def = "{}"},
    [CUSTOMER_LOCALIZED_KWARGS] = {"localized_attributes_kwargs", IDL_F_JSON, IDL_FF_PERSONAL, 0,
                                   -1, .def = "{}"},
    [CUSTOMER_IDENTITY] = {"identity", IDL_F_INT, IDL_FF_COMPUTED | IDL_FF_READ_ONLY | IDL_FF_NULLABLE,
                           IDL_L_EXACT, -1, .select = select_identity},
    /* Hidden: a contact holding the email when the customer was last
     * reconciled, a shortcut to its identity checked on every read;
     * cleared when the customer is erased. */
    [CUSTOMER_CONTACT] = {"contact", IDL_F_INT,
                          IDL_FF_READ_ONLY | IDL_FF_NULLABLE | IDL_FF_PERSONAL, 0, -1},
};

static const struct idl_index_def indexes[] = {
    [IX_EMAIL] = {"email", {CUSTOMER_EMAIL, -1}, 0},
    [IX_PHONE] = {"phone_number", {CUSTOMER_PHONE, -1}, 0},
    [IX_CHANNEL] = {"channel", {CUSTOMER_CHANNEL, -1}, 0},
    [IX_CHANNEL_CODE] = {"channel+channel_code", {CUSTOMER_CHANNEL, CUSTOMER_CHANNEL_CODE}, 1},
    [IX_CREATED] = {"created_date", {CUSTOMER_CREATED, -1}, 0},
    [IX_MODIFIED] = {"modified_date", {CUSTOMER_MODIFIED, -1}, 0},
};

/* ----------------------------------------------------------------- hooks */

/* Seed 004's own answer to a change of channel, exactly. */
static const char CHANNEL_FIXED[] =
    "{\"non_field_errors\":\"channel:channel_name These field cannot be updated\","
    "\"error_code\":\"customer_100_3\"}";

enum idl_err idl_customer_find_code(struct idl_txn *txn, int64_t channel, const char *code,
                                    uint64_t except, uint64_t *pk) {
  struct idl_record probe;
  struct idl_keyset *ks = malloc(sizeof(*ks));
  enum idl_err err = ks ? idl_record_init(&probe, &idl_customers) : IDL_ERR_NOMEM;
  if (!err) {
    idl_record_set_int(&probe, CUSTOMER_CHANNEL, channel);
    err = idl_record_set_str(&probe, CUSTOMER_CHANNEL_CODE, code, strlen(code));
    if (!err)
      err = idl_record_keys(&idl_customers, &probe, ks);
    if (!err)
      err = idl_record_find(txn, &idl_customers, IX_CHANNEL_CODE, &ks->key[IX_CHANNEL_CODE],
                            except, pk);
    idl_record_fini(&probe);
  }
  free(ks);
  return err;
}

static enum idl_err validate(struct idl_txn *txn, const struct idl_record *rec,
                             const struct idl_record *old, struct idl_errors *e) {
  if (old && rec->v[CUSTOMER_CHANNEL].i != old->v[CUSTOMER_CHANNEL].i) {
    idl_errors_set(e, 406, CHANNEL_FIXED);
    return IDL_ERR_OK;
  }
  uint64_t other = 0;
  enum idl_err err = idl_customer_find_code(txn, rec->v[CUSTOMER_CHANNEL].i,
                                            rec->v[CUSTOMER_CHANNEL_CODE].s, rec->pk, &other);
  if (!err && other)
    idl_errors_add(e, "non_field_errors",
                   "The fields channel, channel_code must make a unique set.");
  return err;
}

/* Reconciles rec's email and phone as POST /identify would. *holder: a
 * contact holding rec's email afterwards, 0 when none does (no email, or one
 * the contact graph does not index). */
static enum idl_err reconcile(struct idl_txn *txn, const struct idl_record *rec,
                              uint64_t *holder) {
  struct idl_request req;
  memset(&req, 0, sizeof(req));
  *holder = 0;
  const struct idl_value *email = &rec->v[CUSTOMER_EMAIL], *phone = &rec->v[CUSTOMER_PHONE];
  if (!email->null && email->len < sizeof(req.email))
    memcpy(req.email, email->s, email->len + 1);
  if (!phone->null && phone->len < sizeof(req.phone))
    memcpy(req.phone, phone->s, phone->len + 1);
  if (!*req.email && !*req.phone)
    return IDL_ERR_OK;
  struct idl_outcome out;
  enum idl_err err = idl_identity_reconcile(txn, &req, idl_now_ms(), IDL_RECONCILE_WRITE, &out);
  /* A contact the email already had holds it still; else a new contact
   * holds both values. */
  if (!err && *req.email)
    *holder = out.email_holder ? out.email_holder : out.created_id;
  return err;
}

enum idl_err idl_customer_reconcile(struct idl_txn *txn, const struct idl_record *rec) {
  uint64_t holder;
  return reconcile(txn, rec, &holder);
}

/* The contact graph knows every customer's email and phone: a new customer,
 * or a new email or phone, is reconciled as POST /identify would. The
 * customer keeps a contact holding its email (its hidden field), so that
 * showing its identity reads that contact instead of looking the email up. */
static enum idl_err storing(struct idl_txn *txn, struct idl_record *rec,
                            const struct idl_record *old) {
  if (old && idl_value_equal(&rec->v[CUSTOMER_EMAIL], &old->v[CUSTOMER_EMAIL]) &&
      idl_value_equal(&rec->v[CUSTOMER_PHONE], &old->v[CUSTOMER_PHONE]))
    return IDL_ERR_OK;
  uint64_t holder;
  enum idl_err err = reconcile(txn, rec, &holder);
  if (!err && holder)
    idl_record_set_int(rec, CUSTOMER_CONTACT, (int64_t)holder);
  else if (!err)
    idl_value_clear(&rec->v[CUSTOMER_CONTACT]);
  return err;
}

/* The primary of the identity of the contact rec keeps, when that contact
 * still holds rec's email where the email index finds it: not deleted, the
 * same email, not blocked. Every holder of a value belongs to one identity,
 * so this is the identity the email names. IDL_ERR_NOTFOUND otherwise. */
static enum idl_err kept_contact_identity(struct idl_txn *txn, const struct idl_record *rec,
                                          uint64_t *primary) {
  const struct idl_value *email = &rec->v[CUSTOMER_EMAIL], *kept = &rec->v[CUSTOMER_CONTACT];
  if (kept->null || email->null)
    return IDL_ERR_NOTFOUND;
  struct idl_contact c;
  enum idl_err err = idl_store_get(txn, (uint64_t)kept->i, &c);
  if (err)
    return err;
  if (c.deleted_ms != IDL_TIME_NULL || strcmp(c.email, email->s) != 0 ||
      idl_store_blocked(idl_txn_store(txn), IDL_INDEX_EMAIL, email->s))
    return IDL_ERR_NOTFOUND;
  *primary = idl_contact_primary(&c);
  return IDL_ERR_OK;
}

/* The primary of the identity holding the customer's email, else its phone. */
static enum idl_err compute(struct idl_txn *txn, struct idl_record *rec) {
  struct idl_request req;
  uint64_t primary = 0;
  const struct idl_value *values[] = {&rec->v[CUSTOMER_EMAIL], &rec->v[CUSTOMER_PHONE]};
  enum idl_err err = kept_contact_identity(txn, rec, &primary);
  for (int i = 0; i < 2 && err == IDL_ERR_NOTFOUND; i++) {
    memset(&req, 0, sizeof(req));
    const struct idl_value *v = values[i];
    if (v->null || v->len >= sizeof(req.email))
      continue;
    memcpy(i == 0 ? req.email : req.phone, v->s, v->len + 1);
    err = idl_identity_lookup(txn, &req, &primary);
  }
  if (err == IDL_ERR_NOTFOUND) {
    idl_value_clear(&rec->v[CUSTOMER_IDENTITY]);
    return IDL_ERR_OK;
  }
  if (!err)
    idl_record_set_int(rec, CUSTOMER_IDENTITY, (int64_t)primary);
  return err;
}

/* Adds the customers whose field holds value exactly. */
static enum idl_err customers_with(struct idl_txn *txn, size_t field, const char *value,
                                   struct idl_ids *pks) {
  return idl_record_pks_by_text(txn, &idl_customers, field, value, pks);
}

enum idl_err idl_customers_holding(struct idl_txn *txn, enum idl_index which, const char *value,
                                   struct idl_ids *pks) {
  return customers_with(txn, which == IDL_INDEX_EMAIL ? CUSTOMER_EMAIL : CUSTOMER_PHONE, value, pks);
}

static int cmp_text(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Adds the customers whose field holds one of the n values v (sorted here),
 * each distinct value looked up once. */
static enum idl_err customers_with_any(struct idl_txn *txn, size_t field, const char **v, size_t n,
                                       struct idl_ids *pks) {
  qsort(v, n, sizeof(*v), cmp_text);
  enum idl_err err = IDL_ERR_OK;
  for (size_t i = 0; i < n && !err; i++)
    if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
      err = customers_with(txn, field, v[i], pks);
  return err;
}

enum idl_err idl_customers_of_identity(struct idl_txn *txn, uint64_t contact,
                                       struct idl_ids *pks) {
  struct idl_identity ident = {0};
  enum idl_err err = idl_identity_of_contact(txn, contact, &ident);
  if (err == IDL_ERR_NOTFOUND)
    return IDL_ERR_OK;
  /* The live contacts' emails, then their phones: contacts of one identity
   * often share a phone (or an email), which is read once. */
  const char **v = err ? NULL : malloc(2 * (ident.n ? ident.n : 1) * sizeof(*v));
  size_t emails = 0, phones = 0;
  if (!err && !v)
    err = IDL_ERR_NOMEM;
  for (size_t i = 0; !err && i < ident.n; i++) {
    const struct idl_contact *c = &ident.c[i];
    if (c->deleted_ms != IDL_TIME_NULL)
      continue;
    if (*c->email)
      v[emails++] = c->email;
    if (*c->phone)
      v[ident.n + phones++] = c->phone;
  }
  if (!err)
    err = customers_with_any(txn, CUSTOMER_EMAIL, v, emails, pks);
  if (!err)
    err = customers_with_any(txn, CUSTOMER_PHONE, v + ident.n, phones, pks);
  if (!err)
    idl_ids_sort_unique(pks);
  free(v);
  idl_identity_fini(&ident);
  return err;
}

static enum idl_err select_identity(struct idl_txn *txn, const char *value,
                                    struct idl_ids *pks) {
  char *end;
  unsigned long long id = strtoull(value, &end, 10);
  return *end || !id ? IDL_ERR_OK : idl_customers_of_identity(txn, id, pks);
}

static enum idl_err deleting(struct idl_txn *txn, const struct idl_record *rec,
                             struct idl_errors *e) {
  int referenced = 0;
  enum idl_err err = idl_record_referenced(txn, &idl_customers, rec->pk, &referenced);
  if (!err && referenced)
    idl_errors_detail(e, 409, "Customer %llu has products or orders; reassign or delete "
                      "them first.", (unsigned long long)rec->pk);
  return err;
}

/* The contact graph learns every customer's email and phone when the
 * customer is written; it need not hold them for ever after: a deleted
 * contact or a value now blocked leaves the customer's email unheld (its
 * identity is then its phone's, or null) until its next change. So
 * idlink-check holds customers to no rule of the graph. */
static const struct idl_hooks hooks = {.validate = validate, .storing = storing,
                                       .compute = compute, .deleting = deleting};

const struct idl_resource idl_customers = {
    .name = "customers",
    .singular = "customer",
    .fields = fields,
    .n_fields = CUSTOMER_CONTACT,
    .n_hidden = sizeof(fields) / sizeof(fields[0]) - CUSTOMER_CONTACT,
    .indexes = indexes,
    .n_indexes = sizeof(indexes) / sizeof(indexes[0]),
    .ops = IDL_OP_LIST | IDL_OP_CREATE | IDL_OP_RETRIEVE | IDL_OP_UPDATE | IDL_OP_DELETE |
           IDL_OP_EXPORT,
    .hooks = &hooks,
};

/* Orders (SPEC section 8): marketplace orders that create or update their
 * customer ("upsert", as Omnitron does). An order sent again with the same
 * values is answered with the stored one and changes nothing, since feeds
 * retry; the same number with other values is a conflict. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "idlink/normalize.h"
#include "json.h"
#include "res_internal.h"

#define TIME_LOOKUPS (IDL_L_EXACT | IDL_L_RANGE | IDL_L_DATE)
#define ID_LOOKUPS (IDL_L_EXACT | IDL_L_RANGE | IDL_L_IN)

enum { IX_CUSTOMER, IX_CHANNEL, IX_NUMBER, IX_CURRENCY, IX_CREATED, IX_CHANNEL_NUMBER };

static enum idl_err select_identity(struct idl_txn *txn, const char *value,
                                    struct idl_ids *pks);

static const struct idl_field fields[] = {
    [ORDER_PK] = {"pk", IDL_F_PK, IDL_FF_READ_ONLY | IDL_FF_ORDERABLE, ID_LOOKUPS, -1,
                  .alias = "id"},
    [ORDER_CHANNEL] = {"channel", IDL_F_INT, IDL_FF_REQUIRED, IDL_L_EXACT, IX_CHANNEL, .min = 1,
                       .max = INT32_MAX},
    [ORDER_NUMBER] = {"number", IDL_F_STR, IDL_FF_REQUIRED, IDL_L_EXACT, IX_NUMBER, .max = 64},
    [ORDER_AMOUNT] = {"amount", IDL_F_MONEY, IDL_FF_REQUIRED | IDL_FF_ORDERABLE, 0, -1},
    [ORDER_CURRENCY] = {"currency", IDL_F_STR, IDL_FF_REQUIRED, IDL_L_EXACT, IX_CURRENCY,
                        .max = 3},
    [ORDER_CREATED] = {"created_date", IDL_F_TIME, IDL_FF_DEFAULT_NOW | IDL_FF_ORDERABLE,
                       TIME_LOOKUPS, IX_CREATED},
    [ORDER_MODIFIED] = {"modified_date", IDL_F_TIME, IDL_FF_READ_ONLY | IDL_FF_NOW_ALWAYS, 0, -1},
    [ORDER_CUSTOMER] = {"customer", IDL_F_FK, IDL_FF_READ_ONLY, IDL_L_EXACT, IX_CUSTOMER,
                        .fk = "customers"},
    [ORDER_IDENTITY] = {"identity", IDL_F_INT, IDL_FF_COMPUTED | IDL_FF_READ_ONLY | IDL_FF_NULLABLE,
                        IDL_L_EXACT, -1, .select = select_identity},
    /* Hidden: the customer email the order was sent with (normalized), what
     * a replay is compared on; cleared when the customer is erased. */
    [ORDER_EMAIL] = {"email", IDL_F_EMAIL, IDL_FF_READ_ONLY | IDL_FF_NULLABLE | IDL_FF_PERSONAL, 0,
                     -1},
};

static const struct idl_index_def indexes[] = {
    [IX_CUSTOMER] = {"customer", {ORDER_CUSTOMER, -1}, 0},
    [IX_CHANNEL] = {"channel", {ORDER_CHANNEL, -1}, 0},
    [IX_NUMBER] = {"number", {ORDER_NUMBER, -1}, 0},
    [IX_CURRENCY] = {"currency", {ORDER_CURRENCY, -1}, 0},
    [IX_CREATED] = {"created_date", {ORDER_CREATED, -1}, 0},
    [IX_CHANNEL_NUMBER] = {"channel+number", {ORDER_CHANNEL, ORDER_NUMBER}, 1},
};

/* -------------------------------------------------------------- lookups */

enum idl_err idl_orders_of_customer(struct idl_txn *txn, uint64_t customer,
                                    struct idl_ids *pks) {
  unsigned char key[8];
  idl_key_int((int64_t)customer, key);
  return idl_index_pks(txn, idl_resource_table(&idl_orders), IX_CUSTOMER, key, 8, pks);
}

static enum idl_err select_identity(struct idl_txn *txn, const char *value,
                                    struct idl_ids *pks) {
  char *end;
  unsigned long long id = strtoull(value, &end, 10);
  struct idl_ids customers = {0};
  enum idl_err err = *end || !id ? IDL_ERR_OK : idl_customers_of_identity(txn, id, &customers);
  for (size_t i = 0; !err && i < customers.n; i++)
    err = idl_orders_of_customer(txn, customers.v[i], pks);
  idl_ids_fini(&customers);
  return err;
}

/* An order's identity is its customer's. */
static enum idl_err compute(struct idl_txn *txn, struct idl_record *rec) {
  struct idl_record customer;
  idl_value_clear(&rec->v[ORDER_IDENTITY]);
  if (rec->v[ORDER_CUSTOMER].null)
    return IDL_ERR_OK;
  enum idl_err err = idl_record_get(txn, &idl_customers, (uint64_t)rec->v[ORDER_CUSTOMER].i,
                                    &customer);
  if (err == IDL_ERR_NOTFOUND)
    return IDL_ERR_OK;
  if (!err && !(err = idl_record_compute(txn, &idl_customers, &customer)))
    rec->v[ORDER_IDENTITY] = customer.v[CUSTOMER_IDENTITY];
  customer.v[CUSTOMER_IDENTITY] = (struct idl_value){.null = 1};
  idl_record_fini(&customer);
  return err;
}

/* ------------------------------------------------------------- the upsert */

/* The customer of channel with email (the smallest pk), 0 when none. */
static enum idl_err customer_by_email(struct idl_txn *txn, int64_t channel, const char *email,
                                      uint64_t *pk) {
  struct idl_ids pks = {0};
  enum idl_err err = idl_record_pks_by_text(txn, &idl_customers, CUSTOMER_EMAIL, email, &pks);
  *pk = 0;
  idl_ids_sort(&pks);
  for (size_t i = 0; !err && !*pk && i < pks.n; i++) {
    struct idl_record c;
    if ((err = idl_record_get(txn, &idl_customers, pks.v[i], &c)))
      break;
    if (c.v[CUSTOMER_CHANNEL].i == channel)
      *pk = c.pk;
    idl_record_fini(&c);
  }
  idl_ids_fini(&pks);
  return err;
}

/* The customer object of the order: checked for the fields the upsert
 * needs (email), with the order's channel. A new JSON object, or NULL with
 * errors added when there is no object; a refused email is reported here
 * and left out of the copy, whose other fields the caller then checks. */
static json_t *customer_body(const json_t *body, int64_t channel, char *email,
                             struct idl_errors *e) {
  const json_t *c = json_is_object(body) ? json_object_get(body, "customer") : NULL;
  if (!c) {
    idl_errors_add(e, "customer", "This field is required.");
    return NULL;
  }
  if (json_is_null(c)) {
    idl_errors_add(e, "customer", "This field may not be null.");
    return NULL;
  }
  if (!json_is_object(c)) {
    idl_errors_add(e, "customer.non_field_errors",
                   "Invalid data. Expected a dictionary, but got %s.", idl_json_type_name(c));
    return NULL;
  }
  const json_t *je = json_object_get(c, "email");
  if (!je) {
    idl_errors_add(e, "customer.email", "This field is required.");
    return NULL;
  }
  enum idl_err err = IDL_ERR_INVAL;
  if (!idl_json_email(je, email, &err) || err) {
    idl_errors_add(e, "customer.email", json_is_null(je) ? "This field may not be null."
                                        : err == IDL_ERR_NOTFOUND ? "This field may not be blank."
                                        : json_is_string(je) || json_is_number(je)
                                            ? "Enter a valid email address."
                                                             : "Not a valid string.");
  }
  json_t *copy = json_deep_copy(c);
  if (copy && err)
    json_object_del(copy, "email");
  if (copy && channel > 0)
    json_object_set_new(copy, "channel", json_integer(channel));
  return copy;
}

/* Finds or creates the order's customer, updating the fields sent, and
 * reconciles its email and phone. */
static enum idl_err upsert_customer(struct idl_txn *txn, json_t *cbody, int64_t channel,
                                    const char *email, int64_t now_us, struct idl_errors *e,
                                    uint64_t *pk) {
  const json_t *code = json_object_get(cbody, "channel_code");
  enum idl_err err;
  if (json_is_string(code) && json_string_length(code) > 0)
    err = idl_customer_find_code(txn, channel, json_string_value(code), 0, pk);
  else
    err = customer_by_email(txn, channel, email, pk);
  if (err)
    return err;
  /* A new customer's channel_code is its normalized email unless given;
   * an email too long for a code asks for one. */
  if (!*pk && !json_object_get(cbody, "channel_code")) {
    json_t *dflt = json_string(email);
    if (!dflt)
      return IDL_ERR_NOMEM;
    struct idl_value v = {.null = 1};
    struct idl_errors fits = {0};
    idl_value_from_json(&idl_customers.fields[CUSTOMER_CHANNEL_CODE], dflt, "channel_code", &v,
                        &fits);
    idl_value_clear(&v);
    int too_long = idl_errors_any(&fits);
    idl_errors_fini(&fits);
    if (too_long) {
      json_decref(dflt);
      idl_errors_add(e, "customer.channel_code",
                     "This field is required when the email, its default, is longer than "
                     "%lld characters.", (long long)idl_customers.fields[CUSTOMER_CHANNEL_CODE].max);
      return IDL_ERR_INVAL;
    }
    json_object_set_new(cbody, "channel_code", dflt);
  }
  if (!*pk)
    return idl_write_create(txn, &idl_customers, cbody, "customer.", now_us, e, pk);
  if ((err = idl_write_update(txn, &idl_customers, *pk, cbody, IDL_WRITE_PATCH, "customer.",
                              now_us, e)))
    return err;
  /* An unchanged customer is reconciled all the same (a no-op when the
   * graph already knows both values). */
  struct idl_record c;
  if (!(err = idl_record_get(txn, &idl_customers, *pk, &c))) {
    err = idl_customer_reconcile(txn, &c);
    idl_record_fini(&c);
  }
  return err;
}

/* The stored order with the request's (channel, number): the same values
 * answer it unchanged (*same set), other values are a conflict. The email
 * compared is the one the order was sent with; an order stored without it
 * (restored from a snapshot, or older) is compared on its customer's. */
static enum idl_err replayed(struct idl_txn *txn, const struct idl_record *rec,
                             const char *email, struct idl_errors *e, uint64_t *same) {
  struct idl_keyset *ks = malloc(sizeof(*ks));
  uint64_t pk = 0;
  enum idl_err err = ks ? idl_record_keys(&idl_orders, rec, ks) : IDL_ERR_NOMEM;
  if (!err)
    err = idl_record_find(txn, &idl_orders, IX_CHANNEL_NUMBER, &ks->key[IX_CHANNEL_NUMBER], 0,
                          &pk);
  free(ks);
  *same = 0;
  if (err || !pk)
    return err;
  struct idl_record old, customer;
  if ((err = idl_record_get(txn, &idl_orders, pk, &old)))
    return err;
  int equal = old.v[ORDER_AMOUNT].i == rec->v[ORDER_AMOUNT].i &&
              idl_value_equal(&old.v[ORDER_CURRENCY], &rec->v[ORDER_CURRENCY]);
  if (equal && !old.v[ORDER_EMAIL].null) {
    equal = strcmp(old.v[ORDER_EMAIL].s, email) == 0;
  } else if (equal && !(err = idl_record_get(txn, &idl_customers,
                                             (uint64_t)old.v[ORDER_CUSTOMER].i, &customer))) {
    equal = strcmp(customer.v[CUSTOMER_EMAIL].s, email) == 0;
    idl_record_fini(&customer);
  }
  if (!err && equal)
    *same = pk;
  else if (!err)
    idl_errors_detail(e, 409, "Order %.64s of channel %lld already exists with other values.",
                      rec->v[ORDER_NUMBER].s, (long long)rec->v[ORDER_CHANNEL].i);
  idl_record_fini(&old);
  return err;
}

static int currency_ok(const struct idl_value *v) {
  if (v->null || v->len != 3)
    return 0;
  for (size_t i = 0; i < 3; i++)
    if (v->s[i] < 'A' || v->s[i] > 'Z')
      return 0;
  return 1;
}

static enum idl_err create(struct idl_txn *txn, struct idl_write *w) {
  struct idl_record rec;
  enum idl_err err = idl_record_init(&rec, &idl_orders);
  if (err)
    return err;
  char email[IDL_EMAIL_MAX_BYTES + 1] = "";
  idl_record_from_json(&idl_orders, w->body, IDL_PARSE_CREATE, w->now_us, "", &rec, &w->errors);
  if (!rec.v[ORDER_CURRENCY].null && !currency_ok(&rec.v[ORDER_CURRENCY]))
    idl_errors_add(&w->errors, "currency", "Enter a valid currency: three upper-case letters.");
  json_t *cbody = customer_body(w->body, rec.v[ORDER_CHANNEL].null ? 0 : rec.v[ORDER_CHANNEL].i,
                                email, &w->errors);
  uint64_t same = 0, customer = 0;
  if (idl_errors_any(&w->errors) && cbody) {
    /* Every error is reported together: the customer's fields too. */
    struct idl_record probe;
    if (!idl_record_init(&probe, &idl_customers)) {
      idl_record_from_json(&idl_customers, cbody, IDL_PARSE_PATCH, w->now_us, "customer.",
                           &probe, &w->errors);
      idl_record_fini(&probe);
    }
  }
  if (idl_errors_any(&w->errors))
    err = IDL_ERR_INVAL;
  if (!err)
    err = replayed(txn, &rec, email, &w->errors, &same);
  if (!err && idl_errors_any(&w->errors))
    err = IDL_ERR_INVAL;
  if (!err && same) {
    w->pk = same;
    w->status = 200;
  } else if (!err) {
    err = upsert_customer(txn, cbody, rec.v[ORDER_CHANNEL].i, email, w->now_us, &w->errors,
                          &customer);
    if (!err && idl_errors_any(&w->errors))
      err = IDL_ERR_INVAL;
    if (!err) {
      idl_record_set_int(&rec, ORDER_CUSTOMER, (int64_t)customer);
      err = idl_record_set_str(&rec, ORDER_EMAIL, email, strlen(email));
    }
    if (!err)
      err = idl_record_put(txn, &idl_orders, &rec, NULL);
    if (!err)
      w->pk = rec.pk;
  }
  json_decref(cbody);
  idl_record_fini(&rec);
  return err;
}

static const struct idl_hooks hooks = {.compute = compute, .create = create};

const struct idl_resource idl_orders = {
    .name = "orders",
    .singular = "order",
    .fields = fields,
    .n_fields = ORDER_EMAIL,
    .n_hidden = sizeof(fields) / sizeof(fields[0]) - ORDER_EMAIL,
    .indexes = indexes,
    .n_indexes = sizeof(indexes) / sizeof(indexes[0]),
    .ops = IDL_OP_LIST | IDL_OP_CREATE | IDL_OP_RETRIEVE | IDL_OP_EXPORT,
    .hooks = &hooks,
};

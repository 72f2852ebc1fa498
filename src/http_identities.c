/* The single customer view (SPEC section 8): GET /api/v1/identities/{id}/ and
 * /api/v1/identities/?email=E (or ?phone_number=P): the identity, every
 * customer of every channel whose email or phone it holds, and its orders. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter_internal.h"
#include "http_internal.h"
#include "idlink/normalize.h"
#include "res_internal.h"

#define LATEST_ORDERS 10

struct view {
  uint64_t contact;          /* any contact of the identity */
  struct idl_request by;     /* or the value that finds it */
  json_t *out;
};

/* recs as a JSON array with their computed fields; NULL, with *err set,
 * when a record cannot be read or rendered. */
static json_t *records_json(struct idl_txn *txn, const struct idl_resource *res,
                            struct idl_record *recs, size_t n, enum idl_err *err) {
  json_t *a = json_array();
  if (!a)
    *err = IDL_ERR_NOMEM;
  for (size_t i = 0; !*err && i < n; i++)
    if (!(*err = idl_record_compute(txn, res, &recs[i])) &&
        json_array_append_new(a, idl_record_to_json(res, &recs[i])))
      *err = IDL_ERR_NOMEM;
  if (*err) {
    json_decref(a);
    return NULL;
  }
  return a;
}

/* {k1: v1, k2: v2, k3: v3}. Takes the three references whatever happens
 * (json_object_set_new does); NULL when *err is set already or a value
 * could not be made. */
static json_t *object3(const char *k1, json_t *v1, const char *k2, json_t *v2, const char *k3,
                       json_t *v3, enum idl_err *err) {
  json_t *o = json_object();
  int bad = json_object_set_new(o, k1, v1);
  bad |= json_object_set_new(o, k2, v2);
  bad |= json_object_set_new(o, k3, v3);
  if (!*err && bad)
    *err = IDL_ERR_NOMEM;
  if (*err) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* Newest first: created_date, then pk. */
static int newest_first(const void *pa, const void *pb) {
  const struct idl_record *a = pa, *b = pb;
  int64_t x = a->v[ORDER_CREATED].i, y = b->v[ORDER_CREATED].i;
  if (x != y)
    return x < y ? 1 : -1;
  return a->pk < b->pk ? 1 : a->pk > b->pk ? -1 : 0;
}

/* The orders part: count, totals by currency and the latest. */
static enum idl_err orders_json(struct idl_txn *txn, const struct idl_ids *customers,
                                json_t **out) {
  struct idl_ids pks = {0};
  enum idl_err err = IDL_ERR_OK;
  for (size_t i = 0; !err && i < customers->n; i++)
    err = idl_orders_of_customer(txn, customers->v[i], &pks);
  struct idl_record *recs = err ? NULL : calloc(pks.n ? pks.n : 1, sizeof(*recs));
  if (!err && !recs)
    err = IDL_ERR_NOMEM;
  size_t n = 0;
  for (size_t i = 0; !err && i < pks.n; i++)
    if (!(err = idl_record_get(txn, &idl_orders, pks.v[i], &recs[n])))
      n++;
  json_t *totals = json_object();
  for (size_t i = 0; !err && i < n; i++) {
    const struct idl_value *cur = &recs[i].v[ORDER_CURRENCY];
    /* Sums in cents, as integers: never a float. */
    json_t *sum = json_object_get(totals, cur->s);
    long long cents = sum ? json_integer_value(sum) : 0;
    json_object_set_new(totals, cur->s, json_integer(cents + recs[i].v[ORDER_AMOUNT].i));
  }
  const char *currency;
  json_t *cents;
  json_object_foreach(totals, currency, cents) {
    char buf[32];
    long long c = json_integer_value(cents);
    snprintf(buf, sizeof(buf), "%lld.%02lld", c / 100, c % 100);
    json_object_set_new(totals, currency, json_string(buf));
  }
  if (!err) {
    if (n > 1)
      qsort(recs, n, sizeof(*recs), newest_first);
    json_t *latest =
        records_json(txn, &idl_orders, recs, n < LATEST_ORDERS ? n : LATEST_ORDERS, &err);
    *out = object3("count", json_integer((json_int_t)n), "totals", totals, "latest", latest,
                   &err);
    totals = NULL;
  }
  json_decref(totals);
  for (size_t i = 0; recs && i < n; i++)
    idl_record_fini(&recs[i]);
  free(recs);
  idl_ids_fini(&pks);
  return err;
}

static enum idl_err build_view(struct idl_txn *txn, void *arg) {
  struct view *v = arg;
  uint64_t primary = v->contact;
  enum idl_err err = primary ? IDL_ERR_OK : idl_identity_lookup(txn, &v->by, &primary);
  struct idl_identity ident = {0};
  if (!err)
    err = idl_identity_of_contact(txn, primary, &ident);
  if (err)
    return err;
  char *text = NULL;
  size_t len;
  err = idl_json_identity_text(&ident, IDL_FRAME_BARE, &text, &len);
  primary = ident.c[0].id;
  idl_identity_fini(&ident);
  json_t *contact = err ? NULL : json_loadb(text, len, 0, NULL);
  free(text);
  struct idl_ids pks = {0};
  if (!err)
    err = idl_customers_of_identity(txn, primary, &pks);
  idl_ids_sort_unique(&pks);
  struct idl_record *recs = calloc(pks.n ? pks.n : 1, sizeof(*recs));
  size_t n = 0;
  if (!err && !recs)
    err = IDL_ERR_NOMEM;
  for (size_t i = 0; !err && i < pks.n; i++)
    if (!(err = idl_record_get(txn, &idl_customers, pks.v[i], &recs[n])))
      n++;
  json_t *orders = NULL;
  if (!err)
    err = orders_json(txn, &pks, &orders);
  if (!err) {
    json_t *customers = records_json(txn, &idl_customers, recs, n, &err);
    v->out = object3("contact", contact, "customers", customers, "orders", orders, &err);
  } else {
    json_decref(contact);
    json_decref(orders);
  }
  for (size_t i = 0; i < n; i++)
    idl_record_fini(&recs[i]);
  free(recs);
  idl_ids_fini(&pks);
  return err;
}

static int send_view(struct idl_req *r, struct view *v) {
  enum idl_err err = idl_service_read(r->svc, build_view, v);
  return err ? idl_http_fail(r, err) : idl_http_send(r, 200, v->out);
}

int idl_handle_identity_view(struct idl_req *r) {
  struct view v = {.contact = r->id};
  return send_view(r, &v);
}

int idl_handle_identity_find(struct idl_req *r) {
  const char *query = mg_get_request_info(r->conn)->query_string;
  struct view v = {0};
  json_t *errors = json_object();
  int given = 0;
  struct idl_query_part part;
  for (const char *s = query; idl_query_next(&s, &part);) {
    char *name, *value;
    int nul_name, nul_value;
    if (!part.name_len)
      continue;
    if (idl_query_part_decode(&part, &name, &nul_name, &value, &nul_value)) {
      json_decref(errors);
      return idl_http_send(r, 500, idl_json_detail("Out of memory."));
    }
    int email = !nul_name && !strcmp(name, "email");
    if (email || (!nul_name && !strcmp(name, "phone_number"))) {
      /* The last value of a name counts, and an empty one is no value (as
       * POST /identify has it). */
      int bit = email ? 1 : 2;
      char *out = email ? v.by.email : v.by.phone;
      json_object_del(errors, name);
      given &= ~bit;
      *out = '\0';
      if (!nul_value && !*value) {
        free(name);
        free(value);
        continue;
      }
      given |= bit;
      if (nul_value || (email ? idl_normalize_email(value, strlen(value), out)
                              : idl_normalize_phone(value, strlen(value), out)))
        json_object_set_new(errors, name, json_pack("[s]", email ? "Enter a valid email address."
                                                                 : "Enter a valid phone number."));
    } else {
      json_decref(errors);
      errors = idl_json_detail("Unknown query parameter \"%.100s\".", name);
      free(name);
      free(value);
      return idl_http_send(r, 400, errors);
    }
    free(name);
    free(value);
  }
  if (json_object_size(errors))
    return idl_http_send(r, 400, errors);
  json_decref(errors);
  if (!given)
    return idl_http_detail(r, 400, "email or phone_number is required");
  return send_view(r, &v);
}

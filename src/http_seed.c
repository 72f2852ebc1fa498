/* Seed 003's own routes (SPEC section 9): thin aliases over the handlers of
 * the /api/v1/ collections, in the seed's shapes. A route translates the
 * seed's keys into a body of its collection and runs it through the
 * collection's own write (its validation, storage and change log), then
 * translates the record, or the errors, back into the seed's names.
 *
 * The seed's customers are those of channel --crm-channel, with their
 * normalized email as channel_code and address, status and chat_allowed in
 * attributes, as the bulk import keeps them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter_internal.h"
#include "http_internal.h"
#include "idlink/normalize.h"
#include "openapi_internal.h"
#include "res_internal.h"

/* ------------------------------------------------------------- the shapes */

/* What a key of the seed is. */
enum {
  K_CREATE = 1 << 0,   /* a create takes it */
  K_UPDATE = 1 << 1,   /* an update takes it */
  K_SHOWN = 1 << 2,    /* the record shows it */
  K_ATTR = 1 << 3,     /* kept in the record's attributes */
  K_NAME = 1 << 4,     /* the name: first_name and last_name */
  K_REQUIRED = 1 << 5, /* a create must send it, though the collection does not ask */
  K_ERRORS = 1 << 6,   /* only renames the collection's errors of v1 for the seed */
};

struct seed_key {
  const char *seed;              /* the seed's name */
  const char *v1;                /* the collection's field, or the attributes' key */
  unsigned flags;
  const struct idl_field *check; /* checked here: the collection has no field for it */
  const char *message;           /* K_ERRORS: the message shown instead of v1's */
};

struct seed_write;

/* A collection as the seed shows it. */
struct seed_shape {
  const struct idl_resource *res;
  const struct seed_key *keys;
  size_t n;
  int channel;      /* the field of a record's channel (the seed's are the crm
                       channel's), -1: none */
  const char *kind; /* feedback: the kind its routes create and list */
  void (*finish)(struct seed_write *sw); /* completes a write's body */
};

/* Values only the seed has: text in attributes, a name to split, a flag. */
static const struct idl_field seed_text = {"text", IDL_F_STR, 0, 0, -1, .max = 1000};
static const struct idl_field seed_flag = {"flag", IDL_F_BOOL, 0, 0, -1, .def = "false"};

static void finish_customer(struct seed_write *sw);
static void finish_feedback(struct seed_write *sw);

#define ALL (K_CREATE | K_UPDATE)
#define SHAPE(res, keys) &(res), keys, sizeof(keys) / sizeof(keys[0])

static const struct seed_key customer_keys[] = {
    {"id", "pk", .flags = K_SHOWN},
    {"name", "first_name", .flags = K_CREATE | K_SHOWN | K_NAME | K_REQUIRED,
     .check = &seed_text},
    {"address", "address", .flags = ALL | K_SHOWN | K_ATTR | K_REQUIRED, .check = &seed_text},
    {"phone", "phone_number", .flags = ALL | K_SHOWN},
    {"email", "email", .flags = ALL | K_SHOWN},
    {"optphone", "sms_allowed", .flags = ALL | K_SHOWN},
    {"optemail", "email_allowed", .flags = ALL | K_SHOWN},
    {"optchat", "chat_allowed", .flags = ALL | K_SHOWN | K_ATTR, .check = &seed_flag},
    {"status", "status", .flags = ALL | K_SHOWN | K_ATTR | K_REQUIRED, .check = &seed_text},
    {"name", "last_name", .flags = K_CREATE | K_ERRORS},
    /* The email is the channel_code too, unique on the channel. */
    {"email", "channel_code", .flags = ALL | K_ERRORS},
    {"email", "non_field_errors", .flags = ALL | K_ERRORS,
     .message = "A customer with this email already exists."},
};

static const struct seed_key product_keys[] = {
    {"id", "pk", .flags = K_SHOWN},
    {"name", "name", .flags = K_CREATE | K_SHOWN},
    {"price", "price", .flags = K_CREATE | K_SHOWN},
    {"purchased", "purchased", .flags = K_CREATE | K_SHOWN},
    {"customerid", "customer", .flags = K_CREATE | K_SHOWN | K_REQUIRED},
    {"warranty", "warranty", .flags = ALL | K_SHOWN},
    {"changeto", "customer", .flags = K_UPDATE},
};

/* Brand feedback has the first four keys; product feedback all. */
static const struct seed_key feedback_keys[] = {
    {"id", "pk", .flags = K_SHOWN},
    {"customerid", "customer", .flags = K_CREATE | K_SHOWN},
    {"heading", "heading", .flags = K_CREATE | K_SHOWN},
    {"body", "body", .flags = K_CREATE | K_SHOWN},
    {"productid", "product", .flags = K_CREATE | K_SHOWN},
};

/* A ticket's update is its close. */
static const struct seed_key ticket_keys[] = {
    {"id", "pk", .flags = K_SHOWN},
    {"customerid", "customer", .flags = K_CREATE | K_SHOWN},
    {"request", "request", .flags = K_CREATE | K_SHOWN},
    {"status", "status", .flags = K_SHOWN},
    {"resolved", "resolved", .flags = K_UPDATE | K_SHOWN},
    {"resolution", "resolution", .flags = K_UPDATE | K_SHOWN},
    {"opened_date", "opened_date", .flags = K_SHOWN},
    {"closed_date", "closed_date", .flags = K_SHOWN},
};

static const struct seed_shape customers = {SHAPE(idl_customers, customer_keys),
                                            .channel = CUSTOMER_CHANNEL,
                                            .finish = finish_customer};
static const struct seed_shape products = {SHAPE(idl_products, product_keys), .channel = -1};
static const struct seed_shape brand_feedback = {&idl_feedback, feedback_keys, 4, .channel = -1,
                                                 .kind = "brand", .finish = finish_feedback};
static const struct seed_shape product_feedback = {SHAPE(idl_feedback, feedback_keys),
                                                   .channel = -1, .kind = "product",
                                                   .finish = finish_feedback};
static const struct seed_shape tickets = {SHAPE(idl_tickets, ticket_keys), .channel = -1};

/* Reads record pk of s into rec when it is one of the seed's (a customer:
 * of the crm channel); else IDL_ERR_NOTFOUND. */
static enum idl_err get_seeds(struct idl_txn *txn, const struct seed_shape *s, uint64_t pk,
                              int64_t channel, struct idl_record *rec) {
  enum idl_err err = idl_record_get(txn, s->res, pk, rec);
  if (!err && s->channel >= 0 && rec->v[s->channel].i != channel) {
    idl_record_fini(rec);
    err = IDL_ERR_NOTFOUND;
  }
  return err;
}

/* ------------------------------------------------------ seed to v1 and back */

/* The first and last name of a (trimmed) name, split at its first space. */
static void put_name(json_t *body, const char *name) {
  size_t first = strcspn(name, " ");
  const char *last = name + first + strspn(name + first, " ");
  json_object_set_new(body, "first_name", json_stringn(name, first));
  json_object_set_new(body, "last_name", json_string(last));
}

/* The value key k takes from j (NULL: not sent): j itself, or as k's own
 * check parses it, else NULL (errors in e under the seed's name). */
static json_t *taken(const struct seed_key *k, const json_t *j, unsigned mode,
                     struct idl_errors *e) {
  const struct idl_field *f = k->check;
  if (!j && mode == K_CREATE && (k->flags & K_REQUIRED))
    idl_errors_add(e, k->seed, "This field is required.");
  if (!j)
    return mode == K_CREATE && f && f->def ? json_loads(f->def, JSON_DECODE_ANY, NULL) : NULL;
  if (!f)
    return json_incref((json_t *)j);
  struct idl_value v = {.null = 1};
  size_t errors = e->n;
  idl_value_from_json(f, j, k->seed, &v, e);
  json_t *out = e->n == errors ? idl_value_to_json(f, &v) : NULL;
  idl_value_clear(&v);
  return out;
}

/* The collection's body for the keys of args that mode takes (the
 * attributes' into attrs). New reference. */
static json_t *to_v1(const struct seed_shape *s, const json_t *args, unsigned mode,
                     json_t *attrs, struct idl_errors *e) {
  json_t *body = json_object();
  for (size_t i = 0; body && i < s->n; i++) {
    const struct seed_key *k = &s->keys[i];
    if (!(k->flags & mode) || (k->flags & K_ERRORS))
      continue;
    json_t *v = taken(k, json_object_get(args, k->seed), mode, e);
    if (v && (k->flags & K_NAME))
      put_name(body, json_string_value(v));
    else if (v)
      json_object_set(k->flags & K_ATTR ? attrs : body, k->v1, v);
    json_decref(v);
  }
  return body;
}

static void replace(char **s, const char *with) {
  char *copy = strdup(with);
  if (copy) {
    free(*s);
    *s = copy;
  }
}

/* Names the collection's field errors as the seed does. */
static void seed_errors(const struct seed_shape *s, unsigned mode, struct idl_errors *e) {
  for (size_t i = 0; i < e->n; i++)
    for (size_t k = 0; k < s->n; k++) {
      const struct seed_key *key = &s->keys[k];
      if (!(key->flags & mode) || (key->flags & K_ATTR) || strcmp(e->v[i].field, key->v1))
        continue;
      replace(&e->v[i].field, key->seed);
      if (key->message)
        replace(&e->v[i].message, key->message);
      break;
    }
}

/* First and last name joined by a space; the first alone without a last. */
static json_t *full_name(const json_t *v1) {
  const char *first = json_string_value(json_object_get(v1, "first_name"));
  const char *last = json_string_value(json_object_get(v1, "last_name"));
  char *name = NULL;
  if (asprintf(&name, "%s%s%s", first ? first : "", last && *last ? " " : "",
               last ? last : "") < 0)
    return NULL;
  json_t *j = json_string(name);
  free(name);
  return j;
}

/* rec in the seed's shape. New reference; NULL without memory. */
static json_t *to_seed(const struct seed_shape *s, const struct idl_record *rec) {
  json_t *v1 = idl_record_to_json(s->res, rec), *out = json_object();
  const json_t *attrs = json_object_get(v1, "attributes");
  for (size_t i = 0; v1 && out && i < s->n; i++) {
    const struct seed_key *k = &s->keys[i];
    if (!(k->flags & K_SHOWN))
      continue;
    json_t *v = k->flags & K_NAME ? full_name(v1)
                                  : json_incref(json_object_get(k->flags & K_ATTR ? attrs : v1,
                                                                k->v1));
    json_object_set_new(out, k->seed, v ? v : json_null());
  }
  if (!v1) {
    json_decref(out);
    out = NULL;
  }
  json_decref(v1);
  return out;
}

/* ------------------------------------------------------------------ reads */

/* One record, or a list, read for an answer. */
struct seed_read {
  const struct seed_shape *shape;
  int64_t channel;    /* the crm channel */
  uint64_t pk;        /* one record */
  struct idl_query q; /* or the matches of a query */
  const char *name;   /* a list of customers: the full name they have */
  json_t *out;
};

static enum idl_err read_one(struct idl_txn *txn, void *arg) {
  struct seed_read *sr = arg;
  struct idl_record rec;
  enum idl_err err = get_seeds(txn, sr->shape, sr->pk, sr->channel, &rec);
  if (err)
    return err;
  if (!(sr->out = to_seed(sr->shape, &rec)))
    err = IDL_ERR_NOMEM;
  idl_record_fini(&rec);
  return err;
}

static enum idl_err add_match(struct idl_record *rec, void *arg) {
  struct seed_read *sr = arg;
  json_t *one = to_seed(sr->shape, rec);
  const char *name = json_string_value(json_object_get(one, "name"));
  if (one && sr->name && (!name || strcmp(name, sr->name))) {
    json_decref(one);
    return IDL_ERR_OK;
  }
  return !one || json_array_append_new(sr->out, one) ? IDL_ERR_NOMEM : IDL_ERR_OK;
}

static enum idl_err read_list(struct idl_txn *txn, void *arg) {
  struct seed_read *sr = arg;
  if (!(sr->out = json_array()))
    return IDL_ERR_NOMEM;
  return idl_query_each(txn, sr->shape->res, &sr->q, add_match, sr);
}

/* Answers record pk in the seed's shape with status. */
static int send_one(struct idl_req *r, const struct seed_shape *s, uint64_t pk, int status) {
  struct seed_read sr = {.shape = s, .channel = r->crm_channel, .pk = pk};
  enum idl_err err = idl_service_read(r->svc, read_one, &sr);
  return err ? idl_http_fail(r, err) : idl_http_send(r, status, sr.out);
}

/* Answers every record of s that query selects (with name: the customers
 * of that full name), in pk order, unpaged as the seed lists them. */
static int send_list(struct idl_req *r, const struct seed_shape *s, const struct idl_text *query,
                     const char *name) {
  struct seed_read sr = {.shape = s, .name = name};
  struct idl_errors e = {0};
  if (query->failed)
    idl_errors_set(&e, 500, "{\"detail\":\"Out of memory.\"}");
  else
    idl_query_parse(s->res, query->data, NULL, &sr.q, &e);
  int status;
  if (idl_errors_any(&e)) {
    status = idl_http_send_errors(r, &e);
  } else {
    enum idl_err err = idl_service_read(r->svc, read_list, &sr);
    status = err ? idl_http_fail(r, err) : idl_http_send(r, 200, json_incref(sr.out));
  }
  json_decref(sr.out);
  idl_query_fini(&sr.q);
  idl_errors_fini(&e);
  return status;
}

/* Appends "name=value" (value form-encoded) to a query string. */
static void put_param(struct idl_text *t, const char *name, const char *value) {
  if (t->len)
    idl_text_put(t, "&", 1);
  idl_text_put(t, name, strlen(name));
  idl_text_put(t, "=", 1);
  idl_http_put_encoded(t, value);
}

static void put_id_param(struct idl_text *t, const char *name, uint64_t id) {
  char num[24];
  snprintf(num, sizeof(num), "%llu", (unsigned long long)id);
  put_param(t, name, num);
}

/* ------------------------------------------------------------------ writes */

/* A write of a seed route: the collection's write, and what the seed's
 * actions need in the writer. w comes first: an action given &w has sw. */
struct seed_write {
  struct idl_write w;
  const struct seed_shape *shape;
  unsigned mode;   /* K_CREATE or K_UPDATE: which keys, and how errors are named */
  int64_t channel; /* the crm channel */
  json_t *body;    /* the collection's body (owned) */
  json_t *attrs;   /* the attributes' keys sent (owned) */
  int deletes;     /* answered {"deleted": N} */
};

/* The attributes sent, merged into old's: the body's attributes. */
static enum idl_err merge_attrs(struct seed_write *sw, const struct idl_record *old) {
  int i = idl_resource_field(sw->w.res, "attributes");
  if (i < 0)
    return IDL_ERR_INVAL;
  json_t *merged = idl_value_to_json(&sw->w.res->fields[i], &old->v[i]);
  if (json_object_update(merged, sw->attrs)) {
    json_decref(merged);
    return IDL_ERR_NOMEM;
  }
  return json_object_set_new(sw->body, "attributes", merged) ? IDL_ERR_NOMEM : IDL_ERR_OK;
}

/* The seed's update: the attributes sent merged into the stored ones, then
 * the collection's PATCH. */
static enum idl_err seed_update(struct idl_txn *txn, struct idl_write *w) {
  struct seed_write *sw = (struct seed_write *)w;
  struct idl_record old;
  enum idl_err err = get_seeds(txn, sw->shape, w->pk, sw->channel, &old);
  if (err)
    return err;
  if (json_object_size(sw->attrs))
    err = merge_attrs(sw, &old);
  idl_record_fini(&old);
  return err ? err
             : idl_write_update(txn, w->res, w->pk, sw->body, IDL_WRITE_PATCH, "", w->now_us,
                                &w->errors);
}

/* The seed's delete: the collection's, of a record the seed may see. */
static enum idl_err seed_delete(struct idl_txn *txn, struct idl_write *w) {
  const struct seed_write *sw = (const struct seed_write *)w;
  struct idl_record rec;
  enum idl_err err = get_seeds(txn, sw->shape, w->pk, sw->channel, &rec);
  if (!err) {
    idl_record_fini(&rec);
    err = idl_write_delete(txn, w->res, w->pk, &w->errors);
  }
  w->count = err ? 0 : 1;
  return err;
}

static const struct idl_action update_action = {.name = "update", .apply = seed_update};
static const struct idl_action delete_action = {.name = "delete", .apply = seed_delete,
                                                .deletes = 1};

/* Starts a write of op on s's collection of record pk, from the keys of
 * args that mode takes. */
static void begin_write(struct seed_write *sw, struct idl_req *r, const struct seed_shape *s,
                        enum idl_write_op op, uint64_t pk, const json_t *args) {
  unsigned mode = op == IDL_WRITE_CREATE ? K_CREATE : K_UPDATE;
  *sw = (struct seed_write){.w = {.res = s->res, .op = op, .pk = pk},
                            .shape = s, .mode = mode, .channel = r->crm_channel};
  sw->attrs = json_object();
  sw->body = sw->attrs ? to_v1(s, args, mode, sw->attrs, &sw->w.errors) : NULL;
  if (sw->body && s->finish)
    s->finish(sw);
}

/* Runs sw's write and answers: the record in the seed's shape with the
 * write's status (a create 201, the rest 200), {"deleted": N} for a delete,
 * or the errors under the seed's names. */
static int run_write(struct idl_req *r, struct seed_write *sw) {
  struct idl_write *w = &sw->w;
  w->body = sw->body;
  w->now_us = idl_now_wall_us();
  enum idl_err err = sw->body ? idl_write_prepare(w) : IDL_ERR_NOMEM;
  if (!err)
    err = idl_service_write(r->svc, w);
  int status;
  if (err == IDL_ERR_INVAL && idl_errors_any(&w->errors)) {
    seed_errors(sw->shape, sw->mode, &w->errors);
    status = idl_http_send_errors(r, &w->errors);
  } else if (err) {
    status = idl_http_fail(r, err);
  } else if (sw->deletes) {
    status = idl_http_send(r, 200, json_pack("{s:I}", "deleted", (json_int_t)w->count));
  } else {
    status = send_one(r, sw->shape, w->pk, w->status);
  }
  idl_write_fini(w);
  json_decref(sw->body);
  json_decref(sw->attrs);
  return status;
}

/* A customer of the seed: on the crm channel, with its normalized email as
 * channel_code and address, status and chat_allowed in attributes. An email
 * that cannot be normalized is refused by its own field, so the code is then
 * a stand-in that the refused write never stores. */
static void finish_customer(struct seed_write *sw) {
  const json_t *email = json_object_get(sw->body, "email");
  char code[IDL_EMAIL_MAX_BYTES + 1];
  if (sw->mode == K_CREATE) {
    json_object_set_new(sw->body, "channel", json_integer(sw->channel));
    json_object_set(sw->body, "attributes", sw->attrs);
  }
  if (sw->mode != K_CREATE && !email)
    return;
  enum idl_err err = IDL_ERR_OK;
  if (!idl_json_email(email, code, &err) || err)
    strcpy(code, "-");
  json_object_set_new(sw->body, "channel_code", json_string(code));
}

static void finish_feedback(struct seed_write *sw) {
  json_object_set_new(sw->body, "kind", json_string(sw->shape->kind));
}

/* ------------------------------------------------------------------- keys */

/* Answers 400 naming the keys of which one must be sent. */
static int one_of(struct idl_req *r, const char *keys) {
  struct idl_errors e = {0};
  idl_errors_add(&e, "non_field_errors", "One of %s is required.", keys);
  int status = idl_http_send_errors(r, &e);
  idl_errors_fini(&e);
  return status;
}

/* Reads key of args as an id into *id (0: an id no record has). Returns 1
 * when sent, 0 when not, -1 when it is not an integer (the error in e). */
static int arg_id(const json_t *args, const char *key, uint64_t *id, struct idl_errors *e) {
  static const struct idl_field integer = {"id", IDL_F_INT, 0, 0, -1, .min = INT64_MIN};
  const json_t *j = json_object_get(args, key);
  if (!j)
    return 0;
  struct idl_value v = {.null = 1};
  size_t errors = e->n;
  idl_value_from_json(&integer, j, key, &v, e);
  if (e->n != errors)
    return -1;
  *id = v.i > 0 ? (uint64_t)v.i : 0;
  return 1;
}

/* The id a route requires: 0 with *id, or the status of the 400 answered. */
static int need_id(struct idl_req *r, const json_t *args, const char *key, uint64_t *id) {
  struct idl_errors e = {0};
  if (!arg_id(args, key, id, &e))
    idl_errors_add(&e, key, "This field is required.");
  int status = idl_errors_any(&e) ? idl_http_send_errors(r, &e) : 0;
  idl_errors_fini(&e);
  return status;
}

/* Reads key of args as text into *out (the caller frees it). Returns 0, or
 * the status of the 400 answered. */
static int need_text(struct idl_req *r, const json_t *args, const char *key, char **out) {
  struct idl_errors e = {0};
  struct idl_value v = {.null = 1};
  idl_value_from_json(&seed_text, json_object_get(args, key), key, &v, &e);
  int status = idl_errors_any(&e) ? idl_http_send_errors(r, &e) : 0;
  idl_errors_fini(&e);
  *out = status ? NULL : v.s;
  if (status)
    idl_value_clear(&v);
  return status;
}

/* --------------------------------------------------------------- handlers */

static int create(struct idl_req *r, const json_t *args, const struct seed_shape *s) {
  struct seed_write sw;
  begin_write(&sw, r, s, IDL_WRITE_CREATE, 0, args);
  return run_write(r, &sw);
}

/* {"id", ...}: the keys sent (at least one of keys) change record id. */
static int update(struct idl_req *r, const json_t *args, const struct seed_shape *s,
                  const char *keys) {
  uint64_t id = 0;
  int status = need_id(r, args, "id", &id);
  if (status)
    return status;
  struct seed_write sw;
  begin_write(&sw, r, s, IDL_WRITE_ACTION, id, args);
  sw.w.action = &update_action;
  if (sw.body && !json_object_size(sw.body) && !json_object_size(sw.attrs) &&
      !idl_errors_any(&sw.w.errors)) {
    idl_write_fini(&sw.w);
    json_decref(sw.body);
    json_decref(sw.attrs);
    return one_of(r, keys);
  }
  return run_write(r, &sw);
}

/* Deletes record id of s, as the seed may see it. */
static int delete_one(struct idl_req *r, const struct seed_shape *s, uint64_t id) {
  struct seed_write sw;
  begin_write(&sw, r, s, IDL_WRITE_ACTION, id, NULL);
  sw.w.action = &delete_action;
  sw.deletes = 1;
  return run_write(r, &sw);
}

static int get_one(struct idl_req *r, const json_t *args, const struct seed_shape *s) {
  uint64_t id = 0;
  int status = need_id(r, args, "id", &id);
  return status ? status : send_one(r, s, id, 200);
}

static int add_customer(struct idl_req *r, json_t *args) {
  return create(r, args, &customers);
}

/* The customers of the crm channel with name (split and joined again as
 * they are stored and shown). */
static int customers_named(struct idl_req *r, const char *name) {
  json_t *parts = json_object(), *full = NULL;
  if (parts) {
    put_name(parts, name);
    full = full_name(parts);
  }
  const char *first = json_string_value(json_object_get(parts, "first_name"));
  const char *last = json_string_value(json_object_get(parts, "last_name"));
  struct idl_text q = {0};
  int status;
  if (!full || !first || !last) {
    status = idl_http_fail(r, IDL_ERR_NOMEM);
  } else {
    put_id_param(&q, "channel", (uint64_t)r->crm_channel);
    put_param(&q, "first_name", first);
    put_param(&q, "last_name", last); /* "" filters nothing: the full name does */
    status = send_list(r, &customers, &q, json_string_value(full));
  }
  json_decref(full);
  json_decref(parts);
  free(q.data);
  return status;
}

/* {"id"}: one customer; {"name"}: the customers of that full name. */
static int get_customer(struct idl_req *r, json_t *args) {
  if (json_object_get(args, "id") || !json_object_get(args, "name"))
    return json_object_get(args, "id") ? get_one(r, args, &customers) : one_of(r, "id, name");
  char *name = NULL;
  int status = need_text(r, args, "name", &name);
  if (!status)
    status = customers_named(r, name);
  free(name);
  return status;
}

static int delete_customer(struct idl_req *r, json_t *args) {
  uint64_t id = 0;
  int status = need_id(r, args, "id", &id);
  return status ? status : delete_one(r, &customers, id);
}

static int update_customer(struct idl_req *r, json_t *args) {
  return update(r, args, &customers, "email, phone, address, status, optphone, optemail, optchat");
}

static int add_product(struct idl_req *r, json_t *args) {
  return create(r, args, &products);
}

/* {"id"}: one product; {"name"} and/or {"customerid"}: the products that
 * have them. */
static int get_product(struct idl_req *r, json_t *args) {
  if (json_object_get(args, "id"))
    return get_one(r, args, &products);
  struct idl_errors e = {0};
  struct idl_text q = {0};
  uint64_t customer = 0;
  char *name = NULL;
  int status = 0;
  if (arg_id(args, "customerid", &customer, &e) == 1)
    put_id_param(&q, "customer", customer);
  if (idl_errors_any(&e))
    status = idl_http_send_errors(r, &e);
  else if (json_object_get(args, "name") && !(status = need_text(r, args, "name", &name)))
    put_param(&q, "name", name);
  if (!status)
    status = q.len ? send_list(r, &products, &q, NULL) : one_of(r, "id, name, customerid");
  idl_errors_fini(&e);
  free(name);
  free(q.data);
  return status;
}

/* {"id"}: one product; {"customerid"}: every product of that customer. */
static int delete_product(struct idl_req *r, json_t *args) {
  uint64_t id = 0;
  if (json_object_get(args, "id") || !json_object_get(args, "customerid")) {
    int status = json_object_get(args, "id") ? need_id(r, args, "id", &id)
                                             : one_of(r, "id, customerid");
    return status ? status : delete_one(r, &products, id);
  }
  int status = need_id(r, args, "customerid", &id);
  if (status)
    return status;
  struct seed_write sw;
  begin_write(&sw, r, &products, IDL_WRITE_DELETE_MANY, id, NULL);
  sw.deletes = 1;
  return run_write(r, &sw);
}

static int update_product(struct idl_req *r, json_t *args) {
  return update(r, args, &products, "warranty, changeto");
}

static int add_brand_feedback(struct idl_req *r, json_t *args) {
  return create(r, args, &brand_feedback);
}

static int add_product_feedback(struct idl_req *r, json_t *args) {
  return create(r, args, &product_feedback);
}

/* {"customerid"}: the customer's feedback of s's kind. */
static int get_feedback(struct idl_req *r, const json_t *args, const struct seed_shape *s) {
  uint64_t customer = 0;
  int status = need_id(r, args, "customerid", &customer);
  if (status)
    return status;
  struct idl_text q = {0};
  put_id_param(&q, "customer", customer);
  put_param(&q, "kind", s->kind);
  status = send_list(r, s, &q, NULL);
  free(q.data);
  return status;
}

static int get_brand_feedback(struct idl_req *r, json_t *args) {
  return get_feedback(r, args, &brand_feedback);
}

static int get_product_feedback(struct idl_req *r, json_t *args) {
  return get_feedback(r, args, &product_feedback);
}

static int open_ticket(struct idl_req *r, json_t *args) {
  return create(r, args, &tickets);
}

/* {"id", "resolved", "resolution"}: the tickets' own close. */
static int close_ticket(struct idl_req *r, json_t *args) {
  uint64_t id = 0;
  int status = need_id(r, args, "id", &id);
  if (status)
    return status;
  const struct idl_action *close = idl_tickets.actions;
  while (close->name && strcmp(close->name, "close"))
    close++;
  struct seed_write sw;
  begin_write(&sw, r, &tickets, IDL_WRITE_ACTION, id, args);
  sw.w.action = close;
  return run_write(r, &sw);
}

static int get_ticket(struct idl_req *r, json_t *args) {
  return get_one(r, args, &tickets);
}

/* The export of every row: the keys the seed sends (the name, surname and
 * email of who asks) choose nothing. */
static int export_customers(struct idl_req *r, json_t *args) {
  (void)args;
  return idl_http_export(r, &idl_customers, NULL);
}

static int export_products(struct idl_req *r, json_t *args) {
  (void)args;
  return idl_http_export(r, &idl_products, NULL);
}

/* ---------------------------------------------------------------- routing */

/* Adds each query parameter to args, but for the keys args has, as text
 * (valid UTF-8: a malformed byte becomes '?'). -1 without memory. */
static int add_query(json_t *args, const char *query) {
  struct idl_query_part part;
  for (const char *s = query; idl_query_next(&s, &part);) {
    char *name, *value, *clean = NULL;
    int nul;
    if (idl_query_part_decode(&part, &name, &nul, &value, &nul) ||
        !(clean = malloc(strlen(value) + 4))) {
      free(name);
      free(value);
      return -1;
    }
    if (*name && !json_object_get(args, name)) {
      idl_utf8_clean(value, clean, strlen(value) + 4);
      json_object_set_new(args, name, json_string(clean)); /* a bad name: not one of ours */
    }
    free(name);
    free(value);
    free(clean);
  }
  return 0;
}

/* The keys of the request: its JSON body's (an object), then the query's.
 * 0 with *out (the caller's), or the status of the error answered. */
static int read_args(struct idl_req *r, json_t **out) {
  const struct mg_request_info *ri = mg_get_request_info(r->conn);
  json_t *args = NULL;
  if (ri->content_length > 0 || mg_get_header(r->conn, "Transfer-Encoding")) {
    int status = idl_http_read_json(r, &args);
    if (status)
      return status;
  } else {
    args = json_object();
  }
  if (args && !json_is_object(args)) {
    struct idl_errors e = {0};
    idl_errors_add(&e, "non_field_errors", "Invalid data. Expected a dictionary, but got %s.",
                   idl_json_type_name(args));
    json_decref(args);
    int status = idl_http_send_errors(r, &e);
    idl_errors_fini(&e);
    return status;
  }
  if (!args || add_query(args, ri->query_string)) {
    json_decref(args);
    return idl_http_fail(r, IDL_ERR_NOMEM);
  }
  *out = args;
  return 0;
}

static const struct {
  const char *method;
  const char *allow; /* the Allow header of a 405: HEAD too for a GET that reads */
  const char *path;
  int (*fn)(struct idl_req *r, json_t *args);
  enum idl_role role; /* the token role it needs: the seed deletes with a GET too */
} routes[] = {
    {"POST", "POST", "/api/add/customer", add_customer, IDL_ROLE_WRITE},
    {"GET", "GET, HEAD", "/api/get/customer", get_customer, IDL_ROLE_READ},
    {"GET", "GET", "/api/delete/customer", delete_customer, IDL_ROLE_WRITE},
    {"POST", "POST", "/api/update/customer", update_customer, IDL_ROLE_WRITE},
    {"POST", "POST", "/api/add/product", add_product, IDL_ROLE_WRITE},
    {"GET", "GET, HEAD", "/api/get/product", get_product, IDL_ROLE_READ},
    {"POST", "POST", "/api/delete/product", delete_product, IDL_ROLE_WRITE},
    {"POST", "POST", "/api/update/product", update_product, IDL_ROLE_WRITE},
    {"POST", "POST", "/api/add/brand/feedback", add_brand_feedback, IDL_ROLE_WRITE},
    {"POST", "POST", "/api/add/product/feedback", add_product_feedback, IDL_ROLE_WRITE},
    {"GET", "GET, HEAD", "/api/get/brand/feedback", get_brand_feedback, IDL_ROLE_READ},
    {"GET", "GET, HEAD", "/api/get/product/feedback", get_product_feedback, IDL_ROLE_READ},
    {"POST", "POST", "/api/open/customer/request", open_ticket, IDL_ROLE_WRITE},
    {"POST", "POST", "/api/close/customer/request", close_ticket, IDL_ROLE_WRITE},
    {"GET", "GET, HEAD", "/api/get/customer/request", get_ticket, IDL_ROLE_READ},
    {"GET", "GET, HEAD", "/api/customer/export", export_customers, IDL_ROLE_READ},
    {"GET", "GET, HEAD", "/api/product/export", export_products, IDL_ROLE_READ},
};

size_t idl_http_seed_routes(size_t i, const char **method, const char **path) {
  size_t n = sizeof(routes) / sizeof(routes[0]);
  if (i < n) {
    *method = routes[i].method;
    *path = routes[i].path;
  }
  return n;
}

int idl_http_seed_role(const char *path, enum idl_role *role) {
  for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
    if (!strcmp(routes[i].path, path)) {
      *role = routes[i].role;
      return 1;
    }
  return 0;
}

int idl_http_seed_route(struct idl_req *r, const char *path) {
  size_t i = 0, n = sizeof(routes) / sizeof(routes[0]);
  while (i < n && strcmp(routes[i].path, path))
    i++;
  if (i == n)
    return 0;
  r->route = routes[i].path;
  if (strcmp(r->method, routes[i].method) &&
      !(!strcmp(r->method, "HEAD") && strstr(routes[i].allow, "HEAD")))
    return idl_http_not_allowed(r, routes[i].allow);
  json_t *args = NULL;
  int status = read_args(r, &args);
  if (!status)
    status = routes[i].fn(r, args);
  json_decref(args);
  return status;
}

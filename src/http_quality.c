/* Identity quality (SPEC section 10): DELETE /contacts/{id},
 * GET /identities/{id}/explain, GET /blocklist, GET /conflicts and
 * POST /erasure. */
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"
#include "idlink/blocklist.h"
#include "idlink/bridge.h"
#include "idlink/erasure.h"
#include "idlink/normalize.h"
#include "json.h"

int idl_handle_contact_delete(struct idl_req *r) {
  struct idl_deleted d;
  enum idl_err err = idl_service_delete_contact(r->svc, r->id, &d);
  if (err)
    return idl_http_fail(r, err);
  /* {"deleted": ID, "identities": [the contact objects, as texts]} */
  struct idl_text t = {0};
  char head[64];
  int n = snprintf(head, sizeof(head), "{\"deleted\":%llu,\"identities\":[",
                   (unsigned long long)r->id);
  idl_text_put(&t, head, (size_t)n);
  for (size_t i = 0; i < d.n; i++) {
    if (i)
      idl_text_put(&t, ",", 1);
    idl_text_put(&t, d.parts[i].json, d.parts[i].len);
  }
  idl_text_put(&t, "]}", 2);
  idl_deleted_fini(&d);
  if (t.failed) {
    free(t.data);
    return idl_http_fail(r, IDL_ERR_NOMEM);
  }
  return idl_http_send_text(r, 200, t.data, t.len);
}

/* --------------------------------------------------------------- explain */

struct explaining {
  uint64_t id;
  json_t *out;
};

static json_t *time_json(int64_t ms) {
  char buf[IDL_ISO_TIME_LEN + 1];
  idl_format_time(ms, buf);
  return json_string(buf);
}

static json_t *text_or_null(const char *s) {
  return *s ? json_string(s) : json_null();
}

static enum idl_err add_edge(const struct idl_link *l, void *arg) {
  static const char *const via[] = {"email", "phoneNumber", "bridge"};
  json_t *edges = arg;
  json_t *value = l->via != IDL_LINK_BRIDGE
                      ? json_string(l->value)
                      : json_pack("{s:s,s:s,s:o}", "email", l->bridge->email, "phoneNumber",
                                  l->bridge->phone, "at", time_json(l->bridge->at_ms));
  json_t *edge = json_pack("{s:I,s:I,s:s,s:o}", "from", (json_int_t)l->from, "to",
                           (json_int_t)l->to, "via", via[l->via], "value", value);
  return edge && !json_array_append_new(edges, edge) ? IDL_ERR_OK : IDL_ERR_NOMEM;
}

/* Whether change-log entry e is about one of the contacts ids (sorted). */
static int about(const struct idl_change *e, const struct idl_ids *ids) {
  if (e->kind == IDL_CHANGE_RECORD)
    return 0;
  int hit = bsearch(&e->primary, ids->v, ids->n, sizeof(*ids->v), idl_cmp_leading_id) ||
            bsearch(&e->contact, ids->v, ids->n, sizeof(*ids->v), idl_cmp_leading_id);
  for (size_t i = 0; !hit && i < e->absorbed.n; i++)
    hit = bsearch(&e->absorbed.v[i], ids->v, ids->n, sizeof(*ids->v), idl_cmp_leading_id) !=
          NULL;
  return hit;
}

/* The change-log entries about ids, oldest first, as far as the log keeps
 * them: one pass over the log, a page at a time. */
static enum idl_err history(struct idl_txn *txn, const struct idl_ids *ids, json_t *out) {
  enum { PAGE = 1024 };
  uint64_t after = 0;
  enum idl_err err = IDL_ERR_OK;
  for (;;) {
    struct idl_change *page = NULL;
    size_t n = 0;
    if ((err = idl_store_changes(txn, after, PAGE, &page, &n)))
      return err;
    for (size_t i = 0; i < n; i++) {
      if (!err && about(&page[i], ids) && json_array_append_new(out, idl_json_change(&page[i])))
        err = IDL_ERR_NOMEM;
      after = page[i].seq;
      idl_change_fini(&page[i]);
    }
    free(page);
    if (err || n < PAGE)
      return err;
  }
}

static enum idl_err explain(struct idl_txn *txn, void *arg) {
  struct explaining *x = arg;
  struct idl_identity ident;
  enum idl_err err = idl_identity_of_contact(txn, x->id, &ident);
  if (err)
    return err;
  json_t *contacts = json_array(), *edges = json_array(), *log = json_array();
  struct idl_ids ids = {0};
  for (size_t i = 0; i < ident.n && !err; i++) {
    const struct idl_contact *c = &ident.c[i];
    json_t *o = json_pack("{s:I,s:o,s:o,s:s,s:o}", "id", (json_int_t)c->id, "email",
                          text_or_null(c->email), "phoneNumber", text_or_null(c->phone),
                          "linkPrecedence", c->precedence == IDL_PRIMARY ? "primary"
                                                                         : "secondary",
                          "createdAt", time_json(c->created_ms));
    if (!o || json_array_append_new(contacts, o) || idl_ids_push(&ids, c->id))
      err = IDL_ERR_NOMEM;
  }
  uint64_t primary = ident.n ? ident.c[0].id : 0;
  /* The links want the contacts by id; the primary leads only the list. */
  size_t *comp = malloc((ident.n ? ident.n : 1) * sizeof(*comp));
  if (!err && !comp)
    err = IDL_ERR_NOMEM;
  if (!err) {
    idl_contacts_sort(ident.c, ident.n);
    idl_ids_sort(&ids);
    err = idl_links_components(txn, ident.c, ident.n, comp, add_edge, edges);
  }
  if (!err)
    err = history(txn, &ids, log);
  if (!err && !(x->out = json_pack("{s:I,s:o,s:o,s:o}", "primaryContactId",
                                   (json_int_t)primary, "contacts", contacts, "edges", edges,
                                   "history", log)))
    err = IDL_ERR_NOMEM;
  if (err) {
    json_decref(contacts);
    json_decref(edges);
    json_decref(log);
  }
  free(comp);
  idl_ids_fini(&ids);
  idl_identity_fini(&ident);
  return err;
}

int idl_handle_explain(struct idl_req *r) {
  struct explaining x = {r->id, NULL};
  enum idl_err err = idl_service_read(r->svc, explain, &x);
  if (err)
    return idl_http_fail(r, err);
  return idl_http_send(r, 200, x.out);
}

/* ------------------------------------------------------------- blocklist */

int idl_handle_blocklist(struct idl_req *r) {
  const struct idl_blocklist *bl = idl_service_blocklist(r->svc);
  json_t *rules = json_array();
  for (size_t i = 0; rules && i < idl_blocklist_count(bl); i++) {
    const struct idl_block_rule *rule = idl_blocklist_rule(bl, i);
    json_array_append_new(rules, json_pack("{s:s,s:s,s:s}", "kind",
                                           rule->kind == IDL_INDEX_EMAIL ? "email" : "phone",
                                           "pattern", rule->pattern, "source", rule->source));
  }
  return idl_http_send(r, 200, json_pack("{s:o}", "rules", rules));
}

/* GET /conflicts: the hub guard's refusals, in section 7's paged form. */
int idl_handle_conflicts(struct idl_req *r) {
  return idl_http_list(r, idl_resource_find("conflicts"));
}

/* --------------------------------------------------------------- erasure */

/* Reads {"email"}, {"phoneNumber"} or {"contactId"}: exactly one, valid.
 * Returns 0 with req filled (its value in buf), or the status answered. */
static int erase_request(struct idl_req *r, struct idl_erase_request *req, char *buf) {
  json_t *body = NULL;
  int status = idl_http_read_json(r, &body);
  if (status)
    return status;
  enum idl_err err = IDL_ERR_OK;
  static const char *const keys[] = {"email", "phoneNumber", "contactId"};
  const json_t *v[3];
  int given = 0;
  /* null, and an empty string, count as absent (SPEC section 2). */
  for (int i = 0; i < 3; i++) {
    v[i] = json_object_get(body, keys[i]);
    if (json_is_null(v[i]) || (json_is_string(v[i]) && !json_string_length(v[i])))
      v[i] = NULL;
    given += v[i] != NULL;
  }
  if (given != 1) {
    json_decref(body);
    return idl_http_send(r, 400, json_pack("{s:[s]}", "non_field_errors",
                                           "Send exactly one of email, phoneNumber and "
                                           "contactId."));
  }
  const char *field = NULL, *message = NULL;
  memset(req, 0, sizeof(*req));
  if (v[0]) {
    field = "email";
    req->which = IDL_INDEX_EMAIL;
    if (!idl_json_email(v[0], buf, &err) || err || !*buf)
      message = "Enter a valid email address.";
  } else if (v[1]) {
    field = "phoneNumber";
    req->which = IDL_INDEX_PHONE;
    if (!idl_json_phone(v[1], buf, &err) || err || !*buf)
      message = "Enter a valid phone number.";
  } else {
    field = "contactId";
    json_int_t id = json_is_integer(v[2]) ? json_integer_value(v[2]) : 0;
    if (id < 1)
      message = "A valid positive integer is required.";
    req->contact = (uint64_t)id;
  }
  json_decref(body);
  req->value = buf;
  /* A junk value (such as test@test.com) names no one. */
  if (!message && !req->contact &&
      idl_blocklist_blocks(idl_service_blocklist(r->svc), req->which, buf))
    message = "This value is on the blocklist: it names no one. Erase by contactId.";
  if (message)
    return idl_http_send(r, 400, json_pack("{s:[s]}", field, message));
  return 0;
}

int idl_handle_erasure(struct idl_req *r) {
  struct idl_erase_request req;
  char value[IDL_EMAIL_MAX_BYTES + 1] = "";
  int status = erase_request(r, &req, value);
  if (status)
    return status;
  struct idl_erasure out;
  enum idl_err err = idl_service_erase(r->svc, &req, &out);
  if (err)
    return idl_http_fail(r, err);
  return idl_http_send(r, 200, json_pack("{s:{s:I,s:I,s:I,s:I}}", "erased", "contacts",
                                         (json_int_t)out.contacts, "customers",
                                         (json_int_t)out.customers, "feedback",
                                         (json_int_t)out.feedback, "tickets",
                                         (json_int_t)out.tickets));
}

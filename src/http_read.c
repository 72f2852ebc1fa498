/* The read-only resources: GET /contacts/{id}, /identities/{id}, /changes
 * and /healthz. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"
#include "idlink/metrics.h"
#include "json.h"
#include "record_internal.h"

#define CHANGES_DEFAULT_LIMIT 100
#define CHANGES_MAX_LIMIT 1000

int idl_handle_contact(struct idl_req *r) {
  struct idl_contact c;
  enum idl_err err = idl_service_contact(r->svc, r->id, &c);
  if (err)
    return idl_http_fail(r, err);
  return idl_http_send(r, 200, idl_json_contact(&c));
}

int idl_handle_identity(struct idl_req *r) {
  struct idl_identity_text ident;
  enum idl_err err = idl_service_identity(r->svc, r->id, &ident);
  if (err)
    return idl_http_fail(r, err);
  int status = idl_http_send_identity(r, &ident, IDL_FRAME_CONTACT);
  idl_identity_text_fini(&ident);
  return status;
}

/* Reads query parameter name as a decimal integer >= min into *out (left as
 * it is when the parameter is absent); one past INT64_MAX, however large, is
 * read as INT64_MAX (past every sequence number, over every limit). Adds a
 * field error when it is not a number. */
static void query_uint(const char *query, const char *name, uint64_t min, uint64_t *out,
                       json_t **errors) {
  char buf[128];
  int len = query ? mg_get_var(query, strlen(query), name, buf, sizeof(buf)) : -1;
  if (len == -1)
    return;
  char *end = NULL;
  unsigned long long v = 0;
  errno = 0;
  if (len > 0 && buf[0] >= '0' && buf[0] <= '9')
    v = strtoull(buf, &end, 10);
  /* end must reach the decoded length: a %00 inside the value ends the
   * string early, and "5%00x" is no integer. */
  if (len <= 0 || !end || end != buf + len || v < min) {
    if (!*errors)
      *errors = json_object();
    json_object_set_new(*errors, name,
                        json_pack("[s]", min ? "Ensure this value is a positive integer."
                                             : "A valid integer is required."));
    return;
  }
  *out = errno == ERANGE || v > INT64_MAX ? INT64_MAX : v;
}

int idl_handle_changes(struct idl_req *r) {
  const char *query = mg_get_request_info(r->conn)->query_string;
  uint64_t after = 0, limit = CHANGES_DEFAULT_LIMIT;
  json_t *errors = NULL;
  query_uint(query, "after", 0, &after, &errors);
  query_uint(query, "limit", 1, &limit, &errors);
  if (errors)
    return idl_http_send(r, 400, errors);
  if (limit > CHANGES_MAX_LIMIT)
    limit = CHANGES_MAX_LIMIT;
  struct idl_change *changes;
  size_t n;
  uint64_t last_seq;
  enum idl_err err = idl_service_changes(r->svc, after, limit, &changes, &n, &last_seq);
  if (err)
    return idl_http_fail(r, err);
  json_t *results = json_array();
  for (size_t i = 0; i < n; i++) {
    json_array_append_new(results, idl_json_change(&changes[i]));
    idl_change_fini(&changes[i]);
  }
  free(changes);
  return idl_http_send(r, 200,
                       json_pack("{s:o, s:I}", "results", results, "last_seq",
                                 (json_int_t)last_seq));
}

int idl_handle_healthz(struct idl_req *r) {
  struct idl_service_health h;
  enum idl_err err = idl_service_health(r->svc, &h);
  if (err)
    return idl_http_fail(r, err);
  json_t *body = json_pack("{s:s, s:I, s:I, s:I}", "status", "ok", "contacts",
                           (json_int_t)h.store.contacts, "last_seq",
                           (json_int_t)h.store.last_seq, "next_id",
                           (json_int_t)h.store.next_id);
  json_t *mirror = h.mirrored
      ? json_pack("{s:s, s:I, s:I, s:f, s:o, s:I}", "state",
                  idl_mirror_state_name(h.mirror.state), "applied_seq",
                  (json_int_t)h.mirror.applied_seq, "lag_entries",
                  (json_int_t)h.mirror_lag_entries, "lag_seconds", h.mirror_lag_seconds,
                  "lag_p99_ms", h.mirror.lag_p99_ms < 0 ? json_null()
                                                        : json_real(h.mirror.lag_p99_ms),
                  "full_syncs", (json_int_t)h.mirror.full_syncs)
      : json_pack("{s:s}", "state", "off");
  if (body)
    json_object_set_new(body, "mirror", mirror);
  return idl_http_send(r, 200, body);
}

/* GET /metrics: Prometheus' text format (SPEC section 11). */
struct record_counts {
  const char *names[32];
  uint64_t counts[32];
  size_t n;
};

static enum idl_err count_records(struct idl_txn *txn, void *arg) {
  struct record_counts *rc = arg;
  enum idl_err err = IDL_ERR_OK;
  for (size_t t = 0; t < idl_n_resources && t < 32 && !err; t++, rc->n++) {
    rc->names[t] = idl_resources[t]->name;
    err = idl_table_count(txn, t, &rc->counts[t]);
  }
  return err;
}

int idl_handle_metrics(struct idl_req *r) {
  struct idl_service_health h;
  struct record_counts rc = {.n = 0};
  enum idl_err err = idl_service_health(r->svc, &h);
  if (!err)
    err = idl_service_read(r->svc, count_records, &rc);
  if (err)
    return idl_http_fail(r, err);
  struct idl_metrics_gauges g = {
      .contacts = h.store.contacts,
      .deleted_contacts = h.store.deleted,
      .identities = h.store.contacts - h.store.deleted - h.store.secondaries,
      .collections = rc.names,
      .records = rc.counts,
      .n_collections = rc.n,
      .map_bytes = h.store.map_size,
      .used_bytes = h.store.used_bytes,
      .mirrored = h.mirrored,
      .mirror_lag_entries = h.mirror_lag_entries,
      .mirror_lag_seconds = h.mirror_lag_seconds,
  };
  size_t len = 0;
  char *text = idl_metrics_render(&g, &len);
  if (!text)
    return idl_http_fail(r, IDL_ERR_NOMEM);
  char head[160];
  int n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: text/plain; "
                   "version=0.0.4; charset=utf-8\r\nContent-Length: %zu\r\n\r\n", len);
  idl_http_write(r, head, (size_t)n);
  if (!r->head_only)
    idl_http_write(r, text, len);
  free(text);
  return 200;
}

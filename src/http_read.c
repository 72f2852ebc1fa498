/* The read-only resources: GET /contacts/{id}, /identities/{id}, /changes
 * and /healthz. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"
#include "json.h"

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
 * it is when the parameter is absent). Adds a field error when it is not one. */
static void query_uint(const char *query, const char *name, uint64_t min, uint64_t *out,
                       json_t **errors) {
  char buf[32];
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
  if (len <= 0 || !end || end != buf + len || v < min || errno == ERANGE || v > INT64_MAX) {
    if (!*errors)
      *errors = json_object();
    json_object_set_new(*errors, name,
                        json_pack("[s]", min ? "Ensure this value is a positive integer."
                                             : "A valid integer is required."));
    return;
  }
  *out = v;
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

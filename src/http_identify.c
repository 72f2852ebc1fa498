/* POST /identify, POST /api/create/ and POST /api/identify/: parse, call the
 * core, render. */
#include "http_internal.h"
#include "json.h"

/* Parses the body and reconciles it; returns 0 with out filled, or the status
 * already answered. */
static int reconcile(struct idl_req *r, struct idl_reconciled *out) {
  struct idl_request req;
  int status = idl_http_read_request(r, &req);
  if (status)
    return status;
  enum idl_err err = idl_service_reconcile(r->svc, &req, out);
  return err ? idl_http_fail(r, err) : 0;
}

int idl_handle_identify(struct idl_req *r) {
  struct idl_reconciled out;
  int status = reconcile(r, &out);
  if (status)
    return status;
  status = idl_http_send_identity(r, &out.identity, IDL_FRAME_CONTACT);
  idl_identity_text_fini(&out.identity);
  return status;
}

int idl_handle_create(struct idl_req *r) {
  struct idl_reconciled out;
  int status = reconcile(r, &out);
  if (status)
    return status;
  uint64_t primary = out.identity.primary;
  idl_identity_text_fini(&out.identity);
  if (out.created_id)
    return idl_http_send(r, 201,
                         json_pack("{s:s, s:I}", "detail", "Successfully Created !!",
                                   "Contact_id", (json_int_t)out.created_id));
  return idl_http_send(r, 200,
                       json_pack("{s:s, s:I}", "detail", "Contact already exists",
                                 "Contact_id", (json_int_t)primary));
}

int idl_handle_lookup(struct idl_req *r) {
  struct idl_request req;
  int status = idl_http_read_request(r, &req);
  if (status)
    return status;
  struct idl_identity_text ident;
  enum idl_err err = idl_service_lookup(r->svc, &req, &ident);
  if (err)
    return idl_http_fail(r, err);
  status = idl_http_send_identity(r, &ident, IDL_FRAME_CUSTOMER);
  idl_identity_text_fini(&ident);
  return status;
}

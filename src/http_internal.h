/* Shared by the http*.c files only. */
#ifndef IDLINK_HTTP_INTERNAL_H
#define IDLINK_HTTP_INTERNAL_H

#include <civetweb.h>
#include <jansson.h>
#include <stdint.h>

#include "idlink/http.h"
#include "idlink/json.h"

/* What a handler gets: the connection, the service, and for routes ending in
 * an id, that id. */
struct idl_req {
  struct mg_connection *conn;
  struct idl_service *svc;
  size_t max_body;
  uint64_t id;
};

typedef int (*idl_handler)(struct idl_req *r);

/* Sends body (consumed) with status. Returns status, for handlers to return. */
int idl_http_send(struct mg_connection *conn, int status, json_t *body);

/* Sends len bytes of JSON text (taken over: freed here) with status. */
int idl_http_send_text(struct mg_connection *conn, int status, char *text, size_t len);

/* Sends ident framed as frame with 200; a failure to render answers 500. */
int idl_http_send_identity(struct mg_connection *conn, const struct idl_identity *ident,
                           enum idl_identity_frame frame);

/* Sends {"detail": message} with status. */
int idl_http_detail(struct mg_connection *conn, int status, const char *message);

/* Sends the status and message of a failed core call. */
int idl_http_fail(struct mg_connection *conn, enum idl_err err);

/* Reads the request body as JSON for an identify call: checks its type and
 * size, parses and normalizes. Returns 0 with req filled, or the status of
 * the error it has already answered. */
int idl_http_read_request(struct idl_req *r, struct idl_request *req);

/* Handlers, one file per resource. */
int idl_handle_identify(struct idl_req *r);
int idl_handle_create(struct idl_req *r);
int idl_handle_lookup(struct idl_req *r);
int idl_handle_contact(struct idl_req *r);
int idl_handle_identity(struct idl_req *r);
int idl_handle_changes(struct idl_req *r);
int idl_handle_healthz(struct idl_req *r);

#endif

/* JSON in and out, in one place: request bodies to idl_request, and the
 * rendering of identities, contacts and change-log entries (SPEC section 3). */
#ifndef IDLINK_JSON_H
#define IDLINK_JSON_H

#include <jansson.h>

#include "idlink/codec.h"
#include "idlink/identity.h"

/* Parses an identify body (len bytes, not necessarily NUL-terminated) into req.
 * An empty body is an empty object. On a client error returns IDL_ERR_INVAL
 * and sets *error to the DRF-shaped body to answer with (the caller owns it). */
enum idl_err idl_json_parse_request(const char *body, size_t len, struct idl_request *req,
                                    json_t **error);

/* {"detail": message}, printf-style. Returns a new reference, NULL without memory. */
json_t *idl_json_detail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Section 2's "contact" object of ident. New reference. */
json_t *idl_json_identity(const struct idl_identity *ident);

/* A contact row as GET /contacts/{id} shows it. New reference. */
json_t *idl_json_contact(const struct idl_contact *c);

/* A change-log entry as GET /changes lists it. New reference. */
json_t *idl_json_change(const struct idl_change *c);

#endif

/* Private: names jansson. JSON in and out, in one place: request bodies to idl_request, and the
 * rendering of identities, contacts and change-log entries (SPEC section 3). */
#ifndef IDLINK_JSON_INTERNAL_H
#define IDLINK_JSON_INTERNAL_H

#include <jansson.h>
#include <string.h>

#include "idlink/codec.h"
#include "idlink/identity.h"

/* Parses an identify body (len bytes, not necessarily NUL-terminated) into req.
 * An empty body is an empty object. On a client error returns IDL_ERR_INVAL
 * and sets *error to the DRF-shaped body to answer with (the caller owns it). */
enum idl_err idl_json_parse_request(const char *body, size_t len, struct idl_request *req,
                                    json_t **error);

/* The 400 body of a body that is not JSON: {"detail": "JSON parse error -
 * <what> at line L column C"}, valid UTF-8 whatever the input was. New
 * reference. */
json_t *idl_json_parse_error(const json_error_t *jerr);

/* Parses a request body (len bytes) as JSON, any value; an empty body is an
 * empty object. Nesting deeper than the parser's stack allows is refused
 * before parsing. On a client error returns IDL_ERR_INVAL with *error the
 * 400 body (the caller owns it); else *out is the caller's. */
enum idl_err idl_json_parse_body(const char *body, size_t len, json_t **out, json_t **error);

/* A growable text buffer: zero-initialize, idl_text_put, then own data
 * (free()). On allocation failure it stops growing and sets failed. */
struct idl_text {
  char *data;
  size_t len, cap;
  int failed;
};

/* Makes room for n more bytes and the NUL; 0 once an allocation failed. */
int idl_text_reserve(struct idl_text *t, size_t n);

/* Inline: a page of records is a thousand small puts. */
static inline void idl_text_put(struct idl_text *t, const char *s, size_t n) {
  if (t->len + n + 1 > t->cap && !idl_text_reserve(t, n))
    return;
  memcpy(t->data + t->len, s, n);
  t->len += n;
  t->data[t->len] = '\0';
}

/* v in decimal, as jansson writes integers. */
void idl_text_put_int(struct idl_text *t, int64_t v);

/* s (len bytes of valid UTF-8) as a JSON string, escaped as jansson escapes
 * it, so that text written directly reads as a dumped json_t does. */
void idl_text_put_json_string(struct idl_text *t, const char *s, size_t len);

/* The email or phone that JSON value j holds, normalized into out as SPEC
 * section 2 says (a phone may also be a JSON integer). Returns 0 when j is
 * of no type that holds one (NULL and null included), else 1 with *err the
 * outcome: IDL_ERR_OK, IDL_ERR_NOTFOUND for an empty one, IDL_ERR_INVAL. */
int idl_json_email(const json_t *j, char *out, enum idl_err *err);
int idl_json_phone(const json_t *j, char *out, enum idl_err *err);

/* How every answer's JSON is dumped. */
#define IDL_JSON_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(6))

/* Python's name of a JSON value's type ("list", "str", "int", "float",
 * "bool", "NoneType", "dict"), as DRF's messages use them. */
const char *idl_json_type_name(const json_t *v);

/* {"detail": message}, printf-style. Returns a new reference, NULL without memory. */
json_t *idl_json_detail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* How idl_json_identity_text frames section 2's "contact" object. */
enum idl_identity_frame {
  IDL_FRAME_BARE,     /* the object itself (the Redis mirror's value) */
  IDL_FRAME_CONTACT,  /* {"contact": ...} (POST /identify, GET /identities/{id}) */
  IDL_FRAME_CUSTOMER, /* {"customerID": "ID", "contact": ...} (POST /api/identify/) */
};

/* Renders ident as compact JSON text into a new NUL-terminated buffer *out
 * (free with free()) of *len bytes. This is the hot path of every identify
 * answer, so it writes text directly instead of building a json_t tree. */
enum idl_err idl_json_identity_text(const struct idl_identity *ident,
                                    enum idl_identity_frame frame, char **out, size_t *len);

/* A contact row as GET /contacts/{id} shows it. New reference. */
json_t *idl_json_contact(const struct idl_contact *c);

/* A change-log entry as GET /changes lists it. New reference. */
json_t *idl_json_change(const struct idl_change *c);

#endif

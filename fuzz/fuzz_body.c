/* The request-body reader: idl_json_parse_request (the identify body) and
 * idl_json_parse_body (any collection's body) over the input as it came off
 * the wire, not NUL-terminated. Checks what json.h promises: an error comes
 * with its 400 body, a parsed body nests no deeper than the parser allows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* As json.c refuses: bodies nest no deeper than this. */
#define MAX_DEPTH 32

static int depth(const json_t *j) {
  int d = 0;
  if (json_is_object(j)) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)j, key, v) {
      int k = depth(v);
      d = k > d ? k : d;
    }
    return d + 1;
  }
  if (json_is_array(j)) {
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v) {
      int k = depth(v);
      d = k > d ? k : d;
    }
    return d + 1;
  }
  return 0;
}

/* An error body must be a JSON object that renders (jansson refuses text
 * that is not UTF-8, which would leave the client without an answer). */
static void check_error(const char *what, json_t *error) {
  char *text = error ? json_dumps(error, JSON_COMPACT) : NULL;
  if (!json_is_object(error) || !text) {
    fprintf(stderr, "fuzz: %s refused the body without a valid error body\n", what);
    abort();
  }
  free(text);
  json_decref(error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *body = (const char *)data;
  struct idl_request req;
  memset(&req, 0x55, sizeof(req));
  json_t *error = NULL;
  if (idl_json_parse_request(body, size, &req, &error)) {
    check_error("idl_json_parse_request", error);
  } else if (error || (!req.email[0] && !req.phone[0]) ||
             !memchr(req.email, '\0', sizeof(req.email)) ||
             !memchr(req.phone, '\0', sizeof(req.phone))) {
    fprintf(stderr, "fuzz: idl_json_parse_request accepted a request without a value\n");
    abort();
  }

  json_t *out = NULL;
  error = NULL;
  if (idl_json_parse_body(body, size, &out, &error)) {
    check_error("idl_json_parse_body", error);
  } else {
    if (!out || error || depth(out) > MAX_DEPTH) {
      fprintf(stderr, "fuzz: idl_json_parse_body accepted a body nested %d deep\n",
              out ? depth(out) : -1);
      abort();
    }
    json_decref(out);
  }
  return 0;
}

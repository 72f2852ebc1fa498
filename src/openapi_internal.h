/* The OpenAPI 3.1 document of GET /openapi.json (SPEC section 11), and the
 * route tables it is built from: the router's own, read in place, so the
 * document lists exactly the routes the router serves. Private: names
 * jansson. */
#ifndef IDLINK_OPENAPI_INTERNAL_H
#define IDLINK_OPENAPI_INTERNAL_H

#include <jansson.h>
#include <stddef.h>

struct idl_route;

/* The document, built from the route tables below and from every
 * collection of idl_resources that offers routes (its paths, filters,
 * bodies and answers from its field table). A new reference the caller
 * decrefs; NULL without memory. Safe on any thread: it reads constant
 * tables only. */
json_t *idl_openapi_document(void);

/* The fixed routes of http.c (its routes[] table): *out points at them,
 * constant for the life of the program; returns how many there are. */
size_t idl_http_routes(const struct idl_route **out);

/* Seed 003's routes (http_seed.c's table): returns how many there are and,
 * when i is below that, sets *method and *path (constant strings) to route
 * i's. */
size_t idl_http_seed_routes(size_t i, const char **method, const char **path);

#endif

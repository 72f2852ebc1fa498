/* Seed 003's own routes (SPEC section 9): thin aliases over the handlers of
 * the /api/v1/ collections, in the seed's shapes. */
#include "http_internal.h"

int idl_http_seed_route(struct idl_req *r, const char *path) {
  (void)r;
  (void)path;
  return 0;
}

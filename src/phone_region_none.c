/* idlink built without libphonenumber: --phone-region is not built in. */
#include "idlink/phone_region.h"

int idl_phone_region_built_in(void) { return 0; }

int idl_phone_region_known(const char *region) {
  (void)region;
  return 0;
}

enum idl_err idl_phone_region_e164(const char *region, const char *in, size_t len, char *out) {
  (void)region;
  (void)in;
  (void)len;
  (void)out;
  return IDL_ERR_INVAL;
}

/* Phones as E.164 in a region (SPEC section 10's --phone-region), through
 * libphonenumber: a C++ library behind this C header (phone_region.cc),
 * built only when Debian's libphonenumber-dev is found; without it
 * (phone_region_none.c) every call says it is not built in. */
#ifndef IDLINK_PHONE_REGION_H
#define IDLINK_PHONE_REGION_H

#include <stddef.h>

#include "idlink/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether idlink was built with libphonenumber. */
int idl_phone_region_built_in(void);

/* Whether region (ISO 3166 alpha-2, e.g. "TR") is one libphonenumber knows. */
int idl_phone_region_known(const char *region);

/* Parses the phone in (len bytes) as dialled in region and writes it as
 * E.164 ("+905555555555") into out (IDL_PHONE_MAX_BYTES + 1 bytes).
 * IDL_ERR_INVAL when it is not a valid number there. */
enum idl_err idl_phone_region_e164(const char *region, const char *in, size_t len, char *out);

#ifdef __cplusplus
}
#endif

#endif

/* Normalization of request values (SPEC section 2), before matching and storing. */
#ifndef IDLINK_NORMALIZE_H
#define IDLINK_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

#include "idlink/err.h"

/* Normalizes the email in, len bytes of UTF-8 (not necessarily NUL-terminated):
 * trims surrounding white space and lowercases ASCII letters. Writes the result,
 * NUL-terminated, into out, which holds IDL_EMAIL_MAX_BYTES + 1 bytes.
 * Returns IDL_ERR_OK; IDL_ERR_NOTFOUND when nothing is left (absent);
 * IDL_ERR_INVAL when the email is not valid (out is then unspecified). */
enum idl_err idl_normalize_email(const char *in, size_t len, char *out);

/* Normalizes a phone given as a string: trims, drops spaces, '-', '.', '(' and ')',
 * keeps one leading '+'; 1 to 20 digits must remain. out holds
 * IDL_PHONE_MAX_BYTES + 1 bytes. Returns as idl_normalize_email. */
enum idl_err idl_normalize_phone(const char *in, size_t len, char *out);

/* Phones are parsed as dialled in region (--phone-region: ISO 3166 alpha-2)
 * and kept as E.164, or, with NULL or "", kept as section 2 says. Set once
 * at start. IDL_ERR_INVAL when libphonenumber is not built in or does not
 * know the region. */
enum idl_err idl_normalize_set_phone_region(const char *region);

/* The region set, "" when none. */
const char *idl_normalize_phone_region(void);

/* A phone given as a JSON integer: its decimal digits. IDL_ERR_INVAL when
 * negative. */
enum idl_err idl_normalize_phone_int(int64_t value, char *out);

/* Copies the NUL-terminated in into out (cap bytes, cap >= 4) as valid UTF-8:
 * each malformed or cut sequence becomes '?', and the copy is cut, if it must
 * be, between two characters. Returns the bytes written, less the NUL. */
size_t idl_utf8_clean(const char *in, char *out, size_t cap);

/* Whether len bytes of in are well-formed UTF-8: no overlong form, no
 * surrogate, nothing past U+10FFFF. */
int idl_utf8_valid(const char *in, size_t len);

#endif

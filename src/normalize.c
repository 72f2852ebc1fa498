/* Email and phone normalization. The input has been validated as UTF-8 by the
 * JSON parser; the functions here still refuse malformed sequences. */
#include "idlink/normalize.h"

#include "idlink/phone_region.h"

#include <stdio.h>
#include <string.h>

#include "idlink/contact.h"

/* Decodes one UTF-8 code point at s[*i]; advances *i. Returns -1 when malformed. */
static long utf8_next(const unsigned char *s, size_t len, size_t *i) {
  unsigned char c = s[*i];
  int extra = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2
                           : (c & 0xF8) == 0xF0 ? 3 : -1;
  if (extra < 0 || *i + (size_t)extra >= len + (extra == 0))
    return -1;
  long cp = extra == 0 ? c : c & (0x3F >> extra);
  for (int k = 1; k <= extra; k++) {
    if ((s[*i + k] & 0xC0) != 0x80)
      return -1;
    cp = (cp << 6) | (s[*i + k] & 0x3F);
  }
  *i += (size_t)extra + 1;
  return cp;
}

/* White space in the sense of Unicode's White_Space property. */
static int is_space_cp(long cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 ||
         cp == 0xFEFF;
}

static int is_control_cp(long cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

/* Narrows [*start, *end) past leading and trailing white space. Returns -1 on
 * malformed UTF-8. */
static int trim(const char *in, size_t len, size_t *start, size_t *end) {
  const unsigned char *s = (const unsigned char *)in;
  size_t i = 0, first = len, last = 0;
  while (i < len) {
    size_t at = i;
    long cp = utf8_next(s, len, &i);
    if (cp < 0)
      return -1;
    if (!is_space_cp(cp)) {
      if (first == len)
        first = at;
      last = i;
    }
  }
  *start = first == len ? 0 : first;
  *end = first == len ? 0 : last;
  return 0;
}

enum idl_err idl_normalize_email(const char *in, size_t len, char *out) {
  size_t start, end;
  if (trim(in, len, &start, &end) < 0)
    return IDL_ERR_INVAL;
  if (start == end)
    return IDL_ERR_NOTFOUND;
  const unsigned char *s = (const unsigned char *)in;
  size_t chars = 0, ats = 0, at_pos = 0, o = 0;
  for (size_t i = start; i < end;) {
    size_t at = i;
    long cp = utf8_next(s, end, &i);
    if (cp < 0 || is_space_cp(cp) || is_control_cp(cp) || ++chars > IDL_EMAIL_MAX_CHARS)
      return IDL_ERR_INVAL;
    if (cp == '@') {
      ats++;
      at_pos = chars;
    }
    for (size_t k = at; k < i; k++)
      out[o++] = (char)((s[k] >= 'A' && s[k] <= 'Z') ? s[k] + ('a' - 'A') : s[k]);
  }
  out[o] = '\0';
  /* Exactly one '@', with something on either side of it. */
  if (ats != 1 || at_pos == 1 || at_pos == chars)
    return IDL_ERR_INVAL;
  return IDL_ERR_OK;
}

static enum idl_err normalize_digits(const char *in, size_t len, char *out);

/* --phone-region: set once at start, before any thread reads it. */
static char phone_region[3];

enum idl_err idl_normalize_set_phone_region(const char *region) {
  if (!region || !*region) {
    phone_region[0] = '\0';
    return IDL_ERR_OK;
  }
  if (!idl_phone_region_built_in() || strlen(region) != 2 || !idl_phone_region_known(region))
    return IDL_ERR_INVAL;
  memcpy(phone_region, region, 3);
  return IDL_ERR_OK;
}

const char *idl_normalize_phone_region(void) {
  return phone_region;
}

/* The phone as E.164 when a region is set (libphonenumber's rules); else
 * the digits as section 2 keeps them. */
static enum idl_err region_phone(const char *in, size_t len, char *out) {
  return *phone_region ? idl_phone_region_e164(phone_region, in, len, out) : IDL_ERR_OK;
}

enum idl_err idl_normalize_phone(const char *in, size_t len, char *out) {
  enum idl_err err = normalize_digits(in, len, out);
  return err ? err : region_phone(in, len, out);
}

static enum idl_err normalize_digits(const char *in, size_t len, char *out) {
  size_t start, end;
  if (trim(in, len, &start, &end) < 0)
    return IDL_ERR_INVAL;
  if (start == end)
    return IDL_ERR_NOTFOUND;
  size_t o = 0, digits = 0;
  for (size_t i = start; i < end; i++) {
    char c = in[i];
    if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')')
      continue;
    if (c == '+' && o == 0 && i == start) {
      out[o++] = '+';
    } else if (c >= '0' && c <= '9' && digits < IDL_PHONE_MAX_DIGITS) {
      out[o++] = c;
      digits++;
    } else {
      return IDL_ERR_INVAL;
    }
  }
  out[o] = '\0';
  return digits >= 1 ? IDL_ERR_OK : IDL_ERR_INVAL;
}

enum idl_err idl_normalize_phone_int(int64_t value, char *out) {
  if (value < 0)
    return IDL_ERR_INVAL;
  /* INT64_MAX has 19 digits: always within the 20-digit bound. */
  snprintf(out, IDL_PHONE_MAX_BYTES + 1, "%lld", (long long)value);
  char digits[IDL_PHONE_MAX_BYTES + 1];
  memcpy(digits, out, sizeof(digits));
  return region_phone(digits, strlen(digits), out);
}

int idl_utf8_valid(const char *in, size_t len) {
  static const long least[] = {0, 0x80, 0x800, 0x10000}; /* by extra bytes */
  const unsigned char *s = (const unsigned char *)in;
  for (size_t i = 0; i < len;) {
    size_t at = i;
    long cp = utf8_next(s, len, &i);
    /* Not a character: a broken sequence, an overlong form, a surrogate, or
     * past U+10FFFF. */
    if (cp < 0 || cp < least[i - at - 1] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return 0;
  }
  return 1;
}

size_t idl_utf8_clean(const char *in, char *out, size_t cap) {
  const unsigned char *s = (const unsigned char *)in;
  size_t len = strlen(in), i = 0, o = 0;
  while (i < len) {
    size_t at = i;
    long cp = utf8_next(s, len, &i);
    if (cp < 0)
      i = at + 1; /* one byte at a time past what does not decode */
    size_t n = cp < 0 ? 1 : i - at;
    if (o + n + 1 > cap)
      break;
    if (cp < 0)
      out[o] = '?';
    else
      memcpy(out + o, in + at, n);
    o += n;
  }
  out[o] = '\0';
  return o;
}

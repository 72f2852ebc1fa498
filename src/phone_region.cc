// Phones as E.164 through libphonenumber (SPEC section 10's --phone-region):
// the only C++ in idlink, behind include/idlink/phone_region.h.
#include "idlink/phone_region.h"

#include <cstring>
#include <set>
#include <string>

#include <phonenumbers/phonenumberutil.h>

#include "idlink/contact.h"

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

extern "C" int idl_phone_region_built_in(void) { return 1; }

extern "C" int idl_phone_region_known(const char *region) {
  std::set<std::string> regions;
  PhoneNumberUtil::GetInstance()->GetSupportedRegions(&regions);
  return regions.count(region) > 0;
}

extern "C" enum idl_err idl_phone_region_e164(const char *region, const char *in, size_t len,
                                              char *out) {
  const PhoneNumberUtil *util = PhoneNumberUtil::GetInstance();
  PhoneNumber number;
  if (util->Parse(std::string(in, len), region, &number) != PhoneNumberUtil::NO_PARSING_ERROR ||
      !util->IsValidNumber(number))
    return IDL_ERR_INVAL;
  std::string e164;
  util->Format(number, PhoneNumberUtil::E164, &e164);
  if (e164.size() > IDL_PHONE_MAX_BYTES)
    return IDL_ERR_INVAL;
  std::memcpy(out, e164.c_str(), e164.size() + 1);
  return IDL_ERR_OK;
}

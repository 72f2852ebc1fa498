#include "idlink/contact.h"
#include "idlink/normalize.h"
#include "test.h"

static enum idl_err email(const char *in, char *out) {
  return idl_normalize_email(in, strlen(in), out);
}

static enum idl_err phone(const char *in, char *out) {
  return idl_normalize_phone(in, strlen(in), out);
}

static void test_email_trims_and_lowercases(void) {
  char out[IDL_EMAIL_MAX_BYTES + 1];
  ASSERT_OK(email("  Lorraine@HillValley.EDU \t", out));
  ASSERT_STR(out, "lorraine@hillvalley.edu");
  ASSERT_OK(email("\xc3\x89mile@caf\xc3\xa9.fr", out)); /* non-ASCII kept as is */
  ASSERT_STR(out, "\xc3\x89mile@caf\xc3\xa9.fr");
}

static void test_email_empty_is_absent(void) {
  char out[IDL_EMAIL_MAX_BYTES + 1];
  ASSERT_EQ(email("", out), IDL_ERR_NOTFOUND);
  ASSERT_EQ(email("   ", out), IDL_ERR_NOTFOUND);
}

static void test_email_invalid(void) {
  char out[IDL_EMAIL_MAX_BYTES + 1];
  const char *bad[] = {"plain", "a@b@c", "@domain", "local@", "a b@c.d", "a@b\x01.c",
                       "a@b\xc2\xa0x", "a@b\x7f", "\xff@x.y", "a@\xe2\x80\xa8x"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (email(bad[i], out) != IDL_ERR_INVAL) {
      FAIL_AT("email #%zu accepted", i);
      return;
    }
}

static void test_email_length_limit(void) {
  char in[400], out[IDL_EMAIL_MAX_BYTES + 1];
  memset(in, 'a', 250);
  strcpy(in + 250, "@b.c"); /* 254 characters */
  ASSERT_OK(email(in, out));
  memset(in, 'a', 251);
  strcpy(in + 251, "@b.c"); /* 255 */
  ASSERT_EQ(email(in, out), IDL_ERR_INVAL);
}

static void test_phone_forms(void) {
  char out[IDL_PHONE_MAX_BYTES + 1];
  ASSERT_OK(phone("123-456", out));
  ASSERT_STR(out, "123456");
  ASSERT_OK(phone(" (123) 456 ", out));
  ASSERT_STR(out, "123456");
  ASSERT_OK(phone("+1.555.010.9999", out));
  ASSERT_STR(out, "+15550109999");
  ASSERT_OK(idl_normalize_phone_int(123456, out));
  ASSERT_STR(out, "123456");
  ASSERT_OK(idl_normalize_phone_int(0, out));
  ASSERT_STR(out, "0");
  ASSERT_OK(phone("12345678901234567890", out)); /* 20 digits */
  ASSERT_EQ(phone("", out), IDL_ERR_NOTFOUND);
  ASSERT_EQ(phone("  ", out), IDL_ERR_NOTFOUND);
}

static void test_phone_invalid(void) {
  char out[IDL_PHONE_MAX_BYTES + 1];
  const char *bad[] = {"abc", "123456789012345678901", "++1", "1+2", "--", "+", "12#4"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (phone(bad[i], out) != IDL_ERR_INVAL) {
      FAIL_AT("phone \"%s\" accepted", bad[i]);
      return;
    }
  ASSERT_EQ(idl_normalize_phone_int(-1, out), IDL_ERR_INVAL);
}

int main(int argc, char **argv) {
  TEST_INIT(argc, argv);
  RUN(test_email_trims_and_lowercases);
  RUN(test_email_empty_is_absent);
  RUN(test_email_invalid);
  RUN(test_email_length_limit);
  RUN(test_phone_forms);
  RUN(test_phone_invalid);
  return TEST_EXIT();
}

/* The csv and txt reader: idl_sheet_read on the input as a text file (an
 * input that begins as a zip or a compound document would is read without
 * its first byte, so that it stays text). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if ((size >= 4 && memcmp(data, "PK\x03\x04", 4) == 0) ||
      (size >= 8 && memcmp(data, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8) == 0))
    data++, size--;
  fuzz_temp_write(data, size);
  if (fuzz_sheet_read() != IDL_SHEET_TEXT) {
    fprintf(stderr, "fuzz: a text file was not read as text\n");
    abort();
  }
  return 0;
}

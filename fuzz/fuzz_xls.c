/* The xls reader: idl_sheet_read (freexl) on the input as a compound
 * document; an input without the CFBF signature gets it in front. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const unsigned char cfbf[8] = {0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size >= sizeof(cfbf) && memcmp(data, cfbf, sizeof(cfbf)) == 0) {
    fuzz_temp_write(data, size);
  } else {
    unsigned char *buf = malloc(size + sizeof(cfbf));
    if (!buf)
      return 0;
    memcpy(buf, cfbf, sizeof(cfbf));
    memcpy(buf + sizeof(cfbf), data, size);
    fuzz_temp_write(buf, size + sizeof(cfbf));
    free(buf);
  }
  if (fuzz_sheet_read() != IDL_SHEET_XLS) {
    fprintf(stderr, "fuzz: a compound document was not read as xls\n");
    abort();
  }
  return 0;
}

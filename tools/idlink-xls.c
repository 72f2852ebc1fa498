/* idlink-xls FILE: reads the first sheet of an xls workbook with freexl and
 * writes its cells to standard output for idlinkd's import (sheet.c), which
 * runs it once per uploaded xls: a crash or a leak of freexl on a damaged
 * file ends with this process, not with the server. */
#include <stdio.h>

#include "sheet_internal.h"

/* Under AddressSanitizer (the test builds), freexl's own leaks are not this
 * program's to report: it exits after one file, and its memory with it. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=0"; }

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: idlink-xls FILE (idlinkd runs it to read an xls upload)\n");
    return 2;
  }
  return idl_sheet_xls_dump(argv[1], stdout);
}

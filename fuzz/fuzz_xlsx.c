/* The xlsx reader: the input is up to four parts separated by lines
 * "--8<--": xl/workbook.xml, xl/worksheets/sheet1.xml, xl/sharedStrings.xml
 * and xl/_rels/workbook.xml.rels (a part not given is not in the archive).
 * The harness zips them in memory with libzip, stored uncompressed, writes
 * the archive to a temporary file and reads it with idl_sheet_read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zip.h>

#include "common.h"

static const char *const members[] = {
    "xl/workbook.xml",
    "xl/worksheets/sheet1.xml",
    "xl/sharedStrings.xml",
    "xl/_rels/workbook.xml.rels",
};
#define N_MEMBERS (sizeof(members) / sizeof(members[0]))
#define SEPARATOR "\n--8<--\n"

static void fail(const char *what, zip_error_t *ze) {
  fprintf(stderr, "fuzz: libzip: %s: %s\n", what, ze ? zip_error_strerror(ze) : "");
  abort();
}

/* The archive of the parts, as bytes: *out (free()) of *len bytes. */
static void build_zip(const uint8_t *data, size_t size, unsigned char **out, size_t *len) {
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
  if (!src)
    fail("zip_source_buffer_create", &ze);
  zip_source_keep(src);
  zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
  if (!za)
    fail("zip_open_from_source", &ze);
  const char *s = (const char *)data, *end = s + size;
  for (size_t m = 0; m < N_MEMBERS && s; m++) {
    const char *sep = memmem(s, (size_t)(end - s), SEPARATOR, strlen(SEPARATOR));
    size_t part = sep ? (size_t)(sep - s) : (size_t)(end - s);
    zip_source_t *ps = zip_source_buffer(za, s, part, 0);
    zip_int64_t i = ps ? zip_file_add(za, members[m], ps, ZIP_FL_OVERWRITE) : -1;
    if (i < 0 || zip_set_file_compression(za, (zip_uint64_t)i, ZIP_CM_STORE, 0) < 0)
      fail("zip_file_add", zip_get_error(za));
    s = sep ? sep + strlen(SEPARATOR) : NULL;
  }
  if (zip_close(za) < 0)
    fail("zip_close", zip_get_error(za));
  zip_stat_t st;
  if (zip_source_open(src) < 0 || zip_source_stat(src, &st) < 0 ||
      !(st.valid & ZIP_STAT_SIZE))
    fail("zip_source_open", zip_source_error(src));
  *out = malloc(st.size ? st.size : 1);
  if (!*out || zip_source_read(src, *out, st.size) != (zip_int64_t)st.size)
    fail("zip_source_read", zip_source_error(src));
  *len = st.size;
  zip_source_close(src);
  zip_source_free(src);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  unsigned char *zip;
  size_t len;
  build_zip(data, size, &zip, &len);
  fuzz_temp_write(zip, len);
  free(zip);
  if (fuzz_sheet_read() != IDL_SHEET_XLSX) {
    fprintf(stderr, "fuzz: a zip was not read as xlsx\n");
    abort();
  }
  return 0;
}

#include "common.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idlink/normalize.h"

static char temp_path[512];

static void remove_temp(void) {
  if (temp_path[0])
    unlink(temp_path);
}

const char *fuzz_temp_path(void) {
  if (temp_path[0])
    return temp_path;
  const char *dir = getenv("TMPDIR");
  snprintf(temp_path, sizeof(temp_path), "%s/idlink-fuzz-XXXXXX", dir && *dir ? dir : "/tmp");
  int fd = mkstemp(temp_path);
  if (fd < 0) {
    perror("fuzz: mkstemp");
    abort();
  }
  close(fd);
  atexit(remove_temp);
  return temp_path;
}

void fuzz_temp_write(const void *data, size_t len) {
  int fd = open(fuzz_temp_path(), O_WRONLY | O_TRUNC);
  const char *p = data;
  while (fd >= 0 && len) {
    ssize_t n = write(fd, p, len);
    if (n <= 0)
      break;
    p += n;
    len -= (size_t)n;
  }
  if (fd < 0 || len || close(fd) != 0) {
    perror("fuzz: writing the temporary file");
    abort();
  }
}

/* The row callback: every byte of every cell is read (so that the sanitizers
 * see a text that is not what it claims), and the promises of
 * sheet_internal.h are checked. */
static enum idl_err touch_cells(void *arg, uint64_t row, const struct idl_cell *cells,
                                size_t n) {
  uint64_t *last_row = arg;
  if (row <= *last_row || n == 0 || n > IDL_SHEET_MAX_COLUMNS) {
    fprintf(stderr, "fuzz: row %llu after row %llu with %zu cells\n", (unsigned long long)row,
            (unsigned long long)*last_row, n);
    abort();
  }
  *last_row = row;
  volatile size_t sink = 0;
  int any = 0;
  for (size_t i = 0; i < n; i++) {
    if (cells[i].type > IDL_CELL_DATE || !cells[i].text) {
      fprintf(stderr, "fuzz: row %llu cell %zu: type %d, text %p\n", (unsigned long long)row,
              i, (int)cells[i].type, (const void *)cells[i].text);
      abort();
    }
    size_t len = strlen(cells[i].text);
    for (size_t k = 0; k < len; k++)
      sink += (unsigned char)cells[i].text[k];
    if ((cells[i].type == IDL_CELL_EMPTY) != (len == 0)) {
      fprintf(stderr, "fuzz: row %llu cell %zu: type %d with %zu bytes of text\n",
              (unsigned long long)row, i, (int)cells[i].type, len);
      abort();
    }
    if (len && (isspace((unsigned char)cells[i].text[0]) ||
                isspace((unsigned char)cells[i].text[len - 1]) ||
                !idl_utf8_valid(cells[i].text, len))) {
      fprintf(stderr, "fuzz: row %llu cell %zu: type %d, text not trimmed UTF-8\n",
              (unsigned long long)row, i, (int)cells[i].type);
      abort();
    }
    any |= cells[i].type != IDL_CELL_EMPTY;
  }
  if (!any) {
    fprintf(stderr, "fuzz: row %llu has no cell that is not empty\n", (unsigned long long)row);
    abort();
  }
  (void)sink;
  return IDL_ERR_OK;
}

enum idl_sheet_kind fuzz_sheet_read(void) {
  struct idl_sheet sheet;
  char why[512] = "";
  uint64_t last_row = 0;
  enum idl_err err = idl_sheet_read(fuzz_temp_path(), touch_cells, &last_row, &sheet, why,
                                    sizeof(why));
  /* A refused file says why; the callback never stops the read. */
  if (err == IDL_ERR_INVAL && !why[0]) {
    fprintf(stderr, "fuzz: a %s file refused without a reason\n",
            idl_sheet_kind_name(sheet.kind));
    abort();
  }
  if (err != IDL_ERR_OK && err != IDL_ERR_INVAL && err != IDL_ERR_NOMEM) {
    fprintf(stderr, "fuzz: idl_sheet_read: unexpected error %d (%s)\n", (int)err, why);
    abort();
  }
  return sheet.kind;
}

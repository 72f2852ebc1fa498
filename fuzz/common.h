/* What the harnesses share: a temporary file per process for the readers
 * that take a path, and a row callback that reads every cell it is given. */
#ifndef IDLINK_FUZZ_COMMON_H
#define IDLINK_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "sheet_internal.h"

/* The path of this process's temporary file (in $TMPDIR, else /tmp),
 * created on the first call and removed at exit. */
const char *fuzz_temp_path(void);

/* Replaces the temporary file's content with len bytes of data; aborts when
 * it cannot (the harness is broken, not the input). */
void fuzz_temp_write(const void *data, size_t len);

/* Reads the temporary file with idl_sheet_read, every cell touched, and
 * checks what sheet_internal.h promises of the rows. Returns the kind found. */
enum idl_sheet_kind fuzz_sheet_read(void);

#endif

/* Bulk import of customers and products from a file (import.c), run by the
 * writer: one transaction per file. */
#ifndef IDLINK_IMPORT_INTERNAL_H
#define IDLINK_IMPORT_INTERNAL_H

#include "idlink/resource.h"
#include "json.h"
#include "sheet_internal.h"

struct idl_import {
  const struct idl_resource *res; /* customers or products */
  const char *path;               /* the uploaded file */
  int64_t channel;                /* the customers' sales channel */
  int64_t now_us;
  /* what came of it */
  struct idl_sheet sheet;          /* what the file was found to be */
  uint64_t created, updated;
  /* The skipped rows as JSON text, {"row": R, "reason": "..."} each
   * after a comma: compact, as a file may skip millions of them. */
  struct idl_text skipped;
  char why[320];                  /* IDL_ERR_INVAL: why the file cannot be read */
};

/* Whether res takes imports. */
int idl_import_supported(const struct idl_resource *res);

/* An idl_write_fn: imports every row of the file im->path into im->res in
 * txn. IDL_ERR_INVAL with im->why when the file cannot be read; then, as on
 * any error, the writer undoes every row. */
enum idl_err idl_import_apply(struct idl_txn *txn, void *arg);

/* The answer: {"created", "updated", "skipped"} as JSON text (malloc'd),
 * NULL without memory. */
char *idl_import_answer(const struct idl_import *im, size_t *len);

/* Frees what im holds (its skipped rows). */
void idl_import_fini(struct idl_import *im);

#endif

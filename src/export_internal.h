/* Exports of the resource layer (export.c), for the generic handlers. */
#ifndef IDLINK_EXPORT_INTERNAL_H
#define IDLINK_EXPORT_INTERNAL_H

#include "filter_internal.h"

/* Where CSV goes: write returns 0, or non-zero to stop the export. */
struct idl_export_sink {
  int (*write)(void *arg, const char *data, size_t len);
  void *arg;
};

/* Streams the CSV of every record of res that q selects to sink. */
enum idl_err idl_export_csv(struct idl_txn *txn, const struct idl_resource *res,
                            struct idl_query *q, const struct idl_export_sink *sink);

/* Writes the xlsx workbook of every record of res that q selects into file
 * path, with temporary files in tmpdir (NULL: the system's). IDL_ERR_FULL
 * when the rows are more than a sheet holds. */
enum idl_err idl_export_xlsx(struct idl_txn *txn, const struct idl_resource *res,
                             struct idl_query *q, const char *path, const char *tmpdir);

#endif

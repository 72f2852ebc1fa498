/* Reading the rows of an uploaded file (sheet.c): csv and txt with libcsv,
 * xls with freexl, xlsx with libzip and expat. The kind is found from the
 * content, never from the name. Rows stream to a callback, so memory does
 * not grow with the file (an xlsx's shared strings excepted). */
#ifndef IDLINK_SHEET_INTERNAL_H
#define IDLINK_SHEET_INTERNAL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "idlink/err.h"

enum idl_sheet_kind { IDL_SHEET_TEXT, IDL_SHEET_XLS, IDL_SHEET_XLSX };

enum idl_cell_type {
  IDL_CELL_EMPTY,
  IDL_CELL_TEXT,
  IDL_CELL_NUMBER, /* text: the number as %.15g writes it, integers without a point */
  IDL_CELL_BOOL,   /* text: "1" or "0" */
  IDL_CELL_DATE,   /* text: YYYY-MM-DD (a date cell of an xls) */
};

struct idl_cell {
  enum idl_cell_type type;
  const char *text; /* NUL-terminated UTF-8, without white space around; "" when empty */
};

/* What a file was found to be, known before its first row. */
struct idl_sheet {
  enum idl_sheet_kind kind;
  int date1904; /* an xlsx of the 1904 date system: serial 0 is 1904-01-01 */
};

/* The columns a row hands over at most; later ones are ignored. */
#define IDL_SHEET_MAX_COLUMNS 32

/* Called for each row that has a cell: row counts the file's rows from 1.
 * cells[n] are the row's first n columns. A non-zero return stops the read
 * and is returned by idl_sheet_read. */
typedef enum idl_err (*idl_sheet_row_fn)(void *arg, uint64_t row, const struct idl_cell *cells,
                                         size_t n);

/* Reads the file at path, calling fn for each row. IDL_ERR_INVAL when the
 * file cannot be read, with why a whole sentence naming the kind and the
 * cause ("The file is not a valid xlsx workbook: ..."); fn's error when fn
 * stopped it. *sheet says what the file was found to be. */
enum idl_err idl_sheet_read(const char *path, idl_sheet_row_fn fn, void *arg,
                            struct idl_sheet *sheet, char *why, size_t why_len);

/* The day (since 1970-01-01) of a spreadsheet's serial date number. */
int64_t idl_sheet_serial_day(const struct idl_sheet *sheet, double serial);

/* The idlink-xls program's work: the first sheet of the xls at path to out
 * as the stream sheet.c reads back. Returns its exit status: 0, or 3 with an
 * "E why" line when the file cannot be read. */
int idl_sheet_xls_dump(const char *path, FILE *out);

/* The name of a kind, for messages: "csv", "xls", "xlsx". */
const char *idl_sheet_kind_name(enum idl_sheet_kind kind);

/* The idlink-xls program that reads .xls uploads (IDLINK_XLS_READER, else
 * beside this program), or NULL when it is not there to run: .xls uploads
 * are then refused, saying so. */
const char *idl_sheet_xls_reader(void);

#endif

/* Exports of the resource layer (SPEC section 7): every record a list filter
 * selects, a header row naming every field the API shows, then a row per
 * record in pk order. CSV (RFC 4180, UTF-8) is streamed to a sink as rows
 * are read; xlsx is written by libxlsxwriter in its constant-memory mode.
 * Both read from one transaction, and hold one record at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xlsxwriter.h>

#include "export_internal.h"

/* ------------------------------------------------------------------ csv */

#define CSV_BUFFER (64 * 1024)

struct csv {
  const struct idl_resource *res;
  struct idl_txn *txn;
  const struct idl_export_sink *sink;
  char *buf;
  size_t len;
  int failed;
};

static void csv_flush(struct csv *c) {
  if (c->len && !c->failed && c->sink->write(c->sink->arg, c->buf, c->len) != 0)
    c->failed = 1;
  c->len = 0;
}

static void csv_put(struct csv *c, const char *s, size_t n) {
  while (n && !c->failed) {
    if (c->len == CSV_BUFFER)
      csv_flush(c);
    size_t k = CSV_BUFFER - c->len < n ? CSV_BUFFER - c->len : n;
    memcpy(c->buf + c->len, s, k);
    c->len += k;
    s += k;
    n -= k;
  }
}

/* One field: quoted when it holds a comma, a quote or a line break, with
 * its quotes doubled. */
static void csv_field(struct csv *c, const char *s, int first) {
  if (!first)
    csv_put(c, ",", 1);
  if (!s[strcspn(s, ",\"\r\n")]) {
    csv_put(c, s, strlen(s));
    return;
  }
  csv_put(c, "\"", 1);
  for (const char *q; (q = strchr(s, '"')); s = q + 1) {
    csv_put(c, s, (size_t)(q - s) + 1);
    csv_put(c, "\"", 1);
  }
  csv_put(c, s, strlen(s));
  csv_put(c, "\"", 1);
}

static enum idl_err csv_row(struct idl_record *rec, void *arg) {
  struct csv *c = arg;
  enum idl_err err = idl_record_compute(c->txn, c->res, rec);
  for (size_t i = 0; !err && i < c->res->n_fields; i++) {
    const struct idl_value pk = {.i = (int64_t)rec->pk};
    const struct idl_field *f = &c->res->fields[i];
    char *text = idl_value_to_text(f, f->type == IDL_F_PK ? &pk : &rec->v[i]);
    if (!text) {
      err = IDL_ERR_NOMEM;
      break;
    }
    csv_field(c, text, i == 0);
    free(text);
  }
  csv_put(c, "\r\n", 2);
  return err ? err : c->failed ? IDL_ERR_IO : IDL_ERR_OK;
}

enum idl_err idl_export_csv(struct idl_txn *txn, const struct idl_resource *res,
                            struct idl_query *q, const struct idl_export_sink *sink) {
  struct csv c = {.res = res, .txn = txn, .sink = sink, .buf = malloc(CSV_BUFFER)};
  if (!c.buf)
    return IDL_ERR_NOMEM;
  for (size_t i = 0; i < res->n_fields; i++)
    csv_field(&c, res->fields[i].name, i == 0);
  csv_put(&c, "\r\n", 2);
  enum idl_err err = idl_query_each(txn, res, q, csv_row, &c);
  csv_flush(&c);
  free(c.buf);
  return err ? err : c.failed ? IDL_ERR_IO : IDL_ERR_OK;
}

/* ----------------------------------------------------------------- xlsx */

/* xlsx sheets hold at most this many rows, the header included. */
#define XLSX_MAX_ROWS 1048576
#define XLSX_MAX_CHARS 32767

struct xlsx {
  const struct idl_resource *res;
  struct idl_txn *txn;
  lxw_workbook *wb;
  lxw_worksheet *ws;
  lxw_format *date, *time, *money;
  lxw_row_t row;
  enum idl_err err;
};

static lxw_datetime datetime_of(int64_t us) {
  char buf[IDL_TIME_TEXT_MAX];
  idl_format_time_us(us, buf);
  lxw_datetime d = {0};
  int sec = 0, frac = 0;
  sscanf(buf, "%4d-%2d-%2dT%2d:%2d:%2d.%6d", &d.year, &d.month, &d.day, &d.hour, &d.min, &sec,
         &frac);
  d.sec = sec + frac / 1e6;
  return d;
}

/* Cuts text to what a cell holds, between two UTF-8 characters. */
static void cut_for_cell(char *s) {
  size_t chars = 0, i = 0;
  for (; s[i]; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80 && ++chars > XLSX_MAX_CHARS)
      break;
  s[i] = '\0';
}

static lxw_error xlsx_cell(struct xlsx *x, lxw_col_t col, const struct idl_field *f,
                           const struct idl_value *v) {
  if (v->null)
    return LXW_NO_ERROR;
  switch (f->type) {
  case IDL_F_PK:
  case IDL_F_INT:
  case IDL_F_FK:
    return worksheet_write_number(x->ws, x->row, col, (double)v->i, NULL);
  case IDL_F_BOOL:
    return worksheet_write_boolean(x->ws, x->row, col, (int)v->i, NULL);
  case IDL_F_MONEY:
    return worksheet_write_number(x->ws, x->row, col, (double)v->i / 100.0, x->money);
  case IDL_F_DATE: {
    lxw_datetime d = datetime_of(v->i * 86400 * INT64_C(1000000));
    d.hour = d.min = 0;
    d.sec = 0;
    return worksheet_write_datetime(x->ws, x->row, col, &d, x->date);
  }
  case IDL_F_TIME: {
    lxw_datetime d = datetime_of(v->i);
    return worksheet_write_datetime(x->ws, x->row, col, &d, x->time);
  }
  default: {
    char *text = idl_value_to_text(f, v);
    if (!text)
      return LXW_ERROR_MEMORY_MALLOC_FAILED;
    cut_for_cell(text);
    lxw_error rc = worksheet_write_string(x->ws, x->row, col, text, NULL);
    free(text);
    return rc;
  }
  }
}

static enum idl_err xlsx_row(struct idl_record *rec, void *arg) {
  struct xlsx *x = arg;
  if (++x->row >= XLSX_MAX_ROWS)
    return IDL_ERR_FULL;
  enum idl_err err = idl_record_compute(x->txn, x->res, rec);
  for (size_t i = 0; !err && i < x->res->n_fields; i++) {
    const struct idl_value pk = {.i = (int64_t)rec->pk};
    const struct idl_field *f = &x->res->fields[i];
    if (xlsx_cell(x, (lxw_col_t)i, f, f->type == IDL_F_PK ? &pk : &rec->v[i]))
      err = IDL_ERR_IO;
  }
  return err;
}

enum idl_err idl_export_xlsx(struct idl_txn *txn, const struct idl_resource *res,
                             struct idl_query *q, const char *path, const char *tmpdir) {
  lxw_workbook_options opts = {.constant_memory = LXW_TRUE, .tmpdir = (char *)tmpdir};
  struct xlsx x = {.res = res, .txn = txn};
  if (!(x.wb = workbook_new_opt(path, &opts)))
    return IDL_ERR_IO;
  x.ws = workbook_add_worksheet(x.wb, res->name);
  x.date = workbook_add_format(x.wb);
  x.time = workbook_add_format(x.wb);
  x.money = workbook_add_format(x.wb);
  enum idl_err err = x.ws && x.date && x.time && x.money ? IDL_ERR_OK : IDL_ERR_NOMEM;
  if (!err) {
    format_set_num_format(x.date, "yyyy-mm-dd");
    format_set_num_format(x.time, "yyyy-mm-dd hh:mm:ss.000");
    format_set_num_format(x.money, "0.00");
    for (size_t i = 0; i < res->n_fields && !err; i++)
      if (worksheet_write_string(x.ws, 0, (lxw_col_t)i, res->fields[i].name, NULL))
        err = IDL_ERR_IO;
  }
  if (!err)
    err = idl_query_each(txn, res, q, xlsx_row, &x);
  lxw_error rc = workbook_close(x.wb);
  if (!err && rc)
    err = rc == LXW_ERROR_MEMORY_MALLOC_FAILED ? IDL_ERR_NOMEM : IDL_ERR_IO;
  return err;
}

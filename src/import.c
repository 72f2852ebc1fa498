/* Bulk import (SPEC section 9): each row of an uploaded file becomes the
 * body of a create, or of an update when the row's record exists, and goes
 * through the collection's own write (the same checks, reconciliation and
 * change-log entries as the API's). A row the collection refuses is skipped
 * and reported with its reason; anything else stops the file, and the
 * writer undoes every row of it.
 *
 * Columns are seed 003's. Customers: Name (first name, then the surname
 * after the first space), Email, Address, Phone, Opt_email, Opt_phone,
 * Opt_chat, Status; a customer is found again by its channel and its
 * normalized email (its channel_code). Products: Name, Price, Purchased,
 * Warranty; a product is found again by its name and purchase day. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idlink/contact.h"
#include "idlink/normalize.h"
#include "import_internal.h"
#include "res_internal.h"

/* One column of a layout: its title in the file and the API field it fills
 * (NULL: an attribute, or a part of one), for skip reasons. */
struct column {
  const char *title;
  const char *field;
};

struct importer;

/* Builds the create or update body of a row; sets *pk to the record the row
 * names when it exists. A reason instead when the row is refused as it
 * stands. */
typedef enum idl_err (*row_fn)(const struct importer *imp, struct idl_import *im,
                               struct idl_txn *txn, const struct idl_cell *cells, size_t n,
                               json_t *body, uint64_t *pk, char *reason, size_t reason_len);

struct importer {
  const struct idl_resource *res;
  const struct column *columns;
  size_t n_columns;
  row_fn row;
};

/* ------------------------------------------------------------ the cells */

/* The text of cell i, trimmed by the reader; "" when absent. */
static const char *cell(const struct idl_cell *cells, size_t n, size_t i) {
  return i < n ? cells[i].text : "";
}

/* A yes/no cell: 1/0, true/false, yes/no, y/n, x; empty is no. -1 when it
 * is none of them. */
static int cell_bool(const char *s) {
  static const char *const yes[] = {"1", "true", "yes", "y", "x", NULL};
  static const char *const no[] = {"", "0", "false", "no", "n", NULL};
  for (size_t i = 0; yes[i]; i++)
    if (!strcasecmp(s, yes[i]))
      return 1;
  for (size_t i = 0; no[i]; i++)
    if (!strcasecmp(s, no[i]))
      return 0;
  return -1;
}

/* Whether either of a layout's two mandatory columns a and b is empty in
 * the row (their texts sa and sb), saying which in reason. */
static int missing(const struct importer *imp, size_t a, const char *sa, size_t b,
                   const char *sb, char *reason, size_t reason_len) {
  const char *ta = imp->columns[a].title, *tb = imp->columns[b].title;
  if (!*sa && !*sb)
    snprintf(reason, reason_len, "%s and %s are missing", ta, tb);
  else if (!*sa || !*sb)
    snprintf(reason, reason_len, "%s is missing", *sa ? tb : ta);
  return !*sa || !*sb;
}

/* ------------------------------------------------------------ customers */

enum { C_NAME, C_EMAIL, C_ADDRESS, C_PHONE, C_OPT_EMAIL, C_OPT_PHONE, C_OPT_CHAT, C_STATUS };

static const struct column customer_columns[] = {
    [C_NAME] = {"Name", "first_name"},
    [C_EMAIL] = {"Email", "email"},
    [C_ADDRESS] = {"Address", NULL},
    [C_PHONE] = {"Phone", "phone_number"},
    [C_OPT_EMAIL] = {"Opt_email", "email_allowed"},
    [C_OPT_PHONE] = {"Opt_phone", "sms_allowed"},
    [C_OPT_CHAT] = {"Opt_chat", NULL},
    [C_STATUS] = {"Status", NULL},
};

/* The stored customer's attributes with the row's keys set over them: an
 * import keeps what else a customer's attributes hold. */
static enum idl_err merged_attributes(struct idl_txn *txn, uint64_t pk, json_t **out) {
  struct idl_record old;
  enum idl_err err = idl_record_get(txn, &idl_customers, pk, &old);
  if (err)
    return err;
  const struct idl_value *v = &old.v[CUSTOMER_ATTRIBUTES];
  *out = v->null ? NULL : json_loadb(v->s, v->len, 0, NULL);
  idl_record_fini(&old);
  if (!*out || !json_is_object(*out)) {
    json_decref(*out);
    *out = json_object();
  }
  return *out ? IDL_ERR_OK : IDL_ERR_NOMEM;
}

static enum idl_err customer_row(const struct importer *imp, struct idl_import *im,
                                 struct idl_txn *txn, const struct idl_cell *cells, size_t n,
                                 json_t *body, uint64_t *pk, char *reason, size_t reason_len) {
  const char *name = cell(cells, n, C_NAME), *email = cell(cells, n, C_EMAIL);
  if (missing(imp, C_NAME, name, C_EMAIL, email, reason, reason_len))
    return IDL_ERR_OK;
  int allowed[3];
  for (int i = 0; i < 3; i++) {
    const char *s = cell(cells, n, C_OPT_EMAIL + (size_t)i);
    if ((allowed[i] = cell_bool(s)) < 0) {
      snprintf(reason, reason_len, "%s: \"%.40s\" is not a yes or no (1/0, true/false, "
               "yes/no, y/n, x, or empty).", imp->columns[C_OPT_EMAIL + i].title, s);
      return IDL_ERR_OK;
    }
  }
  const char *phone = cell(cells, n, C_PHONE);
  /* The channel code is the normalized email; an email that does not
   * normalize is refused by the create below, as the API refuses it. */
  char code[IDL_EMAIL_MAX_BYTES + 1];
  if (idl_normalize_email(email, strlen(email), code) != IDL_ERR_OK)
    snprintf(code, sizeof(code), "%s", email);
  /* The name: a first name, and a surname after the first space. */
  size_t first_len = strcspn(name, " ");
  const char *last = name + first_len;
  while (*last == ' ')
    last++;
  enum idl_err err = idl_customer_find_code(txn, im->channel, code, 0, pk);
  json_t *attributes = NULL;
  if (!err && *pk)
    err = merged_attributes(txn, *pk, &attributes);
  else if (!err && !(attributes = json_object()))
    err = IDL_ERR_NOMEM;
  if (err)
    return err;
  json_object_set_new(attributes, "address", json_string(cell(cells, n, C_ADDRESS)));
  json_object_set_new(attributes, "status", json_string(cell(cells, n, C_STATUS)));
  json_object_set_new(attributes, "chat_allowed", json_boolean(allowed[2]));
  json_object_set_new(body, "channel", json_integer(im->channel));
  json_object_set_new(body, "channel_code", json_string(code));
  json_object_set_new(body, "email", json_string(email));
  json_object_set_new(body, "first_name", json_stringn(name, first_len));
  json_object_set_new(body, "last_name", json_string(last));
  if (*phone)
    json_object_set_new(body, "phone_number", json_string(phone));
  json_object_set_new(body, "email_allowed", json_boolean(allowed[0]));
  json_object_set_new(body, "sms_allowed", json_boolean(allowed[1]));
  json_object_set_new(body, "attributes", attributes);
  return IDL_ERR_OK;
}

/* ------------------------------------------------------------- products */

enum { P_NAME, P_PRICE, P_PURCHASED, P_WARRANTY };

static const struct column product_columns[] = {
    [P_NAME] = {"Name", "name"},
    [P_PRICE] = {"Price", "price"},
    [P_PURCHASED] = {"Purchased", "purchased"},
    [P_WARRANTY] = {"Warranty", "warranty"},
};

static enum idl_err product_row(const struct importer *imp, struct idl_import *im,
                                struct idl_txn *txn, const struct idl_cell *cells, size_t n,
                                json_t *body, uint64_t *pk, char *reason, size_t reason_len) {
  const char *name = cell(cells, n, P_NAME), *price = cell(cells, n, P_PRICE);
  if (missing(imp, P_NAME, name, P_PRICE, price, reason, reason_len))
    return IDL_ERR_OK;
  const char *purchased = cell(cells, n, P_PURCHASED);
  char day_text[IDL_TIME_TEXT_MAX];
  int64_t day;
  if (!*purchased) { /* the import day, in UTC */
    day = im->now_us / 86400000000LL;
  } else if (cells[P_PURCHASED].type == IDL_CELL_NUMBER) {
    /* a date cell of an xlsx: a serial number of days */
    day = idl_sheet_serial_day(&im->sheet, strtod(purchased, NULL));
  } else if (idl_parse_date(purchased, &day) != 0) {
    snprintf(reason, reason_len, "Purchased: \"%.40s\" is not a date (YYYY-MM-DD).",
             purchased);
    return IDL_ERR_OK;
  }
  idl_format_date(day, day_text);
  const char *warranty = cell(cells, n, P_WARRANTY);
  char *end;
  long long months = strtoll(warranty, &end, 10);
  json_object_set_new(body, "name", json_string(name));
  json_object_set_new(body, "price", json_string(price));
  json_object_set_new(body, "purchased", json_string(day_text));
  /* Text that is not a whole number goes as it is, for the API's message. */
  json_object_set_new(body, "warranty", !*warranty  ? json_integer(0)
                                        : !*end     ? json_integer(months)
                                                    : json_string(warranty));
  return idl_product_find(txn, name, day, pk);
}

/* ------------------------------------------------------------- the file */

static const struct importer importers[] = {
    {&idl_customers, customer_columns, sizeof(customer_columns) / sizeof(customer_columns[0]),
     customer_row},
    {&idl_products, product_columns, sizeof(product_columns) / sizeof(product_columns[0]),
     product_row},
};

static const struct importer *importer_of(const struct idl_resource *res) {
  for (size_t i = 0; i < sizeof(importers) / sizeof(importers[0]); i++)
    if (importers[i].res == res)
      return &importers[i];
  return NULL;
}

int idl_import_supported(const struct idl_resource *res) {
  return importer_of(res) != NULL;
}

/* The first reason a write gave, with its field named as the file's
 * column. */
static void write_reason(const struct importer *imp, const struct idl_errors *e, char *reason,
                         size_t reason_len) {
  if (!e->n) {
    snprintf(reason, reason_len, "%s", e->body ? e->body : "The row was refused.");
    return;
  }
  const char *field = e->v[0].field;
  for (size_t i = 0; i < imp->n_columns; i++)
    if (imp->columns[i].field && !strcmp(imp->columns[i].field, field))
      field = imp->columns[i].title;
  const char *note = "";
  if (!strcmp(field, "last_name")) {
    field = "Name"; /* the surname part of the Name column */
  } else if (!strcmp(field, "channel_code")) {
    field = "Email"; /* an imported customer's channel_code is its email */
    note = " (an imported customer's email is its channel_code)";
  }
  snprintf(reason, reason_len, "%s: %s%s", field, e->v[0].message, note);
}

struct reading {
  const struct importer *imp;
  struct idl_import *im;
  struct idl_txn *txn;
  int header_seen;
};

static enum idl_err skip(struct idl_import *im, uint64_t row, const char *reason) {
  char clean[1024];
  idl_utf8_clean(reason, clean, sizeof(clean));
  json_t *text = json_string(clean);
  char *quoted = text ? json_dumps(text, JSON_ENCODE_ANY) : NULL;
  json_decref(text);
  if (!quoted)
    return IDL_ERR_NOMEM;
  char head[64];
  int n = snprintf(head, sizeof(head), ",{\"row\":%llu,\"reason\":", (unsigned long long)row);
  idl_text_put(&im->skipped, head, (size_t)n);
  idl_text_put(&im->skipped, quoted, strlen(quoted));
  idl_text_put(&im->skipped, "}", 1);
  free(quoted);
  return im->skipped.failed ? IDL_ERR_NOMEM : IDL_ERR_OK;
}

static enum idl_err import_row(void *arg, uint64_t row, const struct idl_cell *cells,
                               size_t n) {
  struct reading *rd = arg;
  struct idl_import *im = rd->im;
  if (im->sheet.kind != IDL_SHEET_TEXT && !rd->header_seen) { /* a workbook's header row */
    rd->header_seen = 1;
    return IDL_ERR_OK;
  }
  char reason[512] = "";
  uint64_t pk = 0;
  json_t *body = json_object();
  if (!body)
    return IDL_ERR_NOMEM;
  enum idl_err err = rd->imp->row(rd->imp, im, rd->txn, cells, n, body, &pk, reason,
                                  sizeof(reason));
  struct idl_errors e = {0};
  int existed = pk != 0;
  /* A refused row is refused by the checks before anything is stored, so
   * skipping it leaves nothing of it behind. */
  if (!err && !*reason)
    err = pk ? idl_write_update(rd->txn, rd->imp->res, pk, body, IDL_WRITE_PATCH, "",
                                im->now_us, &e)
             : idl_write_create(rd->txn, rd->imp->res, body, "", im->now_us, &e, &pk);
  json_decref(body);
  if (err == IDL_ERR_INVAL && (idl_errors_any(&e) || e.body)) {
    write_reason(rd->imp, &e, reason, sizeof(reason));
    err = IDL_ERR_OK;
  } else if (!err && !*reason) {
    *(existed ? &im->updated : &im->created) += 1;
  }
  idl_errors_fini(&e);
  if (!err && *reason)
    err = skip(im, row, reason);
  return err;
}

enum idl_err idl_import_apply(struct idl_txn *txn, void *arg) {
  struct idl_import *im = arg;
  const struct importer *imp = importer_of(im->res);
  if (!imp)
    return IDL_ERR_INVAL;
  im->created = im->updated = 0;
  idl_import_fini(im); /* a run again starts afresh */
  struct reading rd = {imp, im, txn, 0};
  /* The kind is known once the read begins; import_row reads it there. */
  return idl_sheet_read(im->path, import_row, &rd, &im->sheet, im->why, sizeof(im->why));
}

char *idl_import_answer(const struct idl_import *im, size_t *len) {
  struct idl_text t = {0};
  char head[96];
  int n = snprintf(head, sizeof(head), "{\"created\":%llu,\"updated\":%llu,\"skipped\":[",
                   (unsigned long long)im->created, (unsigned long long)im->updated);
  idl_text_put(&t, head, (size_t)n);
  if (im->skipped.len) /* past the first entry's comma */
    idl_text_put(&t, im->skipped.data + 1, im->skipped.len - 1);
  idl_text_put(&t, "]}", 2);
  if (t.failed) {
    free(t.data);
    return NULL;
  }
  *len = t.len;
  return t.data;
}

void idl_import_fini(struct idl_import *im) {
  free(im->skipped.data);
  im->skipped = (struct idl_text){0};
}

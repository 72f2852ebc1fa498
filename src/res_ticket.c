/* Tickets (SPEC section 9): a customer's request, opened (status "open", the
 * read-only field's default), then closed once
 * with whether it was resolved and how (POST /api/v1/tickets/{pk}/close/).
 * They go with their customer. */
#include <stdio.h>

#include "res_internal.h"

enum { TICKET_PK, TICKET_CUSTOMER, TICKET_REQUEST, TICKET_STATUS, TICKET_RESOLVED,
       TICKET_RESOLUTION, TICKET_OPENED, TICKET_CLOSED, TICKET_CREATED, TICKET_MODIFIED };
enum { IX_CUSTOMER, IX_STATUS, IX_OPENED };

static const char *const statuses[] = {"open", "closed", NULL};

static const struct idl_field fields[] = {
    [TICKET_PK] = {"pk", IDL_F_PK, IDL_FF_READ_ONLY | IDL_FF_ORDERABLE,
                   IDL_L_EXACT | IDL_L_RANGE | IDL_L_IN, -1, .alias = "id"},
    [TICKET_CUSTOMER] = {"customer", IDL_F_FK, IDL_FF_REQUIRED | IDL_FF_CASCADE, IDL_L_EXACT,
                         IX_CUSTOMER, .fk = "customers"},
    [TICKET_REQUEST] = {"request", IDL_F_STR, IDL_FF_REQUIRED | IDL_FF_PERSONAL, 0, -1,
                        .max = 10000},
    [TICKET_STATUS] = {"status", IDL_F_ENUM, IDL_FF_READ_ONLY, IDL_L_EXACT, IX_STATUS,
                       .choices = statuses, .def = "\"open\""},
    [TICKET_RESOLVED] = {"resolved", IDL_F_BOOL, IDL_FF_READ_ONLY | IDL_FF_NULLABLE, 0, -1},
    [TICKET_RESOLUTION] = {"resolution", IDL_F_STR,
                           IDL_FF_READ_ONLY | IDL_FF_NULLABLE | IDL_FF_BLANK | IDL_FF_PERSONAL, 0,
                           -1, .max = 10000},
    [TICKET_OPENED] = {"opened_date", IDL_F_TIME, IDL_FF_READ_ONLY | IDL_FF_NOW | IDL_FF_ORDERABLE,
                       IDL_L_RANGE, IX_OPENED},
    [TICKET_CLOSED] = {"closed_date", IDL_F_TIME, IDL_FF_READ_ONLY | IDL_FF_NULLABLE, 0, -1},
    [TICKET_CREATED] = {"created_date", IDL_F_TIME, IDL_FF_READ_ONLY | IDL_FF_NOW, 0, -1},
    [TICKET_MODIFIED] = {"modified_date", IDL_F_TIME, IDL_FF_READ_ONLY | IDL_FF_NOW_ALWAYS, 0, -1},
};

static const struct idl_index_def indexes[] = {
    [IX_CUSTOMER] = {"customer", {TICKET_CUSTOMER, -1}, 0},
    [IX_STATUS] = {"status", {TICKET_STATUS, -1}, 0},
    [IX_OPENED] = {"opened_date", {TICKET_OPENED, -1}, 0},
};

/* The body of POST .../close/ {"resolved": bool, "resolution": string}:
 * both required. */
enum { CLOSE_RESOLVED, CLOSE_RESOLUTION };
static const struct idl_field close_body[] = {
    [CLOSE_RESOLVED] = {.name = "resolved", .type = IDL_F_BOOL, .flags = IDL_FF_REQUIRED,
                        .index = -1},
    [CLOSE_RESOLUTION] = {.name = "resolution", .type = IDL_F_STR,
                          .flags = IDL_FF_REQUIRED | IDL_FF_BLANK, .index = -1, .max = 10000},
};

static enum idl_err close_ticket(struct idl_txn *txn, struct idl_write *w) {
  struct idl_record old, rec;
  enum idl_err err = idl_record_get(txn, &idl_tickets, w->pk, &old);
  if (err)
    return err;
  if ((err = idl_record_copy(&rec, &old))) {
    idl_record_fini(&old);
    return err;
  }
  /* The body is judged first, as DRF's serializer is: a bad body is a 400
   * whatever the ticket's state. */
  struct idl_record args;
  if ((err = idl_action_read_body(w, &args))) {
    idl_record_fini(&rec);
    idl_record_fini(&old);
    return err;
  }
  idl_record_set_int(&rec, TICKET_RESOLVED, args.v[CLOSE_RESOLVED].i);
  const struct idl_value *resolution = &args.v[CLOSE_RESOLUTION];
  err = idl_record_set_str(&rec, TICKET_RESOLUTION, resolution->s, resolution->len);
  idl_record_fini(&args);
  if (!err && !strcmp(old.v[TICKET_STATUS].s, "closed")) {
    idl_errors_detail(&w->errors, 409, "Ticket %llu is already closed.",
                      (unsigned long long)w->pk);
    err = IDL_ERR_INVAL;
  }
  if (!err)
    err = idl_record_set_str(&rec, TICKET_STATUS, "closed", 6);
  if (!err) {
    idl_record_set_int(&rec, TICKET_CLOSED, w->now_us);
    idl_record_set_int(&rec, TICKET_MODIFIED, w->now_us);
    err = idl_record_put(txn, &idl_tickets, &rec, &old);
  }
  idl_record_fini(&rec);
  idl_record_fini(&old);
  return err;
}

static const struct idl_action actions[] = {
    {.name = "close", .apply = close_ticket, .body = close_body,
     .n_body = sizeof(close_body) / sizeof(close_body[0])},
    {.name = NULL},
};

const struct idl_resource idl_tickets = {
    .name = "tickets",
    .singular = "ticket",
    .fields = fields,
    .n_fields = sizeof(fields) / sizeof(fields[0]),
    .indexes = indexes,
    .n_indexes = sizeof(indexes) / sizeof(indexes[0]),
    .ops = IDL_OP_LIST | IDL_OP_CREATE | IDL_OP_RETRIEVE | IDL_OP_EXPORT,
    .actions = actions,
};

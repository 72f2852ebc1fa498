/* The query filters of the resource layer (filter.c): parsing a query string
 * into predicates, and running them against a collection's table. Private to
 * the generic layers. */
#ifndef IDLINK_FILTER_INTERNAL_H
#define IDLINK_FILTER_INTERNAL_H

#include "record_internal.h"

/* One filter: a field, a lookup and the values it accepts (any of them). */
struct idl_pred {
  int field;
  unsigned lookup;        /* one IDL_L_ */
  char *key;              /* IDL_L_KEY: the JSON key */
  char *param;            /* the parameter as given, for error messages */
  struct idl_value *vals;
  size_t n_vals;
  int whole_day;          /* a date given for a datetime field: that UTC day */
  struct idl_ids selected; /* a computed field's filter: the pks it selects */
};

/* A parameter as given, for paging links. */
struct idl_param {
  char *name;
  char *value;
};

struct idl_query {
  struct idl_pred *preds;
  size_t n, cap;
  int order_field;        /* -1: by pk */
  int order_desc;
  uint64_t page;          /* from 1; 0: not a positive integer */
  size_t limit;
  struct idl_param *params;
  size_t n_params, params_cap;
};

/* The name of a lookup (one IDL_L_ bit) in a filter parameter: "gt" of
 * created_date__gt. NULL for IDL_L_KEY (the parameter names a JSON key:
 * attributes__colour) and for bits that are no lookup. */
const char *idl_lookup_name(unsigned lookup);

/* One part of a query string ("name=value"), as given: still encoded. */
struct idl_query_part {
  const char *name, *value; /* value NULL: the part has no '=' */
  size_t name_len, value_len;
};

/* Steps *cursor (a query string, NULL reading as empty) past its next part:
 * 1 with *p filled, an empty part ("a=1&&b=2") included with name_len 0 and
 * no value; 0 at the end. Every reader of query strings walks them so. */
int idl_query_next(const char **cursor, struct idl_query_part *p);

/* A part's name and value, decoded as a form encodes them ('+' is a space,
 * %XX a byte; a '%' without two hex digits stands for itself; a part
 * without '=' has the value ""); *nul_name and *nul_value are set when they
 * held a NUL byte. 0, or -1 without memory (both then NULL). */
int idl_query_part_decode(const struct idl_query_part *p, char **name, int *nul_name,
                          char **value, int *nul_value);

/* Parses a query string for a list of res (extra: more parameter names the
 * caller reads itself, NULL-terminated, or NULL). Errors go to e: a field
 * error keyed by the parameter for a bad value, a detail for an unknown
 * parameter or ordering field. */
void idl_query_parse(const struct idl_resource *res, const char *query,
                     const char *const *extra, struct idl_query *q, struct idl_errors *e);
void idl_query_fini(struct idl_query *q);

/* Whether rec passes every filter of q (computed filters: after a run). */
int idl_query_matches(const struct idl_resource *res, const struct idl_query *q,
                      const struct idl_record *rec);

/* Called with each match in pk order; IDL_ERR_STOP ends the run. rec is
 * the run's, freed after the call: fn may fill its computed fields. */
typedef enum idl_err (*idl_match_fn)(struct idl_record *rec, void *arg);

/* Calls fn with every record of res that q selects, in pk order, reading one
 * index range when an indexed filter allows. */
enum idl_err idl_query_each(struct idl_txn *txn, const struct idl_resource *res,
                            struct idl_query *q, idl_match_fn fn, void *arg);

/* A page of a list: the count of every match and the records of the page. */
struct idl_page {
  uint64_t count;
  struct idl_record *recs;
  size_t n, cap;
};

enum idl_err idl_query_page(struct idl_txn *txn, const struct idl_resource *res,
                            struct idl_query *q, struct idl_page *page);
void idl_page_fini(struct idl_page *page);

#endif

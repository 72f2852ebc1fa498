/* The query filter parser: idl_query_parse on a query string for the
 * collection the first byte chooses (its high bit: with the export's extra
 * parameter, "format"), then idl_query_matches of what it parsed against a
 * record of nulls and against one holding each filter's first value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter_internal.h"

static const char *const export_params[] = {"format", NULL};

/* Sets rec's field of each predicate to the predicate's first value, so
 * that matching compares equal values too. */
static void fill(const struct idl_resource *res, const struct idl_query *q,
                 struct idl_record *rec) {
  for (size_t i = 0; i < q->n; i++) {
    const struct idl_pred *p = &q->preds[i];
    const struct idl_field *f = &res->fields[p->field];
    if (!p->n_vals || p->lookup == IDL_L_ISNULL || p->lookup == IDL_L_KEY ||
        (f->flags & IDL_FF_COMPUTED))
      continue;
    const struct idl_value *want = &p->vals[0];
    if (f->type == IDL_F_PK) {
      rec->pk = (uint64_t)want->i;
    } else if (idl_ftype_is_text(f->type)) {
      if (want->s)
        (void)idl_record_set_str(rec, (size_t)p->field, want->s, want->len);
    } else {
      idl_record_set_int(rec, (size_t)p->field, want->i);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  const struct idl_resource *res = idl_resources[(data[0] & 0x7f) % idl_n_resources];
  const char *const *extra = data[0] & 0x80 ? export_params : NULL;
  char *query = malloc(size);
  if (!query)
    return 0;
  memcpy(query, data + 1, size - 1);
  query[size - 1] = '\0';

  struct idl_query q;
  struct idl_errors e = {0};
  idl_query_parse(res, query, extra, &q, &e);
  for (size_t i = 0; i < q.n; i++)
    if (q.preds[i].field < 0 || (size_t)q.preds[i].field >= res->n_fields ||
        !q.preds[i].param) {
      fprintf(stderr, "fuzz: predicate %zu names field %d of %zu\n", i, q.preds[i].field,
              res->n_fields);
      abort();
    }
  if (q.order_field >= (int)res->n_fields || q.limit < 1) {
    fprintf(stderr, "fuzz: ordering field %d, limit %zu\n", q.order_field, q.limit);
    abort();
  }
  if (!idl_errors_any(&e)) {
    struct idl_record rec;
    if (!idl_record_init(&rec, res)) {
      rec.pk = 1;
      (void)idl_query_matches(res, &q, &rec);
      fill(res, &q, &rec);
      (void)idl_query_matches(res, &q, &rec);
      idl_record_fini(&rec);
    }
  }
  idl_query_fini(&q);
  idl_errors_fini(&e);
  free(query);
  return 0;
}

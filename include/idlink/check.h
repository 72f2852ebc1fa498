/* Verification of a store's invariants (SPEC section 4). */
#ifndef IDLINK_CHECK_H
#define IDLINK_CHECK_H

#include "idlink/store.h"

struct idl_check_report {
  uint64_t contacts;
  uint64_t primaries;
  uint64_t secondaries;
  uint64_t deleted;
  uint64_t emails;     /* email index entries */
  uint64_t phones;     /* phone index entries */
  uint64_t next_id;
  uint64_t last_seq;
  uint64_t violations;
};

/* Called once per violation with a one-line description (no personal data). */
typedef void (*idl_violation_fn)(const char *line, void *arg);

/* Verifies every invariant through txn (a read transaction), reporting each
 * violation to fn. Returns IDL_ERR_OK when the check ran to its end, whatever
 * it found: out->violations counts what it found. */
enum idl_err idl_check_store(struct idl_txn *txn, idl_violation_fn fn, void *arg,
                             struct idl_check_report *out);

#endif

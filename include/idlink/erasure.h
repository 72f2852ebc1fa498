/* Erasure, the right to be forgotten (SPEC section 10; erasure.c). */
#ifndef IDLINK_ERASURE_H
#define IDLINK_ERASURE_H

#include "idlink/store.h"

/* What to erase: the identity holding an email or a phone (which, value:
 * normalized), or that of contact id (contact != 0). */
struct idl_erase_request {
  enum idl_index which;
  const char *value;
  uint64_t contact;
};

struct idl_erasure {
  uint64_t contacts, customers, feedback, tickets; /* rows erased */
};

/* Erases the identity req names (write txn): its contacts, every row
 * holding one of its values, its customers and their feedback and tickets,
 * the bridges of its values; logs identity.erased. IDL_ERR_NOTFOUND when
 * nothing holds the value. Reads every contact: erasure is rare, and a
 * deleted row keeps values no index finds. */
enum idl_err idl_erase(struct idl_txn *txn, const struct idl_erase_request *req, int64_t now_ms,
                       struct idl_erasure *out);

#endif

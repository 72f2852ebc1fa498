/* Conflicts (SPEC section 10's hub guard): a request that would have made an
 * identity larger than --max-identity-contacts merges and creates nothing,
 * and is remembered here. Records of the resource layer's `conflicts` table
 * (res_conflict.c), listed by GET /conflicts. */
#ifndef IDLINK_CONFLICT_H
#define IDLINK_CONFLICT_H

#include "idlink/contact.h"
#include "idlink/store.h"

/* Records a conflict between the identities of primaries (write txn). */
enum idl_err idl_conflict_add(struct idl_txn *txn, int64_t at_ms,
                              const struct idl_ids *primaries, const char *reason);

#endif

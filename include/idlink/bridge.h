/* Bridges (SPEC section 10): the memory of a request whose email was in one
 * identity and whose phone in another, so that section 2 merged them without
 * creating a contact. A bridge links every active contact holding its email
 * with every active contact holding its phone. They are records of the
 * resource layer's `bridges` table (res_bridge.c): in snapshots, checked by
 * idlink-check, offered by no route. */
#ifndef IDLINK_BRIDGE_H
#define IDLINK_BRIDGE_H

#include "idlink/contact.h"
#include "idlink/store.h"

struct idl_bridge {
  uint64_t pk;
  const char *email, *phone; /* valid during the callback only */
  int64_t at_ms;
  int legacy; /* given to a store from before bridges, to keep an identity whole */
};

/* Records a bridge between email and phone (write txn). */
enum idl_err idl_bridge_add(struct idl_txn *txn, const char *email, const char *phone,
                            int64_t at_ms, int legacy);

/* Calls fn with each bridge whose email (or phone) is value, in pk order. */
typedef enum idl_err (*idl_bridge_fn)(const struct idl_bridge *b, void *arg);
enum idl_err idl_bridges_with(struct idl_txn *txn, enum idl_index which, const char *value,
                              idl_bridge_fn fn, void *arg);

/* Calls fn with every bridge, in pk order. */
enum idl_err idl_bridges_each(struct idl_txn *txn, idl_bridge_fn fn, void *arg);

/* Deletes bridge pk (write txn). */
enum idl_err idl_bridge_delete(struct idl_txn *txn, uint64_t pk);

#endif

/* The reconciliation rules of SPEC section 2, over the store's API. */
#ifndef IDLINK_IDENTITY_H
#define IDLINK_IDENTITY_H

#include "idlink/contact.h"
#include "idlink/store.h"

/* A normalized request: an empty string is an absent value. */
struct idl_request {
  char email[IDL_EMAIL_MAX_BYTES + 1];
  char phone[IDL_PHONE_MAX_BYTES + 1];
};

/* An identity: c[0] is the primary, c[1..n) its secondaries in ascending id.
 * Owned by whoever filled it: free with idl_identity_fini. */
struct idl_identity {
  struct idl_contact *c;
  size_t n;
};

void idl_identity_fini(struct idl_identity *ident);

/* The distinct emails (or phones) of ident, the primary's first, the rest in
 * ascending contact id. *out is a new array the caller frees with free(); its
 * strings point into ident and live as long as it does. */
enum idl_err idl_identity_values(const struct idl_identity *ident, enum idl_index which,
                                 const char ***out, size_t *n);

/* Loads the identity contact id belongs to. IDL_ERR_NOTFOUND when there is no
 * such contact. */
enum idl_err idl_identity_of_contact(struct idl_txn *txn, uint64_t id,
                                     struct idl_identity *out);

/* The read-only lookup of POST /api/identify/: the primary of the identity
 * with the oldest primary among those the request matches. IDL_ERR_NOTFOUND
 * when none. */
enum idl_err idl_identity_lookup(struct idl_txn *txn, const struct idl_request *req,
                                 uint64_t *primary);

enum idl_reconcile_mode {
  IDL_RECONCILE_READ,  /* answer only when the request changes nothing */
  IDL_RECONCILE_WRITE, /* apply the rules in a write transaction */
};

struct idl_outcome {
  int needs_write;      /* READ mode: the request would change the store */
  uint64_t created_id;  /* the contact this request created, 0 when none */
  size_t absorbed;      /* how many identities this request merged into the winner */
  uint64_t primary;     /* the consolidated identity's primary (unless needs_write) */
};

/* Applies section 2's rules for req at time now_ms. In READ mode nothing is
 * written: when a change is needed, out->needs_write is set and nothing else.
 * The work is bounded by the request, not by the identities it touches
 * (merges aside): the consolidated identity is loaded by whoever answers,
 * outside the writer (idl_identity_of_contact). On failure the transaction
 * may hold part of the change: abort it. */
enum idl_err idl_identity_reconcile(struct idl_txn *txn, const struct idl_request *req,
                                    int64_t now_ms, enum idl_reconcile_mode mode,
                                    struct idl_outcome *out);

#endif

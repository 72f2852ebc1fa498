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
 * such contact, or it is deleted (it belongs to no identity). */
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
  uint64_t email_holder; /* the first contact that held the request's email before
                            it ran (it holds it after), 0 when none */
  size_t absorbed;      /* how many identities this request merged into the winner */
  uint64_t primary;     /* the consolidated identity's primary (unless needs_write) */
  int conflict;         /* the hub guard refused the change: primary is the oldest
                           matched identity's, unchanged, and a conflict recorded */
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

/* Joins the identities of primaries (distinct active primaries) into the
 * oldest one's, as a merge of section 2 does, and logs identity.merged
 * (write txn). */
enum idl_err idl_identity_join(struct idl_txn *txn, const struct idl_ids *primaries,
                               int64_t now_ms);

/* ------------------------------------------------------------------ links
 * SPEC section 10 (links.c): two active contacts are linked when they share
 * an email or a phone, or through a bridge; an identity is a connected set
 * of contacts. */

enum idl_link_via { IDL_LINK_EMAIL, IDL_LINK_PHONE, IDL_LINK_BRIDGE };

struct idl_bridge;

/* A link of a spanning forest: from and to were apart until it joined them. */
struct idl_link {
  uint64_t from, to;
  enum idl_link_via via;
  const char *value;               /* the shared email or phone; a bridge's email */
  const struct idl_bridge *bridge; /* IDL_LINK_BRIDGE: the bridge */
};

typedef enum idl_err (*idl_link_fn)(const struct idl_link *l, void *arg);

/* Sorts n contacts by id. */
void idl_contacts_sort(struct idl_contact *c, size_t n);

/* The connected components of the active contacts c[0..n), sorted by id,
 * over their links: comp[i] is the position of the smallest one of i's
 * component. fn (when not NULL) gets each link of a spanning forest. */
enum idl_err idl_links_components(struct idl_txn *txn, const struct idl_contact *c, size_t n,
                                  size_t *comp, idl_link_fn fn, void *arg);

/* Re-resolves the active contacts among ids (the rest of one identity) into
 * the connected components of their links, each under its oldest contact as
 * primary (write txn); parts gets the primaries, ascending. */
enum idl_err idl_identity_resolve(struct idl_txn *txn, const struct idl_ids *ids,
                                  int64_t now_ms, struct idl_ids *parts);

struct idl_deletion {
  int changed;          /* 0: the contact was deleted already */
  uint64_t old_primary; /* its identity's primary before */
  struct idl_ids parts; /* the primaries of what is left of it, ascending */
};

/* DELETE /contacts/{id} (write txn): soft-deletes contact id, re-resolves
 * the rest of its identity and logs contact.deleted, and identity.split when
 * the identity came apart, vanished or changed its primary. IDL_ERR_NOTFOUND
 * when there is no such contact. Free out with idl_deletion_fini. */
enum idl_err idl_identity_delete(struct idl_txn *txn, uint64_t id, int64_t now_ms,
                                 struct idl_deletion *out);
void idl_deletion_fini(struct idl_deletion *d);

/* Gives a store from before bridges the legacy bridges that keep each of its
 * identities whole (write txn); *added says how many. */
enum idl_err idl_links_legacy(struct idl_txn *txn, int64_t now_ms, uint64_t *added);

/* Brings the indexes and identities in line with the store's junk-value
 * rules where they differ from those recorded (write txn): values now
 * blocked leave the indexes and their identities are re-resolved, as a
 * delete does; values no longer blocked enter them and join the identities
 * that share them. Records the rules. *changed counts the contacts whose
 * entries moved. */
enum idl_err idl_links_apply_blocklist(struct idl_txn *txn, int64_t now_ms, uint64_t *changed);

/* Whether the identity of active primary is connected: *apart is 0, or a
 * contact of it that no chain of links reaches from the primary's part. */
enum idl_err idl_links_check(struct idl_txn *txn, uint64_t primary, uint64_t *apart);

#endif

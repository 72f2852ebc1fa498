/* Records <-> msgpack. A contact record is the same array a snapshot row is
 * (SPEC section 5): [id, email|nil, phone|nil, linked_id|nil, precedence,
 * created_ms, updated_ms, deleted_ms|nil]. A change-log entry is a map
 * {"at", "kind", "primary", and "contact", "absorbed" or "parts" as its kind
 * has}; its sequence number is its key. */
#ifndef IDLINK_CODEC_H
#define IDLINK_CODEC_H

#include "idlink/contact.h"

enum idl_change_kind {
  IDL_CHANGE_CONTACT_CREATED,
  IDL_CHANGE_IDENTITY_MERGED,
  IDL_CHANGE_RECORD, /* a collection's record: "customer.created", ... with its pk */
  IDL_CHANGE_CONTACT_DELETED, /* contact, and primary: its identity's primary before */
  IDL_CHANGE_IDENTITY_SPLIT,  /* primary: the one before; absorbed: the parts' primaries */
  IDL_CHANGE_IDENTITY_ERASED, /* primary (0: none active); absorbed: the contacts erased */
};

#define IDL_CHANGE_NAME_MAX 48

/* One entry of the change log. absorbed is owned by the entry: free with
 * idl_change_fini. */
struct idl_change {
  uint64_t seq;
  int64_t at_ms;
  enum idl_change_kind kind;
  uint64_t contact; /* contact.created: the new contact */
  uint64_t primary; /* the identity's primary after the change */
  struct idl_ids absorbed; /* identity.merged: primaries that became secondaries;
                              identity.split: the primaries of the parts */
  char name[IDL_CHANGE_NAME_MAX]; /* record changes: "<singular>.<verb>" */
  uint64_t pk;                    /* record changes: the record */
};

void idl_change_fini(struct idl_change *c);

/* "contact.created", "identity.merged", or a record change's own name. */
const char *idl_change_name(const struct idl_change *c);

/* The name of the entry's list of ids, "absorbed" or "parts"; NULL when its
 * kind names a contact instead (or is a record's). */
const char *idl_change_list_key(const struct idl_change *c);

/* Encodes c's record into a new buffer *out of *len bytes (free with free()). */
enum idl_err idl_codec_encode_contact(const struct idl_contact *c, char **out, size_t *len);

/* Decodes a whole buffer holding one record. IDL_ERR_CORRUPT when it is not a
 * well-formed record (wrong shape, types or lengths). */
enum idl_err idl_codec_decode_contact(const void *buf, size_t len, struct idl_contact *out);

/* Encodes the entry (its seq is not part of the value) into a new buffer
 * *out of *len bytes (free with free()). */
enum idl_err idl_codec_encode_change(const struct idl_change *c, char **out, size_t *len);

/* Decodes an entry's value; the caller sets seq. On success the caller owns
 * out->absorbed (idl_change_fini). */
enum idl_err idl_codec_decode_change(const void *buf, size_t len, struct idl_change *out);

#endif

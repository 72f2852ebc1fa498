/* The msgpack side of codec.c, for the snapshot writer and reader, which
 * pack contact rows into their own stream. Private: names msgpack. */
#ifndef IDLINK_CODEC_INTERNAL_H
#define IDLINK_CODEC_INTERNAL_H

#include <msgpack.h>

#include "idlink/codec.h"

/* Appends the record array of c to pk. Returns IDL_ERR_NOMEM when the packer fails. */
enum idl_err idl_codec_pack_contact(msgpack_packer *pk, const struct idl_contact *c);

/* Fills out from a record array. IDL_ERR_CORRUPT when o is not a well-formed
 * record (wrong shape, types or lengths); out is then unspecified. */
enum idl_err idl_codec_unpack_contact(const msgpack_object *o, struct idl_contact *out);

/* Runs fn on the single msgpack object that is the whole of buf (len
 * bytes); IDL_ERR_CORRUPT when buf is not exactly one object, else what fn
 * returns. The object and its strings are valid during fn only. */
enum idl_err idl_msgpack_with_object(const void *buf, size_t len,
                                     enum idl_err (*fn)(const msgpack_object *, void *),
                                     void *arg);

/* Whether msgpack object k is the string name. */
int idl_msgpack_key_is(const msgpack_object *k, const char *name);

#endif

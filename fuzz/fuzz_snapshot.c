/* The snapshot reader: idl_snapshot_read over the input, with callbacks that
 * read what they are handed. A checksum is what random bytes never get
 * right, so before the read the harness writes the right CRC-32 into the
 * trailer when it can find one: the checks after the checksum are reached
 * too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "idlink/normalize.h"
#include "idlink/snapshot.h"
#include "record_internal.h"

static volatile size_t sink;

static void touch(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    sink += (unsigned char)s[i];
}

static enum idl_err on_row(const struct idl_contact *c, void *arg) {
  (void)arg;
  if (!memchr(c->email, '\0', sizeof(c->email)) || !memchr(c->phone, '\0', sizeof(c->phone)))
    abort();
  touch(c->email, strlen(c->email));
  touch(c->phone, strlen(c->phone));
  return IDL_ERR_OK;
}

static enum idl_err on_record(const struct idl_resource *res, const struct idl_record *rec,
                              void *arg) {
  (void)arg;
  if (rec->n != res->n_fields + res->n_hidden || rec->pk == 0)
    abort();
  for (size_t i = res->n_fields; i < rec->n; i++) /* no snapshot sets a hidden field */
    if (!rec->v[i].null)
      abort();
  for (size_t i = 0; i < rec->n; i++)
    if (!rec->v[i].null && rec->v[i].s)
      touch(rec->v[i].s, rec->v[i].len);
  return IDL_ERR_OK;
}

static void on_violation(const char *line, void *arg) {
  (void)arg;
  touch(line, strlen(line));
}

static enum idl_err on_blocklist(const struct idl_blocklist *bl, void *arg) {
  (void)arg;
  if (!bl)
    abort();
  return IDL_ERR_OK;
}

static enum idl_err on_phone_region(const char *region, void *arg) {
  (void)arg;
  touch(region, strlen(region));
  return IDL_ERR_OK;
}

/* Writes the CRC-32 of the bytes before the trailer into the trailer: the
 * last {"count": N, "crc32": uint32} map, found by its bytes (not with
 * msgpack-c, which would allocate whatever sizes the input declares). */
static void fix_checksum(unsigned char *buf, size_t len) {
  static const unsigned char count[] = "\x82\xa5" "count";
  static const unsigned char crc32[] = "\xa5" "crc32" "\xce";
  unsigned char *key = NULL;
  for (size_t i = 0; i + sizeof(crc32) - 1 + 4 <= len; i++)
    if (memcmp(buf + i, crc32, sizeof(crc32) - 1) == 0)
      key = buf + i;
  /* count is 1 to 9 bytes of msgpack between the two keys */
  for (unsigned char *map = key ? key - (sizeof(count) - 1) - 1 : NULL;
       map && map >= buf && map + (sizeof(count) - 1) + 9 >= key; map--) {
    if (memcmp(map, count, sizeof(count) - 1) == 0) {
      uLong crc = crc32_z(crc32_z(0, NULL, 0), buf, (size_t)(map - buf));
      unsigned char *p = key + sizeof(crc32) - 1;
      p[0] = (unsigned char)(crc >> 24);
      p[1] = (unsigned char)(crc >> 16);
      p[2] = (unsigned char)(crc >> 8);
      p[3] = (unsigned char)crc;
      return;
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  unsigned char *buf = malloc(size ? size : 1);
  if (!buf)
    return 0;
  memcpy(buf, data, size);
  fix_checksum(buf, size);
  struct idl_snapshot_read_opts opts = {.row = on_row,
                                        .record = on_record,
                                        .violation = on_violation,
                                        .blocklist = on_blocklist,
                                        .phone_region = on_phone_region};
  struct idl_snapshot_header header;
  char why[512] = "";
  enum idl_err err = idl_snapshot_read(buf, size, &opts, &header, why, sizeof(why));
  /* A refusal names what is wrong, as text a message can carry. */
  if (err && (!why[0] || !memchr(why, '\0', sizeof(why)))) {
    fprintf(stderr, "fuzz: idl_snapshot_read refused (%d) without saying why\n", (int)err);
    abort();
  }
  if (err && err != IDL_ERR_CORRUPT && err != IDL_ERR_VERSION && err != IDL_ERR_NOMEM) {
    fprintf(stderr, "fuzz: idl_snapshot_read: unexpected error %d: %s\n", (int)err, why);
    abort();
  }
  touch(why, strlen(why));
  free(buf);
  return 0;
}

/* Junk values (SPEC section 10): emails and phones never used for matching,
 * such as test@test.com or 0000000000. A blocked value is stored on its
 * contact and shown, but never indexed, never links two contacts and gets no
 * key in Redis. Nothing is blocked unless the operator asks: --blocklist
 * default turns on the shipped rules, --blocklist FILE adds a file's. */
#ifndef IDLINK_BLOCKLIST_H
#define IDLINK_BLOCKLIST_H

#include <stddef.h>

#include "idlink/err.h"
#include "idlink/store.h"

struct idl_blocklist;

/* One rule: a pattern of one kind of value, '*' standing for any run of
 * characters; or, for the shipped rule a pattern cannot say, a phone that
 * is one digit repeated 6 or more times (its pattern reads
 * IDL_BLOCK_REPEATED). */
struct idl_block_rule {
  enum idl_index kind;
  const char *pattern;
  const char *source; /* "default" or "file" */
};

#define IDL_BLOCK_REPEATED "<one digit repeated 6 or more times>"

enum idl_err idl_blocklist_new(struct idl_blocklist **out);
void idl_blocklist_free(struct idl_blocklist *bl);

/* Adds the shipped rules. */
enum idl_err idl_blocklist_add_default(struct idl_blocklist *bl);

/* Adds the rules of file path: lines "email:PATTERN" or "phone:PATTERN";
 * blank lines and lines starting with '#' are skipped. IDL_ERR_INVAL with why
 * naming the file, the line and what is wrong. */
enum idl_err idl_blocklist_add_file(struct idl_blocklist *bl, const char *path, char *why,
                                    size_t why_len);

/* Whether value (normalized) is blocked. A NULL list blocks nothing. */
int idl_blocklist_blocks(const struct idl_blocklist *bl, enum idl_index kind,
                         const char *value);

size_t idl_blocklist_count(const struct idl_blocklist *bl);
const struct idl_block_rule *idl_blocklist_rule(const struct idl_blocklist *bl, size_t i);

/* The rules as text, one "kind:pattern\tsource" line each, the form the store
 * and snapshots record them in (malloc'd; NULL without memory). */
char *idl_blocklist_text(const struct idl_blocklist *bl);

/* Adds the rules of text written by idl_blocklist_text. */
enum idl_err idl_blocklist_add_text(struct idl_blocklist *bl, const char *text);

#endif

/* Verification of the store's invariants (SPEC section 4). One checker serves
 * a store (idl_check_store) and the rows of a snapshot (idl_snapshot_read):
 * idlink-check --snapshot refuses exactly what idlink-restore refuses. */
#ifndef IDLINK_CHECK_H
#define IDLINK_CHECK_H

#include "idlink/store.h"

/* Ids, pks and change-log sequence numbers are served as JSON integers,
 * which are int64: the largest one a store hands out is one below INT64_MAX,
 * so that the next one (the next id /healthz shows) is an int64 too, and a
 * snapshot of any store restores. Past it a store answers 507. */
#define IDL_CHECK_MAX_ID ((uint64_t)INT64_MAX - 1)

struct idl_check_report {
  uint64_t contacts;
  uint64_t primaries;
  uint64_t secondaries;
  uint64_t deleted;
  uint64_t emails;     /* email index entries (stores only) */
  uint64_t phones;     /* phone index entries (stores only) */
  uint64_t next_id;
  uint64_t last_seq;
  uint64_t records;    /* rows of the collections' tables (stores only) */
  uint64_t violations;
};

/* Called once per violation with a one-line description (no personal data). */
typedef void (*idl_violation_fn)(const char *line, void *arg);

/* Formats one finding (printf-style; a line is cut at 2 KiB), counts it in
 * *count and hands the line to fn: how the checks of the store, of the
 * collections' tables and of the mirror report. */
void idl_report_finding(idl_violation_fn fn, void *arg, uint64_t *count, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Verifies every invariant through txn (a read transaction), reporting each
 * violation to fn. Returns IDL_ERR_OK when the check ran to its end, whatever
 * it found: out->violations counts what it found. */
enum idl_err idl_check_store(struct idl_txn *txn, idl_violation_fn fn, void *arg,
                             struct idl_check_report *out);

/* Verifies the collections' tables through txn (check_tables.c): records
 * decode, pks below next pks, indexes exactly the records' keys, unique ones
 * unique, FKs resolve. Counts the records into
 * *records and each violation (reported to fn) into *violations. */
enum idl_err idl_check_tables(struct idl_txn *txn, idl_violation_fn fn, void *arg,
                              uint64_t *records, uint64_t *violations);

/* The rules on the rows themselves, which idl_check_store applies to a
 * store's rows and idl_snapshot_read to a snapshot's: every value valid and
 * normalized; every secondary names
 * a primary, an active secondary an active one; no email or phone shared by
 * two identities' active contacts; every id below next id, and room left for
 * the next id and the next sequence number. Keeps 40 bytes a row, and for a
 * moment of idl_checker_finish 32 to 64 more.
 *
 * Use: idl_checker_new, idl_checker_add for each row in ascending id order,
 * idl_checker_finish once, idl_checker_free. Violations go to fn as they are
 * found: those of a row's own values while it is added, the others during
 * idl_checker_finish. The checker is the caller's, freed with
 * idl_checker_free (NULL is a no-op). */
struct idl_checker;

enum idl_err idl_checker_new(idl_violation_fn fn, void *arg, struct idl_checker **out);

/* The junk-value rules the rows were kept under (before the first row):
 * blocked values are neither indexed nor held to one identity. */
struct idl_blocklist;
void idl_checker_set_blocklist(struct idl_checker *ck, const struct idl_blocklist *bl);
void idl_checker_free(struct idl_checker *ck);

/* An idl_contact_fn: arg is the checker. IDL_ERR_INVAL when c's id does not
 * ascend; IDL_ERR_NOMEM. */
enum idl_err idl_checker_add(const struct idl_contact *c, void *checker);

/* Checks what the rows break together, given the position the store would
 * hold (next_id, last_seq), and fills *out with the counts. */
enum idl_err idl_checker_finish(struct idl_checker *ck, uint64_t next_id, uint64_t last_seq,
                                struct idl_check_report *out);

#endif

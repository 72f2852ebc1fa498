/* idlink-check: verifies a store's invariants, or a snapshot's. Opens the
 * store read-only, so it may run beside idlinkd. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idlink/check.h"
#include "idlink/log.h"
#include "idlink/mirror.h"
#include "idlink/snapshot.h"
#include "idlink/toolkit.h"

static const char usage[] =
    "Usage: idlink-check --data DIR [--redis URL [--redis-prefix P] [--show-values]]\n"
    "       idlink-check --snapshot FILE\n"
    "Verify the invariants of the idlink store in DIR: every email and phone is\n"
    "valid and normalized; every secondary's linkedId names a primary (an active\n"
    "one for an active secondary); no two identities share an active email or\n"
    "phone; every id is below the next id; the next id and the next sequence\n"
    "number fit in an int64, as JSON serves them; every primary's members are\n"
    "exactly the secondaries that name it; the email and phone indexes hold\n"
    "exactly the active contacts' values; the change log ends at the last\n"
    "sequence number.\n"
    "\n"
    "Or verify a snapshot file without loading it: its structure, every row,\n"
    "ascending unique ids, counts and checksum, and the same invariants over its\n"
    "rows: what idlink-restore refuses a file for.\n"
    "\n"
    "  --data DIR   the store's folder (read-only; idlinkd may be running)\n"
    "  --snapshot FILE  the snapshot to verify (\"-\": standard input)\n"
    "  --redis URL  also compare the Redis mirror at URL with the store: every key\n"
    "               missing, stale or extra is listed\n"
    "  --redis-prefix P  the mirror's key prefix (idlink:)\n"
    "  --show-values  name emails and phones in mirror differences (hidden by\n"
    "               default: they are personal data)\n"
    "  --help       print this help and exit\n"
    "\n"
    "Exit 0 with a one-line summary when all hold; otherwise each violation on\n"
    "its own line and exit 1. Exit 2 for bad options or a store that cannot be read.\n";

static void print_violation(const char *line, void *arg) {
  (void)arg;
  printf("violation: %s\n", line);
}

/* Verifies a snapshot file: its structure, and the store's invariants over
 * its rows, by the checker --data runs; returns 0, 1 or 2 as main. */
static int check_snapshot(const char *path) {
  char why[512] = "";
  char *buf = NULL;
  size_t len = 0;
  struct idl_snapshot_header h;
  enum idl_err err = idl_read_all(path, &buf, &len, why, sizeof(why));
  if (err) {
    fprintf(stderr, "idlink-check: %s\n", why);
    return 2;
  }
  struct idl_snapshot_read_opts opts = {.violation = print_violation};
  err = idl_snapshot_read(buf, len, &opts, &h, why, sizeof(why));
  free(buf);
  if (err) {
    printf("FAILED: %s: %s\n", path, why);
    return 1;
  }
  char created[IDL_ISO_TIME_LEN + 1];
  idl_format_time(h.created_at, created);
  unsigned long long records = 0;
  for (size_t i = 0; i < IDL_SNAPSHOT_TABLES; i++)
    records += h.rows[i];
  printf("ok: %s: snapshot version %llu of %llu contacts and %llu records, last seq %llu, "
         "created %s, %zu bytes, checksum good, 0 violations\n", path,
         (unsigned long long)h.version, (unsigned long long)h.contacts, records,
         (unsigned long long)h.last_seq, created, len);
  return 0;
}

struct redis_check {
  const char *url;
  struct idl_redis_url parsed; /* url, read before the store is */
  const char *prefix;
  int show_values;
};

/* The --redis options are read before any check runs; returns 0, or 2 as
 * main having said why. */
static int redis_options(struct redis_check *rc) {
  char why[256];
  if (idl_redis_url_parse(rc->url, &rc->parsed, why, sizeof(why))) {
    fprintf(stderr, "idlink-check: --redis: %s\n", why);
    return 2;
  }
  if (!idl_mirror_prefix_ok(rc->prefix)) {
    fprintf(stderr, "idlink-check: --redis-prefix: '%s' holds a glob character or white "
            "space\n", rc->prefix);
    return 2;
  }
  return 0;
}

static void print_difference(const char *line, void *arg) {
  (void)arg;
  printf("mirror: %s\n", line);
}

/* Compares the mirror with the store through txn; returns 0, 1 or 2 as main. */
static int check_redis(struct idl_txn *txn, const struct redis_check *rc) {
  const struct idl_redis_url url = rc->parsed;
  char why[256];
  uint64_t differences = 0;
  enum idl_err err = idl_mirror_compare(txn, &url, rc->prefix, rc->show_values,
                                        print_difference, NULL, &differences, why,
                                        sizeof(why));
  if (err) {
    fprintf(stderr, "idlink-check: Redis at %s:%d: %s\n", url.host, url.port, why);
    return 2;
  }
  printf("%s: the Redis mirror at %s:%d, prefix %s: %llu differences\n",
         differences ? "FAILED" : "ok", url.host, url.port, rc->prefix,
         (unsigned long long)differences);
  return differences ? 1 : 0;
}

static int check_data(const char *dir, const struct redis_check *redis) {
  struct idl_store_opts opts = {.read_only = 1};
  struct idl_store *store;
  enum idl_err err = idl_store_open(dir, &opts, &store);
  if (err) {
    fprintf(stderr, "idlink-check: %s: %s\n", dir,
            err == IDL_ERR_NOTFOUND ? "no idlink store there" : idl_strerror(err));
    return 2;
  }
  struct idl_txn *txn = NULL;
  struct idl_check_report rep;
  err = idl_txn_begin_read(store, &txn);
  if (!err)
    err = idl_check_store(txn, print_violation, NULL, &rep);
  if (err) {
    idl_txn_abort(txn);
    idl_store_close(store);
    fprintf(stderr, "idlink-check: %s: %s\n", dir, idl_strerror(err));
    return 2;
  }
  printf("%s: %llu contacts (%llu primaries, %llu secondaries, %llu deleted), "
         "%llu emails and %llu phones indexed, %llu records in the collections, "
         "next id %llu, last seq %llu, %llu violations\n",
         rep.violations ? "FAILED" : "ok", (unsigned long long)rep.contacts,
         (unsigned long long)rep.primaries, (unsigned long long)rep.secondaries,
         (unsigned long long)rep.deleted, (unsigned long long)rep.emails,
         (unsigned long long)rep.phones, (unsigned long long)rep.records,
         (unsigned long long)rep.next_id,
         (unsigned long long)rep.last_seq, (unsigned long long)rep.violations);
  /* The mirror is compared with the same snapshot of the store. */
  int mirror_rc = redis->url ? check_redis(txn, redis) : 0;
  idl_txn_abort(txn);
  idl_store_close(store);
  return mirror_rc == 2 ? 2 : rep.violations || mirror_rc ? 1 : 0;
}

int main(int argc, char **argv) {
  static const struct option options[] = {
      {"data", required_argument, NULL, 'd'},
      {"snapshot", required_argument, NULL, 's'},
      {"redis", required_argument, NULL, 'r'},
      {"redis-prefix", required_argument, NULL, 'p'},
      {"show-values", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *data = NULL, *snapshot = NULL;
  struct redis_check redis = {.prefix = IDL_MIRROR_DEFAULT_PREFIX};
  int opt;
  opterr = 0;
  while ((opt = getopt_long(argc, argv, ":", options, NULL)) != -1) {
    switch (opt) {
    case 'd': data = optarg; break;
    case 's': snapshot = optarg; break;
    case 'r': redis.url = optarg; break;
    case 'p': redis.prefix = optarg; break;
    case 'v': redis.show_values = 1; break;
    case 'h': fputs(usage, stdout); return 0;
    case ':':
      fprintf(stderr, "idlink-check: %s: needs a value\n", argv[optind - 1]);
      return 2;
    default:
      fprintf(stderr, "idlink-check: %s: unknown option (see --help)\n", argv[optind - 1]);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "idlink-check: %s: unexpected argument (see --help)\n", argv[optind]);
    return 2;
  }
  if (!data == !snapshot) {
    fprintf(stderr, "idlink-check: exactly one of --data DIR and --snapshot FILE is "
            "required (see --help)\n");
    return 2;
  }
  idl_log_set_level(IDL_LOG_ERROR);
  if (redis.url && !data) {
    fprintf(stderr, "idlink-check: --redis needs --data DIR (see --help)\n");
    return 2;
  }
  if (redis.url && redis_options(&redis))
    return 2;
  if (data)
    idl_report_store_faults("idlink-check", data, 2);
  return snapshot ? check_snapshot(snapshot) : check_data(data, &redis);
}

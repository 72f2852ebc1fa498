/* idlink-dump: writes a consistent msgpack snapshot of a store from one read
 * transaction, also while idlinkd runs. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "idlink/log.h"
#include "idlink/snapshot.h"
#include "idlink/toolkit.h"

static const char usage[] =
    "Usage: idlink-dump --data DIR [-o FILE] [--quiet]\n"
    "Write a consistent snapshot of the idlink store in DIR, taken from one read\n"
    "transaction while idlinkd keeps serving. The format is described in README.md.\n"
    "\n"
    "  --data DIR       the store's folder (opened read-only)\n"
    "  -o, --output FILE  write to FILE (written beside it under a temporary name,\n"
    "                   synced, then renamed into place); default: standard output\n"
    "  -q, --quiet      no progress on the terminal\n"
    "  --help           print this help and exit\n"
    "\n"
    "Exit 0 on success, 1 when the snapshot cannot be written, 2 for bad options.\n";

static int dump(const char *dir, const char *output, int quiet) {
  char why[512] = "";
  struct idl_store_opts ro = {.read_only = 1};
  struct idl_store *s;
  enum idl_err err = idl_store_open(dir, &ro, &s);
  if (err) {
    fprintf(stderr, "idlink-dump: %s: %s\n", dir,
            err == IDL_ERR_NOTFOUND ? "no idlink store there" : idl_strerror(err));
    return 1;
  }
  struct idl_atomic_file f = {.fd = 1};
  if (output && (err = idl_atomic_open(&f, output, why, sizeof(why)))) {
    idl_store_close(s);
    fprintf(stderr, "idlink-dump: %s\n", why);
    return 1;
  }
  struct idl_progress p;
  idl_progress_init(&p, "idlink-dump", quiet);
  struct idl_dump_opts opts = {.store = dir, .output = output ? output : "standard output",
                               .progress = idl_progress_show, .arg = &p};
  struct idl_snapshot_header h;
  struct idl_txn *txn = NULL;
  if ((err = idl_txn_begin_read(s, &txn)))
    snprintf(why, sizeof(why), "%s: %s", dir, idl_strerror(err));
  else
    err = idl_snapshot_write(txn, f.fd, &opts, &h, why, sizeof(why));
  idl_txn_abort(txn);
  idl_store_close(s);
  idl_progress_done(&p);
  if (err && output)
    idl_atomic_abort(&f);
  else if (output)
    err = idl_atomic_commit(&f, why, sizeof(why));
  if (err) {
    fprintf(stderr, "idlink-dump: %s\n", why);
    return 1;
  }
  if (!quiet && output)
    fprintf(stderr, "idlink-dump: %llu contacts, last seq %llu, to %s\n",
            (unsigned long long)h.contacts, (unsigned long long)h.last_seq, output);
  return 0;
}

int main(int argc, char **argv) {
  static const struct option options[] = {
      {"data", required_argument, NULL, 'd'}, {"output", required_argument, NULL, 'o'},
      {"quiet", no_argument, NULL, 'q'},      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *data = NULL, *output = NULL;
  int quiet = 0, opt;
  opterr = 0;
  while ((opt = getopt_long(argc, argv, ":o:q", options, NULL)) != -1) {
    switch (opt) {
    case 'd': data = optarg; break;
    case 'o': output = strcmp(optarg, "-") == 0 ? NULL : optarg; break;
    case 'q': quiet = 1; break;
    case 'h': fputs(usage, stdout); return 0;
    case ':':
      fprintf(stderr, "idlink-dump: %s: needs a value\n", argv[optind - 1]);
      return 2;
    default:
      fprintf(stderr, "idlink-dump: %s: unknown option (see --help)\n", argv[optind - 1]);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "idlink-dump: %s: unexpected argument (see --help)\n", argv[optind]);
    return 2;
  }
  if (!data) {
    fprintf(stderr, "idlink-dump: --data DIR is required (see --help)\n");
    return 2;
  }
  if (!output && isatty(1)) {
    fprintf(stderr, "idlink-dump: standard output is a terminal; use -o FILE or a pipe\n");
    return 2;
  }
  idl_log_set_level(IDL_LOG_ERROR);
  idl_report_store_faults("idlink-dump", data, 2);
  return dump(data, output, quiet);
}

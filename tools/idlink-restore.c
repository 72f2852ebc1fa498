/* idlink-restore: loads a snapshot into a store. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idlink/log.h"
#include "idlink/snapshot.h"
#include "idlink/toolkit.h"

static const char usage[] =
    "Usage: idlink-restore --data DIR [-i FILE] [--force] [--quiet]\n"
    "Load a snapshot written by idlink-dump into the store in DIR.\n"
    "\n"
    "  --data DIR      the store's folder, created if missing; refused while an\n"
    "                  idlinkd serves it\n"
    "  -i, --input FILE  read FILE; default: standard input\n"
    "  --force         replace a store that holds data (atomically: the new store\n"
    "                  is built beside it and swapped in)\n"
    "  -q, --quiet     no progress on the terminal\n"
    "  --help          print this help and exit\n"
    "\n"
    "The whole file is verified (structure, counts, checksum, and the store's\n"
    "invariants over its rows, as idlink-check --snapshot verifies it) before\n"
    "the store is touched; a bad file, a full disk or any other failure leaves\n"
    "the store as it was, and removes DIR again when the restore created it.\n"
    "Exit 0 on success, 1 when the snapshot is refused or cannot be loaded, 2\n"
    "for bad options.\n";

static int restore(const char *dir, const char *input, int force, int quiet) {
  char why[512] = "";
  char *buf = NULL;
  size_t len = 0;
  enum idl_err err = idl_read_all(input, &buf, &len, why, sizeof(why));
  if (err) {
    fprintf(stderr, "idlink-restore: %s\n", why);
    return 1;
  }
  struct idl_progress p;
  idl_progress_init(&p, "idlink-restore", quiet);
  struct idl_restore_opts opts = {.force = force, .progress = idl_progress_show, .arg = &p};
  struct idl_snapshot_header h;
  err = idl_snapshot_restore(dir, buf, len, &opts, &h, why, sizeof(why));
  idl_progress_done(&p);
  free(buf);
  if (err) {
    fprintf(stderr, "idlink-restore: %s: %s\n", input ? input : "standard input", why);
    return 1;
  }
  if (!quiet)
    fprintf(stderr, "idlink-restore: %llu contacts, last seq %llu, into %s\n",
            (unsigned long long)h.contacts, (unsigned long long)h.last_seq, dir);
  return 0;
}

int main(int argc, char **argv) {
  static const struct option options[] = {
      {"data", required_argument, NULL, 'd'}, {"input", required_argument, NULL, 'i'},
      {"force", no_argument, NULL, 'f'},      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
  };
  const char *data = NULL, *input = NULL;
  int force = 0, quiet = 0, opt;
  opterr = 0;
  while ((opt = getopt_long(argc, argv, ":i:q", options, NULL)) != -1) {
    switch (opt) {
    case 'd': data = optarg; break;
    case 'i': input = strcmp(optarg, "-") == 0 ? NULL : optarg; break;
    case 'f': force = 1; break;
    case 'q': quiet = 1; break;
    case 'h': fputs(usage, stdout); return 0;
    case ':':
      fprintf(stderr, "idlink-restore: %s: needs a value\n", argv[optind - 1]);
      return 2;
    default:
      fprintf(stderr, "idlink-restore: %s: unknown option (see --help)\n", argv[optind - 1]);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "idlink-restore: %s: unexpected argument (see --help)\n", argv[optind]);
    return 2;
  }
  if (!data) {
    fprintf(stderr, "idlink-restore: --data DIR is required (see --help)\n");
    return 2;
  }
  idl_log_set_level(IDL_LOG_ERROR);
  return restore(data, input, force, quiet);
}

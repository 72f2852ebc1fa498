/* Snapshots on a full disk (a 2 MB tmpfs of the test's own): restore and
 * dump fail naming the folder or the file and the cause, and leave the
 * target as it was. Mounting needs the right to: where it is not permitted,
 * a test exits 77, which ctest reports as skipped. And a damaged file's
 * sizes. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <zlib.h>

#include "fixtures.h"
#include "idlink/snapshot.h"
#include "idlink/toolkit.h"

/* Enough contacts for a snapshot and a store well over 2 MB. */
#define ROWS 60000

/* Mounts a 2 MB tmpfs on a new temporary folder dir, or exits 77. The mount
 * is made in a mount namespace of the test's own, so that it goes with the
 * process, also when a failed assertion aborts it. */
static void mount_small_disk(char *dir, size_t size) {
  snprintf(dir, size, "/tmp/idlink-full-XXXXXX");
  if (!mkdtemp(dir))
    FAIL_AT("mkdtemp: %s", strerror(errno));
  if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
      mount("tmpfs", dir, "tmpfs", 0, "size=2m") != 0) {
    fprintf(stderr, "skipped: cannot mount a tmpfs on %s: %s\n", dir, strerror(errno));
    rmdir(dir);
    exit(77);
  }
}

static void unmount_small_disk(const char *dir) {
  if (umount2(dir, MNT_DETACH) != 0 || rmdir(dir) != 0)
    fprintf(stderr, "cannot remove the tmpfs on %s: %s\n", dir, strerror(errno));
}

/* Fills t's new store with ROWS primaries, each with values of its own. */
static void fill(struct test_store *t) {
  struct idl_txn *txn;
  struct idl_bulk *b;
  ASSERT_EQ(test_store_open(t, 0), 0);
  ASSERT_OK(idl_txn_begin_write(t->s, NULL, &txn));
  ASSERT_OK(idl_bulk_begin(txn, &b));
  for (uint64_t id = 1; id <= ROWS; id++) {
    struct idl_contact c = {.id = id, .precedence = IDL_PRIMARY, .created_ms = (int64_t)id,
                            .updated_ms = (int64_t)id, .deleted_ms = IDL_TIME_NULL};
    snprintf(c.email, sizeof(c.email), "customer%llu@shop.example", (unsigned long long)id);
    snprintf(c.phone, sizeof(c.phone), "%llu", 5550000000ULL + id);
    ASSERT_OK(idl_bulk_add(b, &c));
  }
  ASSERT_OK(idl_bulk_finish(b));
  ASSERT_OK(idl_store_set_position(txn, ROWS + 1, 0));
  ASSERT_OK(idl_txn_commit(txn));
}

/* Dumps t's store to fd, named path in messages. */
static enum idl_err dump(struct test_store *t, int fd, const char *path, char *why,
                         size_t why_len) {
  struct idl_dump_opts opts = {.store = t->dir, .output = path};
  struct idl_snapshot_header h;
  struct idl_txn *txn;
  enum idl_err err = idl_txn_begin_read(t->s, &txn);
  if (!err)
    err = idl_snapshot_write(txn, fd, &opts, &h, why, why_len);
  idl_txn_abort(txn);
  return err;
}

/* A snapshot of ROWS contacts, in a new buffer *buf (free()). */
static void snapshot(char **buf, size_t *len) {
  struct test_store t;
  char path[64] = "/tmp/idlink-snap-XXXXXX", why[512];
  fill(&t);
  int fd = mkstemp(path);
  ASSERT_NE(fd, -1);
  ASSERT_OK(dump(&t, fd, path, why, sizeof(why)));
  close(fd);
  ASSERT_OK(idl_read_all(path, buf, len, why, sizeof(why)));
  unlink(path);
  test_store_close(&t);
}

/* zlib's CRC-32 of the file at path. */
static uLong file_crc(const char *path) {
  char *buf, why[512];
  size_t len;
  ASSERT_OK(idl_read_all(path, &buf, &len, why, sizeof(why)));
  uLong crc = crc32_z(crc32_z(0, NULL, 0), (const Bytef *)buf, len);
  free(buf);
  return crc;
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

#define ASSERT_HAS(haystack, needle)                                           \
  do {                                                                         \
    if (!strstr((haystack), (needle)))                                         \
      FAIL_AT("expected \"%s\" in \"%s\"", (needle), (haystack));              \
  } while (0)

static void test_restore_onto_a_full_disk_keeps_the_store(void) {
  char disk[64], dir[128], data[160], why[512] = "", *buf;
  size_t len;
  struct idl_snapshot_header h;
  struct idl_restore_opts opts = {.force = 1};
  snapshot(&buf, &len);
  mount_small_disk(disk, sizeof(disk));
  snprintf(dir, sizeof(dir), "%s/store", disk);
  snprintf(data, sizeof(data), "%s/data.mdb", dir);
  struct idl_store_opts so = {.sync_full = 1};
  struct idl_store *s;
  ASSERT_OK(idl_store_open(dir, &so, &s));
  ASSERT_OK(plant(s, 1, "kept@x.io", "1", 0, 1));
  idl_store_close(s);
  uLong before = file_crc(data);
  ASSERT_EQ(idl_snapshot_restore(dir, buf, len, &opts, &h, why, sizeof(why)), IDL_ERR_FULL);
  ASSERT_HAS(why, dir);
  ASSERT_HAS(why, idl_strerror(IDL_ERR_FULL));
  ASSERT_EQ(file_crc(data), before);
  ASSERT_EQ(exists(data), 1);
  snprintf(data, sizeof(data), "%s/restore.tmp", dir);
  ASSERT_EQ(exists(data), 0);
  free(buf);
  unmount_small_disk(disk);
}

static void test_restore_into_a_new_folder_on_a_full_disk_leaves_nothing(void) {
  char disk[64], dir[160], top[128], why[512] = "", *buf;
  size_t len;
  struct idl_snapshot_header h;
  struct idl_restore_opts opts = {0};
  snapshot(&buf, &len);
  mount_small_disk(disk, sizeof(disk));
  snprintf(top, sizeof(top), "%s/new", disk);
  snprintf(dir, sizeof(dir), "%s/a", top);
  ASSERT_EQ(idl_snapshot_restore(dir, buf, len, &opts, &h, why, sizeof(why)), IDL_ERR_FULL);
  ASSERT_HAS(why, dir);
  ASSERT_HAS(why, idl_strerror(IDL_ERR_FULL));
  ASSERT_EQ(exists(top), 0);
  free(buf);
  unmount_small_disk(disk);
}

static void test_dump_onto_a_full_disk_names_the_file(void) {
  char disk[64], path[128], why[512] = "", want[256];
  struct test_store t;
  fill(&t);
  mount_small_disk(disk, sizeof(disk));
  snprintf(path, sizeof(path), "%s/snap.bin", disk);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_NE(fd, -1);
  ASSERT_EQ(dump(&t, fd, path, why, sizeof(why)), IDL_ERR_FULL);
  close(fd);
  snprintf(want, sizeof(want), "%s: %s", path, strerror(ENOSPC));
  ASSERT_STR(why, want);
  test_store_close(&t);
  unmount_small_disk(disk);
}

/* A map or an array whose head declares more elements than there are bytes
 * left is a truncated file, said at once: msgpack-c would first allocate
 * them all (here 2^32 - 1 entries, 64 GiB). */
static void test_read_refuses_sizes_past_the_end(void) {
  static const char map32[] = "\xdf\xff\xff\xff\xff\xa6" "format";
  struct idl_snapshot_header h;
  char why[512] = "";
  ASSERT_EQ(idl_snapshot_read(map32, sizeof(map32) - 1, NULL, &h, why, sizeof(why)),
            IDL_ERR_CORRUPT);
  ASSERT_STR(why, "truncated at byte 12: the header at byte 0 is incomplete");
}

int main(int argc, char **argv) {
  TEST_INIT(argc, argv);
  RUN(test_restore_onto_a_full_disk_keeps_the_store);
  RUN(test_restore_into_a_new_folder_on_a_full_disk_leaves_nothing);
  RUN(test_dump_onto_a_full_disk_names_the_file);
  RUN(test_read_refuses_sizes_past_the_end);
  return TEST_EXIT();
}

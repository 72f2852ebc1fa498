/* The store: the only file that includes lmdb.h. LMDB codes are translated
 * here, once, and logged where they are translated. */
#include "idlink/store.h"

#include "idlink/blocklist.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "idlink/check.h"
#include "idlink/log.h"
#include "idlink/resource.h"

_Static_assert(sizeof(size_t) == sizeof(uint64_t), "MDB_INTEGERKEY ids are size_t");

/* Read transactions that have ended are kept reset, with their reader slot,
 * and renewed by the next reader: beginning one then takes no lock of LMDB's
 * reader table. */
#define READ_POOL_MAX 256

/* A read transaction keeps one cursor per database it looks keys up in:
 * LMDB looks a key up within the cursor's current leaf page before it
 * descends from the root, so the rows of a list page, read in key order,
 * mostly skip the descent (and its cache misses in a large store). */
#define READ_CURSORS 8

struct read_cursor {
  MDB_dbi dbi;
  MDB_cursor *cur;
  int live; /* opened or renewed in the transaction as it is now */
};

struct idl_txn {
  struct idl_store *s;
  MDB_txn *txn;
  struct idl_txn *parent; /* the transaction a nested one belongs to */
  int read_only;
  int dirty;              /* something was written (idl_txn_dirty) */
  struct idl_txn *next_free; /* in the pool */
  struct read_cursor cursors[READ_CURSORS];
  unsigned n_cursors;
};

/* A generic record table: records by pk, and one database per index (value
 * key -> pks, sorted duplicates). dbi 0 when the table is absent (a store
 * opened read-only that predates it): it reads as empty. */
#define MAX_TABLES 16
#define MAX_TABLE_INDEXES 12

struct table {
  MDB_dbi records;
  MDB_dbi index[MAX_TABLE_INDEXES];
  size_t n_indexes;
};

struct idl_store {
  MDB_env *env;
  MDB_dbi contacts, email, phone, members, meta, changes;
  struct table tables[MAX_TABLES];
  int lock_fd;
  size_t max_key;
  char dir[4096];
  const struct idl_blocklist *blocklist;
  uint64_t max_identity; /* contacts an identity may reach; 0: no limit */
  struct idl_blocklist *own_blocklist; /* the recorded one, when none was given */
  pthread_mutex_t pool_lock;
  struct idl_txn *pool; /* guarded by pool_lock */
  size_t pooled;        /* guarded by pool_lock */
};

/* ---------------------------------------------------------------- errors */

/* A failing disk fails every write the same way: each kind of failure is
 * logged at most once per interval, with a count of the ones held back. */
static struct idl_log_limit full_log, io_log, corrupt_log, nomem_log;

static enum idl_err xlate(int rc, const char *what) {
  switch (rc) {
  case 0:
    return IDL_ERR_OK;
  case MDB_NOTFOUND:
    return IDL_ERR_NOTFOUND;
  case MDB_MAP_FULL:
  case ENOSPC:
  case EDQUOT:
    idl_log_limited(&full_log, IDL_LOG_ERROR, "store: %s: %s", what, mdb_strerror(rc));
    return IDL_ERR_FULL;
  case ENOMEM:
    idl_log_limited(&nomem_log, IDL_LOG_ERROR, "store: %s: %s", what, mdb_strerror(rc));
    return IDL_ERR_NOMEM;
  case MDB_CORRUPTED:
  case MDB_PAGE_NOTFOUND:
  case MDB_INVALID:
  case MDB_VERSION_MISMATCH:
    idl_log_limited(&corrupt_log, IDL_LOG_ERROR, "store: %s: %s", what, mdb_strerror(rc));
    return IDL_ERR_CORRUPT;
  default:
    idl_log_limited(&io_log, IDL_LOG_ERROR, "store: %s: %s", what, mdb_strerror(rc));
    return IDL_ERR_IO;
  }
}

/* LMDB reports a write the file system cut short (no room left) as EIO.
 * When the folder's file system has next to no room left (less than a
 * commit of a few hundred pages may need), that EIO is a full disk, which the
 * client is told as such (507), not a broken store. */
#define FULL_BELOW_BYTES ((uint64_t)1 << 20)

static int disk_full(const struct idl_store *s) {
  struct statvfs st;
  return statvfs(s->dir, &st) == 0 && (uint64_t)st.f_bavail * st.f_frsize < FULL_BELOW_BYTES;
}

static enum idl_err xlate_write(const struct idl_store *s, int rc, const char *what) {
  return xlate(rc == EIO && disk_full(s) ? ENOSPC : rc, what);
}

/* ------------------------------------------------------------ open/close */

static const char *const META_SCHEMA = "schema_version";
static const char *const META_NEXT_ID = "next_id";
static const char *const META_DELETED = "deleted_contacts";
static const char *const META_LAST_SEQ = "last_seq";

static int mkdir_p(const char *dir) {
  char path[4096];
  size_t len = strlen(dir);
  if (len == 0 || len >= sizeof(path))
    return ENAMETOOLONG;
  memcpy(path, dir, len + 1);
  for (char *p = path + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(path, 0750) != 0 && errno != EEXIST)
      return errno;
    *p = '/';
  }
  if (mkdir(path, 0750) != 0 && errno != EEXIST)
    return errno;
  return 0;
}

enum idl_err idl_store_lock(const char *dir, int *fd) {
  char path[4096];
  int rc = mkdir_p(dir);
  if (rc) {
    idl_log_error("store: cannot create %s: %s", dir, strerror(rc));
    return IDL_ERR_IO;
  }
  snprintf(path, sizeof(path), "%s/idlink.lock", dir);
  int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (f < 0) {
    idl_log_error("store: cannot open %s: %s", path, strerror(errno));
    return IDL_ERR_IO;
  }
  if (flock(f, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    close(f);
    return e == EWOULDBLOCK ? IDL_ERR_LOCKED : IDL_ERR_IO;
  }
  *fd = f;
  return IDL_ERR_OK;
}

void idl_store_unlock(int fd) {
  if (fd >= 0)
    close(fd); /* releases the flock */
}

static enum idl_err meta_get(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *out) {
  MDB_val k = {strlen(key), (void *)key}, v;
  int rc = mdb_get(txn, dbi, &k, &v);
  if (rc)
    return xlate(rc, "read metadata");
  if (v.mv_size != sizeof(uint64_t))
    return IDL_ERR_CORRUPT;
  memcpy(out, v.mv_data, sizeof(*out));
  return IDL_ERR_OK;
}

static enum idl_err meta_put(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t val) {
  MDB_val k = {strlen(key), (void *)key}, v = {sizeof(val), &val};
  return xlate(mdb_put(txn, dbi, &k, &v, 0), "write metadata");
}

enum idl_err idl_store_meta_get(struct idl_txn *txn, const char *key, uint64_t *out) {
  return meta_get(txn->txn, txn->s->meta, key, out);
}

enum idl_err idl_store_meta_put(struct idl_txn *txn, const char *key, uint64_t val) {
  return meta_put(txn->txn, txn->s->meta, key, val);
}

/* The databases a store has: six of the contact graph, and for each
 * collection its records and one per index; one more for dropping an index
 * no collection declares any longer. */
static unsigned count_dbs(void) {
  unsigned n = 7;
  for (size_t t = 0; t < idl_n_resources; t++)
    n += 1 + (unsigned)idl_resources[t]->n_indexes;
  return n;
}

/* The database of index i of res, "i.NAME.INDEX", into name (128 bytes);
 * returns its length. */
static size_t index_db_name(const struct idl_resource *res, size_t i, char name[128]) {
  int n = snprintf(name, 128, "i.%s.%s", res->name, res->indexes[i].name);
  return n < 0 ? 0 : (size_t)n;
}

/* Whether db (len bytes) is the database of an index some collection
 * declares. */
static int index_declared(const char *db, size_t len) {
  for (size_t t = 0; t < idl_n_resources; t++)
    for (size_t i = 0; i < idl_resources[t]->n_indexes; i++) {
      char name[128];
      if (index_db_name(idl_resources[t], i, name) == len && memcmp(name, db, len) == 0)
        return 1;
    }
  return 0;
}

/* Drops the index databases of a store written by a version that declared
 * indexes this one does not: an index holds nothing a record does not, and
 * left alone it would only take space. Records are never dropped. Each drop
 * is a write transaction of its own, after the store is open: one that
 * fails (a full map) is logged and tried again at the next start. */
static void drop_retired_indexes(struct idl_store *s) {
  char retired[16][128];
  size_t n = 0;
  MDB_txn *txn;
  MDB_dbi main_db;
  MDB_cursor *cur;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (!rc) {
    if (!(rc = mdb_dbi_open(txn, NULL, 0, &main_db)) &&
        !(rc = mdb_cursor_open(txn, main_db, &cur))) {
      MDB_val k = {2, "i."}, v;
      for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
           !rc && n < 16 && k.mv_size > 2 && memcmp(k.mv_data, "i.", 2) == 0;
           rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if (k.mv_size < sizeof(retired[0]) && !index_declared(k.mv_data, k.mv_size)) {
          memcpy(retired[n], k.mv_data, k.mv_size);
          retired[n++][k.mv_size] = '\0';
        }
      mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
  }
  if (rc && rc != MDB_NOTFOUND)
    idl_log_warn("store: cannot list the databases: %s", mdb_strerror(rc));
  for (size_t i = 0; i < n; i++) {
    MDB_dbi dbi;
    if (!(rc = mdb_txn_begin(s->env, NULL, 0, &txn))) {
      if ((rc = mdb_dbi_open(txn, retired[i], 0, &dbi)) || (rc = mdb_drop(txn, dbi, 1)))
        mdb_txn_abort(txn);
      else
        rc = mdb_txn_commit(txn);
    }
    if (rc)
      idl_log_warn("store: cannot drop the retired index %s: %s", retired[i], mdb_strerror(rc));
    else
      idl_log_info("store: dropped the index %s, which this version no longer keeps",
                   retired[i]);
  }
}

/* Opens (creating them when create is set) the collections' tables: "t.NAME"
 * and "i.NAME.INDEX". */
static enum idl_err open_tables(struct idl_store *s, MDB_txn *txn, unsigned create) {
  unsigned ids = MDB_INTEGERKEY, dups = MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP;
  for (size_t t = 0; t < idl_n_resources; t++) {
    const struct idl_resource *res = idl_resources[t];
    struct table *tb = &s->tables[t];
    char name[128];
    snprintf(name, sizeof(name), "t.%s", res->name);
    int rc = mdb_dbi_open(txn, name, create | ids, &tb->records);
    for (size_t i = 0; !rc && i < res->n_indexes; i++) {
      index_db_name(res, i, name);
      rc = mdb_dbi_open(txn, name, create | dups, &tb->index[i]);
    }
    if (rc == MDB_NOTFOUND && !create) {
      *tb = (struct table){0}; /* an older store: the table reads as empty */
      continue;
    }
    if (rc)
      return xlate(rc, "open tables");
    tb->n_indexes = res->n_indexes;
  }
  return IDL_ERR_OK;
}

/* Opens (or creates) the named databases and checks the schema version. */
static enum idl_err open_dbs(struct idl_store *s, int read_only) {
  MDB_txn *txn;
  unsigned create = read_only ? 0 : MDB_CREATE;
  unsigned ids = MDB_INTEGERKEY, dups = MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP;
  int rc = mdb_txn_begin(s->env, NULL, read_only ? MDB_RDONLY : 0, &txn);
  if (rc)
    return xlate(rc, "begin");
  if ((rc = mdb_dbi_open(txn, "contacts", create | ids, &s->contacts)) ||
      (rc = mdb_dbi_open(txn, "email", create | dups, &s->email)) ||
      (rc = mdb_dbi_open(txn, "phone", create | dups, &s->phone)) ||
      (rc = mdb_dbi_open(txn, "members", create | ids | dups, &s->members)) ||
      (rc = mdb_dbi_open(txn, "meta", create, &s->meta)) ||
      (rc = mdb_dbi_open(txn, "changes", create | ids, &s->changes))) {
    mdb_txn_abort(txn);
    return rc == MDB_NOTFOUND ? IDL_ERR_NOTFOUND : xlate(rc, "open databases");
  }
  uint64_t version = 0;
  enum idl_err err = meta_get(txn, s->meta, META_SCHEMA, &version);
  if (err == IDL_ERR_NOTFOUND && !read_only) {
    err = meta_put(txn, s->meta, META_SCHEMA, IDL_SCHEMA_VERSION);
    if (!err)
      err = meta_put(txn, s->meta, META_NEXT_ID, 1);
    if (!err)
      err = meta_put(txn, s->meta, META_LAST_SEQ, 0);
  } else if (!err && (version < IDL_SCHEMA_VERSION_OLDEST || version > IDL_SCHEMA_VERSION)) {
    err = IDL_ERR_VERSION;
  }
  if (!err)
    err = open_tables(s, txn, create);
  /* An older store is brought up to this version: from then on, an older
   * idlinkd refuses it rather than answer from indexes it no longer has. */
  if (!err && !read_only && version < IDL_SCHEMA_VERSION)
    err = meta_put(txn, s->meta, META_SCHEMA, IDL_SCHEMA_VERSION);
  if (err) {
    mdb_txn_abort(txn);
    return err;
  }
  return xlate(mdb_txn_commit(txn), "create databases");
}

#define META_BLOCKLIST "blocklist"

/* The rules the store last recorded, for a store opened without any. */
static enum idl_err load_blocklist(struct idl_store *s) {
  struct idl_txn *txn;
  char *text = NULL;
  enum idl_err err = idl_txn_begin_read(s, &txn);
  if (err)
    return err;
  err = idl_store_recorded_blocklist(txn, &text);
  idl_txn_abort(txn);
  if (!err && text && *text && !(err = idl_blocklist_new(&s->own_blocklist)))
    err = idl_blocklist_add_text(s->own_blocklist, text);
  free(text);
  s->blocklist = s->own_blocklist;
  return err;
}

enum idl_err idl_store_open(const char *dir, const struct idl_store_opts *opts,
                            struct idl_store **out) {
  struct idl_store *s = calloc(1, sizeof(*s));
  if (!s)
    return IDL_ERR_NOMEM;
  s->lock_fd = -1;
  pthread_mutex_init(&s->pool_lock, NULL);
  enum idl_err err = IDL_ERR_OK;
  unsigned flags = MDB_NOTLS | (opts->sync_full ? 0 : MDB_NOSYNC);
  if (opts->read_only) {
    flags |= MDB_RDONLY;
  } else {
    int rc = mkdir_p(dir);
    if (rc) {
      idl_log_error("store: cannot create %s: %s", dir, strerror(rc));
      err = IDL_ERR_IO;
      goto out;
    }
  }
  if (opts->exclusive && (err = idl_store_lock(dir, &s->lock_fd)))
    goto out;
  int rc = mdb_env_create(&s->env);
  if (!rc)
    rc = mdb_env_set_maxdbs(s->env, count_dbs());
  if (!rc)
    rc = mdb_env_set_maxreaders(s->env, 1024);
  if (!rc && !opts->read_only)
    rc = mdb_env_set_mapsize(s->env, opts->map_size ? opts->map_size
                                                    : IDL_STORE_DEFAULT_MAP_SIZE);
  if (!rc)
    rc = mdb_env_open(s->env, dir, flags, 0640);
  if (rc) {
    err = rc == ENOENT ? IDL_ERR_NOTFOUND : xlate(rc, "open environment");
    goto out;
  }
  s->max_key = (size_t)mdb_env_get_maxkeysize(s->env);
  snprintf(s->dir, sizeof(s->dir), "%s", dir);
  s->max_identity = opts->max_identity_contacts;
  err = open_dbs(s, opts->read_only);
  if (!err && !opts->read_only)
    drop_retired_indexes(s);
  if (!err)
    err = opts->blocklist ? (s->blocklist = opts->blocklist, IDL_ERR_OK) : load_blocklist(s);
out:
  if (err) {
    idl_store_close(s);
    return err;
  }
  *out = s;
  return IDL_ERR_OK;
}

static void txn_free(struct idl_txn *t);

void idl_store_close(struct idl_store *s) {
  if (!s)
    return;
  for (struct idl_txn *t = s->pool, *next; t; t = next) {
    next = t->next_free;
    txn_free(t);
  }
  pthread_mutex_destroy(&s->pool_lock);
  idl_blocklist_free(s->own_blocklist);
  if (s->env)
    mdb_env_close(s->env);
  idl_store_unlock(s->lock_fd);
  free(s);
}

/* ---------------------------------------------------------- transactions */

/* Ends a transaction for good: its read cursors (which outlive a read
 * transaction's reset, for its renewal) and the transaction. */
static void txn_free(struct idl_txn *t) {
  for (unsigned i = 0; i < t->n_cursors; i++)
    mdb_cursor_close(t->cursors[i].cur);
  mdb_txn_abort(t->txn);
  free(t);
}

/* The cursor of a read transaction on dbi, or NULL (a write transaction,
 * or more databases than it keeps cursors for). */
static MDB_cursor *read_cursor(struct idl_txn *t, MDB_dbi dbi) {
  if (!t->read_only)
    return NULL;
  for (unsigned i = 0; i < t->n_cursors; i++) {
    struct read_cursor *c = &t->cursors[i];
    if (c->dbi != dbi)
      continue;
    if (!c->live && mdb_cursor_renew(t->txn, c->cur) != 0)
      return NULL;
    c->live = 1;
    return c->cur;
  }
  MDB_cursor *cur;
  if (t->n_cursors == READ_CURSORS || mdb_cursor_open(t->txn, dbi, &cur) != 0)
    return NULL;
  t->cursors[t->n_cursors++] = (struct read_cursor){dbi, cur, 1};
  return cur;
}

/* mdb_get, through the transaction's cursor on dbi when it has one. */
static int txn_get(struct idl_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v) {
  MDB_cursor *cur = read_cursor(t, dbi);
  return cur ? mdb_cursor_get(cur, k, v, MDB_SET) : mdb_get(t->txn, dbi, k, v);
}

static enum idl_err txn_begin(struct idl_store *s, struct idl_txn *parent,
                              unsigned flags, struct idl_txn **out) {
  struct idl_txn *t = malloc(sizeof(*t));
  if (!t)
    return IDL_ERR_NOMEM;
  *t = (struct idl_txn){.s = s, .parent = parent, .read_only = (flags & MDB_RDONLY) != 0};
  int rc = mdb_txn_begin(s->env, parent ? parent->txn : NULL, flags, &t->txn);
  if (rc) {
    free(t);
    return xlate(rc, "begin transaction");
  }
  *out = t;
  return IDL_ERR_OK;
}

enum idl_err idl_txn_begin_read(struct idl_store *s, struct idl_txn **out) {
  pthread_mutex_lock(&s->pool_lock);
  struct idl_txn *t = s->pool;
  if (t) {
    s->pool = t->next_free;
    s->pooled--;
  }
  pthread_mutex_unlock(&s->pool_lock);
  if (!t)
    return txn_begin(s, NULL, MDB_RDONLY, out);
  int rc = mdb_txn_renew(t->txn);
  if (rc) {
    txn_free(t);
    return xlate(rc, "renew transaction");
  }
  *out = t;
  return IDL_ERR_OK;
}

enum idl_err idl_txn_begin_write(struct idl_store *s, struct idl_txn *parent,
                                 struct idl_txn **out) {
  return txn_begin(s, parent, 0, out);
}

enum idl_err idl_txn_commit(struct idl_txn *txn) {
  if (txn->read_only) {
    idl_txn_abort(txn); /* nothing to commit; keeps the pool's rules in one place */
    return IDL_ERR_OK;
  }
  int rc = mdb_txn_commit(txn->txn);
  struct idl_store *s = txn->s;
  if (!rc && txn->dirty && txn->parent)
    txn->parent->dirty = 1;
  free(txn);
  return xlate_write(s, rc, "commit");
}

void idl_txn_abort(struct idl_txn *txn) {
  if (!txn)
    return;
  struct idl_store *s = txn->s;
  if (txn->read_only) {
    mdb_txn_reset(txn->txn);
    for (unsigned i = 0; i < txn->n_cursors; i++)
      txn->cursors[i].live = 0; /* renewed on their next use */
    pthread_mutex_lock(&s->pool_lock);
    int keep = s->pooled < READ_POOL_MAX;
    if (keep) {
      txn->next_free = s->pool;
      s->pool = txn;
      s->pooled++;
    }
    pthread_mutex_unlock(&s->pool_lock);
    if (keep)
      return;
  }
  txn_free(txn);
}

uint64_t idl_txn_id(const struct idl_txn *txn) { return mdb_txn_id(txn->txn); }

int idl_txn_dirty(const struct idl_txn *txn) { return txn->dirty; }

struct idl_store *idl_txn_store(const struct idl_txn *txn) { return txn->s; }

/* -------------------------------------------------------------- contacts */

static MDB_val id_val(const uint64_t *id) {
  return (MDB_val){sizeof(*id), (void *)id};
}

enum idl_err idl_store_get(struct idl_txn *txn, uint64_t id, struct idl_contact *out) {
  MDB_val k = id_val(&id), v;
  int rc = txn_get(txn, txn->s->contacts, &k, &v);
  if (rc)
    return xlate(rc, "read contact");
  enum idl_err err = idl_codec_decode_contact(v.mv_data, v.mv_size, out);
  if (err == IDL_ERR_CORRUPT || (!err && out->id != id)) {
    idl_log_error("store: contact %llu: record does not decode", (unsigned long long)id);
    return IDL_ERR_CORRUPT;
  }
  return err;
}

size_t idl_store_index_key_len(const struct idl_store *s, size_t value_len) {
  return value_len < s->max_key ? value_len : s->max_key;
}

static MDB_dbi index_dbi(const struct idl_txn *txn, enum idl_index which) {
  return which == IDL_INDEX_EMAIL ? txn->s->email : txn->s->phone;
}

static const char *index_value(const struct idl_contact *c, enum idl_index which) {
  return which == IDL_INDEX_EMAIL ? c->email : c->phone;
}

/* Whether contact id holds exactly value: only needed when the key was cut. */
static enum idl_err index_entry_matches(struct idl_txn *txn, enum idl_index which,
                                        uint64_t id, const char *value, int *match) {
  struct idl_contact c;
  enum idl_err err = idl_store_get(txn, id, &c);
  if (!err)
    *match = strcmp(index_value(&c, which), value) == 0;
  return err;
}

/* Runs fn on every duplicate of key in a DUPSORT+INTEGERDUP database. */
static enum idl_err for_each_dup(struct idl_txn *txn, MDB_dbi dbi, MDB_val *key,
                                 enum idl_err (*fn)(uint64_t id, void *arg), void *arg) {
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn->txn, dbi, &cur);
  if (rc)
    return xlate(rc, "open cursor");
  MDB_val v;
  enum idl_err err = IDL_ERR_OK;
  for (rc = mdb_cursor_get(cur, key, &v, MDB_SET_KEY); !rc && !err;
       rc = mdb_cursor_get(cur, key, &v, MDB_NEXT_DUP)) {
    uint64_t id;
    memcpy(&id, v.mv_data, sizeof(id));
    err = fn(id, arg);
  }
  mdb_cursor_close(cur);
  if (err)
    return err;
  return rc == MDB_NOTFOUND ? IDL_ERR_OK : xlate(rc, "read index");
}

static enum idl_err push_id(uint64_t id, void *arg) { return idl_ids_push(arg, id); }

enum idl_err idl_store_find(struct idl_txn *txn, enum idl_index which,
                            const char *value, struct idl_ids *out) {
  size_t len = strlen(value), key_len = idl_store_index_key_len(txn->s, len);
  MDB_val k = {key_len, (void *)value};
  size_t first = out->n;
  enum idl_err err = for_each_dup(txn, index_dbi(txn, which), &k, push_id, out);
  /* A value as long as the key limit shares its key with longer values. */
  if (err || len < txn->s->max_key)
    return err;
  /* A cut key may hold longer values sharing its prefix: keep exact matches. */
  size_t kept = first;
  for (size_t i = first; i < out->n; i++) {
    int match = 0;
    if ((err = index_entry_matches(txn, which, out->v[i], value, &match)))
      return err;
    if (match)
      out->v[kept++] = out->v[i];
  }
  out->n = kept;
  return IDL_ERR_OK;
}

enum idl_err idl_store_find_first(struct idl_txn *txn, enum idl_index which,
                                  const char *value, uint64_t *id) {
  size_t len = strlen(value);
  int cut = len >= txn->s->max_key; /* the key may hold longer values too */
  MDB_val k = {idl_store_index_key_len(txn->s, len), (void *)value}, v;
  if (!cut) { /* the key is the whole value: its first entry is the holder */
    int rc = txn_get(txn, index_dbi(txn, which), &k, &v);
    if (rc)
      return rc == MDB_NOTFOUND ? IDL_ERR_NOTFOUND : xlate(rc, "read index");
    memcpy(id, v.mv_data, sizeof(*id));
    return IDL_ERR_OK;
  }
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn->txn, index_dbi(txn, which), &cur);
  if (rc)
    return xlate(rc, "open cursor");
  enum idl_err err = IDL_ERR_NOTFOUND;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); !rc;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
    uint64_t found;
    int match = 1;
    memcpy(&found, v.mv_data, sizeof(found));
    if ((err = index_entry_matches(txn, which, found, value, &match)))
      break;
    if (match) {
      *id = found;
      err = IDL_ERR_OK;
      break;
    }
    err = IDL_ERR_NOTFOUND;
  }
  mdb_cursor_close(cur);
  if (rc && rc != MDB_NOTFOUND)
    return xlate(rc, "read index");
  return err;
}

enum idl_err idl_store_members(struct idl_txn *txn, uint64_t primary, struct idl_ids *out) {
  MDB_val k = id_val(&primary);
  return for_each_dup(txn, txn->s->members, &k, push_id, out);
}

enum idl_err idl_store_members_count(struct idl_txn *txn, uint64_t primary, uint64_t *n) {
  MDB_cursor *cur;
  MDB_val k = id_val(&primary), v;
  size_t count = 0;
  int rc = mdb_cursor_open(txn->txn, txn->s->members, &cur);
  if (rc)
    return xlate(rc, "open cursor");
  rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
  if (!rc)
    rc = mdb_cursor_count(cur, &count);
  mdb_cursor_close(cur);
  *n = rc ? 0 : (uint64_t)count;
  return rc == 0 || rc == MDB_NOTFOUND ? IDL_ERR_OK : xlate(rc, "read members");
}

uint64_t idl_store_max_identity(const struct idl_store *s) {
  return s->max_identity;
}

static enum idl_err dup_put(struct idl_txn *txn, MDB_dbi dbi, MDB_val k, uint64_t id) {
  MDB_val v = id_val(&id);
  int rc = mdb_put(txn->txn, dbi, &k, &v, MDB_NODUPDATA);
  return rc == MDB_KEYEXIST ? IDL_ERR_OK : xlate(rc, "write index");
}

static enum idl_err dup_del(struct idl_txn *txn, MDB_dbi dbi, MDB_val k, uint64_t id) {
  MDB_val v = id_val(&id);
  int rc = mdb_del(txn->txn, dbi, &k, &v);
  return rc == MDB_NOTFOUND ? IDL_ERR_OK : xlate(rc, "delete index entry");
}

/* The value contact c contributes to an index under rules bl: none when
 * deleted, unset or blocked. */
static const char *indexed(const struct idl_contact *c, enum idl_index which,
                           const struct idl_blocklist *bl) {
  if (!c || c->deleted_ms != IDL_TIME_NULL)
    return "";
  const char *v = index_value(c, which);
  return idl_blocklist_blocks(bl, which, v) ? "" : v;
}

/* Moves c's entry in an index from was to now. */
static enum idl_err index_move(struct idl_txn *txn, enum idl_index which, uint64_t id,
                               const char *was, const char *now) {
  if (strcmp(was, now) == 0)
    return IDL_ERR_OK;
  MDB_dbi dbi = index_dbi(txn, which);
  enum idl_err err = IDL_ERR_OK;
  if (*was)
    err = dup_del(txn, dbi, (MDB_val){idl_store_index_key_len(txn->s, strlen(was)), (void *)was},
                  id);
  if (!err && *now)
    err = dup_put(txn, dbi, (MDB_val){idl_store_index_key_len(txn->s, strlen(now)), (void *)now},
                  id);
  return err;
}

enum idl_err idl_store_reindex(struct idl_txn *txn, const struct idl_contact *c,
                               const struct idl_blocklist *old, int *dropped, int *added) {
  enum idl_err err = IDL_ERR_OK;
  int any_dropped = 0, any_added = 0;
  static const enum idl_index kinds[] = {IDL_INDEX_EMAIL, IDL_INDEX_PHONE};
  for (size_t k = 0; k < 2 && !err; k++) {
    const char *was = indexed(c, kinds[k], old), *now = indexed(c, kinds[k], txn->s->blocklist);
    any_dropped |= *was && !*now;
    any_added |= !*was && *now;
    err = index_move(txn, kinds[k], c->id, was, now);
  }
  txn->dirty |= any_dropped | any_added;
  if (dropped)
    *dropped = any_dropped;
  if (added)
    *added = any_added;
  return err;
}

const struct idl_blocklist *idl_store_blocklist(const struct idl_store *s) {
  return s->blocklist;
}

void idl_store_set_blocklist(struct idl_store *s, const struct idl_blocklist *bl) {
  s->blocklist = bl;
}

int idl_store_blocked(const struct idl_store *s, enum idl_index which, const char *value) {
  return idl_blocklist_blocks(s->blocklist, which, value);
}

enum idl_err idl_store_meta_put_text(struct idl_txn *txn, const char *key, const char *text) {
  MDB_val k = {strlen(key), (void *)key}, v = {strlen(text), (void *)text};
  txn->dirty = 1;
  return xlate(mdb_put(txn->txn, txn->s->meta, &k, &v, 0), "write metadata");
}

enum idl_err idl_store_meta_get_text(struct idl_txn *txn, const char *key, char **text) {
  MDB_val k = {strlen(key), (void *)key}, v;
  *text = NULL;
  int rc = mdb_get(txn->txn, txn->s->meta, &k, &v);
  if (rc == MDB_NOTFOUND)
    return IDL_ERR_OK;
  if (rc)
    return xlate(rc, "read metadata");
  if (!(*text = malloc(v.mv_size + 1)))
    return IDL_ERR_NOMEM;
  memcpy(*text, v.mv_data, v.mv_size);
  (*text)[v.mv_size] = '\0';
  return IDL_ERR_OK;
}

enum idl_err idl_store_record_blocklist(struct idl_txn *txn) {
  char *text = idl_blocklist_text(txn->s->blocklist);
  if (!text)
    return IDL_ERR_NOMEM;
  enum idl_err err = idl_store_meta_put_text(txn, META_BLOCKLIST, text);
  free(text);
  return err;
}

enum idl_err idl_store_recorded_blocklist(struct idl_txn *txn, char **text) {
  return idl_store_meta_get_text(txn, META_BLOCKLIST, text);
}

static enum idl_err index_update(struct idl_txn *txn, enum idl_index which,
                                 const struct idl_contact *c,
                                 const struct idl_contact *old) {
  /* A row whose value and deletion stay as they were keeps its entry (most
   * puts: a link moved, a time updated), without asking the blocklist. */
  if (old && (old->deleted_ms == IDL_TIME_NULL) == (c->deleted_ms == IDL_TIME_NULL) &&
      strcmp(index_value(old, which), index_value(c, which)) == 0)
    return IDL_ERR_OK;
  const char *was = indexed(old, which, txn->s->blocklist),
             *now = indexed(c, which, txn->s->blocklist);
  return index_move(txn, which, c->id, was, now);
}

/* The primary whose members list holds c: none for a primary or a deleted row. */
static uint64_t member_of(const struct idl_contact *c) {
  if (!c || c->deleted_ms != IDL_TIME_NULL || c->precedence != IDL_SECONDARY)
    return 0;
  return c->linked_id;
}

static enum idl_err members_update(struct idl_txn *txn, const struct idl_contact *c,
                                   const struct idl_contact *old) {
  uint64_t was = member_of(old), now = member_of(c);
  if (was == now)
    return IDL_ERR_OK;
  enum idl_err err = IDL_ERR_OK;
  if (was)
    err = dup_del(txn, txn->s->members, id_val(&was), c->id);
  if (!err && now)
    err = dup_put(txn, txn->s->members, id_val(&now), c->id);
  return err;
}

/* Writes c's record to the contacts table only. */
static enum idl_err put_record(struct idl_txn *txn, const struct idl_contact *c,
                               unsigned flags) {
  char *data = NULL;
  size_t len = 0;
  enum idl_err err = idl_codec_encode_contact(c, &data, &len);
  if (!err) {
    MDB_val k = id_val(&c->id), v = {len, data};
    err = xlate(mdb_put(txn->txn, txn->s->contacts, &k, &v, flags), "write contact");
  }
  free(data);
  return err;
}

/* Counts a contact turning deleted (or back) in the store's metadata. */
static enum idl_err count_deleted(struct idl_txn *txn, int64_t delta) {
  uint64_t n = 0;
  enum idl_err err = meta_get(txn->txn, txn->s->meta, META_DELETED, &n);
  if (err && err != IDL_ERR_NOTFOUND)
    return err;
  return meta_put(txn->txn, txn->s->meta, META_DELETED, (uint64_t)((int64_t)n + delta));
}

enum idl_err idl_store_put(struct idl_txn *txn, const struct idl_contact *c,
                           const struct idl_contact *old) {
  txn->dirty = 1;
  int was = old && old->deleted_ms != IDL_TIME_NULL, now = c->deleted_ms != IDL_TIME_NULL;
  enum idl_err err = was != now ? count_deleted(txn, now - was) : IDL_ERR_OK;
  if (!err)
    err = put_record(txn, c, 0);
  if (!err)
    err = index_update(txn, IDL_INDEX_EMAIL, c, old);
  if (!err)
    err = index_update(txn, IDL_INDEX_PHONE, c, old);
  if (!err)
    err = members_update(txn, c, old);
  return err;
}

/* ------------------------------------------------------------ bulk loads */

struct bulk_entry {
  const char *key; /* in the arena */
  size_t len;
  uint64_t id;
};

struct bulk_list {
  struct bulk_entry *v;
  size_t n, cap;
};

#define ARENA_BLOCK ((size_t)1 << 20)

struct idl_bulk {
  struct idl_txn *txn;
  struct bulk_list email, phone, members; /* members: key NULL, len = primary */
  char **blocks;
  size_t n_blocks, cap_blocks;
  char *cur;
  size_t left;
};

enum idl_err idl_bulk_begin(struct idl_txn *txn, struct idl_bulk **out) {
  struct idl_bulk *b = calloc(1, sizeof(*b));
  if (!b)
    return IDL_ERR_NOMEM;
  txn->dirty = 1;
  b->txn = txn;
  *out = b;
  return IDL_ERR_OK;
}

void idl_bulk_abort(struct idl_bulk *b) {
  if (!b)
    return;
  for (size_t i = 0; i < b->n_blocks; i++)
    free(b->blocks[i]);
  free(b->blocks);
  free(b->email.v);
  free(b->phone.v);
  free(b->members.v);
  free(b);
}

/* Copies len bytes into the arena; NULL without memory. */
static const char *arena_copy(struct idl_bulk *b, const char *s, size_t len) {
  if (len > b->left) {
    char **blocks = idl_grow(b->blocks, &b->cap_blocks, b->n_blocks, sizeof(*blocks));
    if (!blocks)
      return NULL;
    b->blocks = blocks;
    if (!(b->cur = malloc(ARENA_BLOCK)))
      return NULL;
    b->blocks[b->n_blocks++] = b->cur;
    b->left = ARENA_BLOCK;
  }
  char *copy = b->cur;
  memcpy(copy, s, len);
  b->cur += len;
  b->left -= len;
  return copy;
}

static enum idl_err bulk_push(struct bulk_list *l, struct bulk_entry e) {
  struct bulk_entry *v = idl_grow(l->v, &l->cap, l->n, sizeof(*v));
  if (!v)
    return IDL_ERR_NOMEM;
  l->v = v;
  l->v[l->n++] = e;
  return IDL_ERR_OK;
}

static enum idl_err bulk_value(struct idl_bulk *b, struct bulk_list *l, enum idl_index which,
                               const char *value, uint64_t id) {
  if (idl_store_blocked(b->txn->s, which, value))
    return IDL_ERR_OK; /* never indexed */
  size_t len = idl_store_index_key_len(b->txn->s, strlen(value));
  const char *key = len ? arena_copy(b, value, len) : NULL;
  if (len && !key)
    return IDL_ERR_NOMEM;
  return len ? bulk_push(l, (struct bulk_entry){key, len, id}) : IDL_ERR_OK;
}

enum idl_err idl_bulk_add(struct idl_bulk *b, const struct idl_contact *c) {
  enum idl_err err = put_record(b->txn, c, MDB_APPEND);
  if (!err && c->deleted_ms != IDL_TIME_NULL)
    return count_deleted(b->txn, 1);
  if (err)
    return err;
  if (!(err = bulk_value(b, &b->email, IDL_INDEX_EMAIL, c->email, c->id)))
    err = bulk_value(b, &b->phone, IDL_INDEX_PHONE, c->phone, c->id);
  if (!err && c->precedence == IDL_SECONDARY)
    err = bulk_push(&b->members, (struct bulk_entry){NULL, c->linked_id, c->id});
  return err;
}

/* LMDB's default key order (bytes, then length), then ids as INTEGERDUP sorts them. */
static int cmp_entry(const void *pa, const void *pb) {
  const struct bulk_entry *a = pa, *b = pb;
  int c = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);
  if (!c)
    c = (a->len > b->len) - (a->len < b->len);
  return c ? c : (a->id > b->id) - (a->id < b->id);
}

static int cmp_member(const void *pa, const void *pb) {
  const struct bulk_entry *a = pa, *b = pb;
  int c = (a->len > b->len) - (a->len < b->len);
  return c ? c : (a->id > b->id) - (a->id < b->id);
}

static enum idl_err bulk_write(struct idl_bulk *b, MDB_dbi dbi, struct bulk_list *l,
                               int (*cmp)(const void *, const void *)) {
  if (l->n) /* qsort() takes no NULL array, even an empty one */
    qsort(l->v, l->n, sizeof(*l->v), cmp);
  MDB_cursor *cur = NULL;
  int rc = mdb_cursor_open(b->txn->txn, dbi, &cur);
  for (size_t i = 0; !rc && i < l->n; i++) {
    struct bulk_entry *e = &l->v[i];
    uint64_t primary = e->len;
    MDB_val k = e->key ? (MDB_val){e->len, (void *)e->key} : id_val(&primary);
    MDB_val v = id_val(&e->id);
    /* A new key appends to the table; a key's further ids append to its
     * duplicates. */
    int same = i > 0 && l->v[i - 1].len == e->len &&
               (e->key ? memcmp(l->v[i - 1].key, e->key, e->len) == 0 : 1);
    rc = mdb_cursor_put(cur, &k, &v, same ? MDB_APPENDDUP : MDB_APPEND);
  }
  if (cur)
    mdb_cursor_close(cur);
  return xlate(rc, "bulk load an index");
}

enum idl_err idl_bulk_finish(struct idl_bulk *b) {
  struct idl_store *s = b->txn->s;
  enum idl_err err = bulk_write(b, s->email, &b->email, cmp_entry);
  if (!err)
    err = bulk_write(b, s->phone, &b->phone, cmp_entry);
  if (!err)
    err = bulk_write(b, s->members, &b->members, cmp_member);
  idl_bulk_abort(b);
  return err;
}

/* ------------------------------------------------------- ids and the log */

/* Ids and sequence numbers are served as JSON integers (int64): a counter
 * hands out IDL_CHECK_MAX_ID at most, then answers that the store is full. */
#define COUNTER_MAX IDL_CHECK_MAX_ID

/* Reads counter key (first when the key is missing and first is not 0),
 * stores it plus one, and returns the value read, which must not be above
 * max. IDL_ERR_FULL when the counter is spent. */
static enum idl_err meta_take(struct idl_txn *txn, const char *key, uint64_t first,
                              uint64_t max, uint64_t *out) {
  uint64_t val = 0;
  txn->dirty = 1;
  enum idl_err err = meta_get(txn->txn, txn->s->meta, key, &val);
  if (err == IDL_ERR_NOTFOUND && first) {
    val = first;
    err = IDL_ERR_OK;
  }
  if (!err && val > max) {
    idl_log_error("store: %s is spent: ids and sequence numbers stop at %llu", key,
                  (unsigned long long)COUNTER_MAX);
    return IDL_ERR_FULL;
  }
  if (!err)
    err = meta_put(txn->txn, txn->s->meta, key, val + 1);
  if (!err)
    *out = val;
  return err;
}

enum idl_err idl_store_new_id(struct idl_txn *txn, uint64_t *id) {
  return meta_take(txn, META_NEXT_ID, 0, COUNTER_MAX, id);
}

enum idl_err idl_store_log(struct idl_txn *txn, struct idl_change *change) {
  uint64_t last;
  /* The key holds the last sequence number: the next is one more. */
  enum idl_err err = meta_take(txn, META_LAST_SEQ, 0, COUNTER_MAX - 1, &last);
  if (err)
    return err;
  change->seq = last + 1;
  char *data = NULL;
  size_t len = 0;
  err = idl_codec_encode_change(change, &data, &len);
  if (!err) {
    MDB_val k = id_val(&change->seq), v = {len, data};
    err = xlate(mdb_put(txn->txn, txn->s->changes, &k, &v, MDB_APPEND), "append change");
  }
  free(data);
  return err;
}

enum idl_err idl_store_set_position(struct idl_txn *txn, uint64_t next_id,
                                    uint64_t last_seq) {
  txn->dirty = 1;
  enum idl_err err = meta_put(txn->txn, txn->s->meta, META_NEXT_ID, next_id);
  return err ? err : meta_put(txn->txn, txn->s->meta, META_LAST_SEQ, last_seq);
}

enum idl_err idl_store_sync(struct idl_store *s) {
  return xlate_write(s, mdb_env_sync(s->env, 1), "sync");
}

static int fsync_path(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  int rc = fsync(fd) == 0 ? 0 : errno;
  close(fd);
  return rc;
}

enum idl_err idl_store_install(const char *from, const char *to) {
  char src[4096], dst[4096];
  snprintf(src, sizeof(src), "%s/data.mdb", from);
  snprintf(dst, sizeof(dst), "%s/data.mdb", to);
  int rc = fsync_path(src);
  if (!rc && rename(src, dst) != 0)
    rc = errno;
  /* LMDB's lock file describes the data file it was made with (its reader
   * table and last transaction id): the new data starts with a new one. A
   * reader still open on the old data keeps the old file's inode. */
  char lock[4096];
  snprintf(lock, sizeof(lock), "%s/lock.mdb", to);
  if (!rc && unlink(lock) != 0 && errno != ENOENT)
    rc = errno;
  if (!rc)
    rc = fsync_path(to);
  if (rc) {
    idl_log_error("store: cannot move %s over %s: %s", src, dst, strerror(rc));
    return rc == ENOSPC || rc == EDQUOT ? IDL_ERR_FULL : IDL_ERR_IO;
  }
  return IDL_ERR_OK;
}

void idl_store_remove(const char *dir) {
  const char *const files[] = {"data.mdb", "lock.mdb", "idlink.lock"};
  char path[4096];
  for (size_t i = 0; i < 3; i++) {
    snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
    unlink(path);
  }
  rmdir(dir);
}

enum idl_err idl_store_changes(struct idl_txn *txn, uint64_t after, size_t limit,
                               struct idl_change **out, size_t *n) {
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn->txn, txn->s->changes, &cur);
  if (rc)
    return xlate(rc, "open cursor");
  struct idl_change *v = calloc(limit ? limit : 1, sizeof(*v));
  if (!v) {
    mdb_cursor_close(cur);
    return IDL_ERR_NOMEM;
  }
  size_t got = 0;
  uint64_t from = after + 1;
  MDB_val k = id_val(&from), d;
  enum idl_err err = IDL_ERR_OK;
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); !rc && got < limit;
       rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    if ((err = idl_codec_decode_change(d.mv_data, d.mv_size, &v[got])))
      break;
    memcpy(&v[got++].seq, k.mv_data, sizeof(uint64_t));
  }
  mdb_cursor_close(cur);
  if (!err && rc && rc != MDB_NOTFOUND)
    err = xlate(rc, "read changes");
  if (err) {
    for (size_t i = 0; i < got; i++)
      idl_change_fini(&v[i]);
    free(v);
    return err;
  }
  *out = v;
  *n = got;
  return IDL_ERR_OK;
}

enum idl_err idl_store_trim_log(struct idl_txn *txn, uint64_t upto, size_t max,
                                size_t *deleted) {
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn->txn, txn->s->changes, &cur);
  if (rc)
    return xlate(rc, "open cursor");
  MDB_val k, v;
  size_t n = 0;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc && n < max;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    uint64_t seq;
    memcpy(&seq, k.mv_data, sizeof(seq));
    if (seq > upto)
      break;
    if ((rc = mdb_cursor_del(cur, 0)))
      break;
    n++;
  }
  mdb_cursor_close(cur);
  txn->dirty |= n > 0;
  *deleted = n;
  return rc == 0 || rc == MDB_NOTFOUND ? IDL_ERR_OK : xlate(rc, "trim the log");
}

enum idl_err idl_store_info(struct idl_txn *txn, struct idl_store_info *out) {
  MDB_stat contacts, changes, members;
  MDB_envinfo env;
  MDB_stat envstat;
  int rc = mdb_stat(txn->txn, txn->s->contacts, &contacts);
  if (!rc)
    rc = mdb_stat(txn->txn, txn->s->members, &members);
  if (!rc)
    rc = mdb_stat(txn->txn, txn->s->changes, &changes);
  if (!rc)
    rc = mdb_env_info(txn->s->env, &env);
  if (!rc)
    rc = mdb_env_stat(txn->s->env, &envstat);
  if (rc)
    return xlate(rc, "read statistics");
  struct idl_store_info info = {
      .contacts = contacts.ms_entries,
      .secondaries = members.ms_entries,
      .log_entries = changes.ms_entries,
      .map_size = env.me_mapsize,
      .used_bytes = (uint64_t)(env.me_last_pgno + 1) * envstat.ms_psize,
  };
  enum idl_err err = meta_get(txn->txn, txn->s->meta, META_NEXT_ID, &info.next_id);
  if (!err)
    err = meta_get(txn->txn, txn->s->meta, META_LAST_SEQ, &info.last_seq);
  if (!err && (err = meta_get(txn->txn, txn->s->meta, META_DELETED, &info.deleted)) ==
                  IDL_ERR_NOTFOUND)
    err = IDL_ERR_OK; /* none deleted yet */
  if (!err)
    *out = info;
  return err;
}

/* ----------------------------------------------------------------- scans */

/* Walks a whole database in key order, calling fn on every item. */
static enum idl_err scan(struct idl_txn *txn, MDB_dbi dbi,
                         enum idl_err (*fn)(MDB_val *k, MDB_val *v, void *arg), void *arg) {
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn->txn, dbi, &cur);
  if (rc)
    return xlate(rc, "open cursor");
  MDB_val k, v;
  enum idl_err err = IDL_ERR_OK;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc && !err;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    err = fn(&k, &v, arg);
  mdb_cursor_close(cur);
  if (err)
    return err;
  return rc == MDB_NOTFOUND ? IDL_ERR_OK : xlate(rc, "scan");
}

/* One of the typed callbacks, with its argument. */
struct scan_cb {
  idl_contact_fn contact;
  idl_index_fn index;
  idl_member_fn member;
  void *arg;
};

static enum idl_err contact_item(MDB_val *k, MDB_val *v, void *arg) {
  struct scan_cb *cb = arg;
  struct idl_contact c;
  uint64_t id;
  memcpy(&id, k->mv_data, sizeof(id));
  if (idl_codec_decode_contact(v->mv_data, v->mv_size, &c) || c.id != id) {
    idl_log_error("store: contact %llu: record does not decode", (unsigned long long)id);
    return IDL_ERR_CORRUPT;
  }
  return cb->contact(&c, cb->arg);
}

enum idl_err idl_store_scan_contacts(struct idl_txn *txn, idl_contact_fn fn, void *arg) {
  struct scan_cb cb = {.contact = fn, .arg = arg};
  return scan(txn, txn->s->contacts, contact_item, &cb);
}

static enum idl_err index_item(MDB_val *k, MDB_val *v, void *arg) {
  struct scan_cb *cb = arg;
  uint64_t id;
  memcpy(&id, v->mv_data, sizeof(id));
  return cb->index(k->mv_data, k->mv_size, id, cb->arg);
}

enum idl_err idl_store_scan_index(struct idl_txn *txn, enum idl_index which,
                                  idl_index_fn fn, void *arg) {
  struct scan_cb cb = {.index = fn, .arg = arg};
  return scan(txn, index_dbi(txn, which), index_item, &cb);
}

static enum idl_err member_item(MDB_val *k, MDB_val *v, void *arg) {
  struct scan_cb *cb = arg;
  uint64_t primary, member;
  memcpy(&primary, k->mv_data, sizeof(primary));
  memcpy(&member, v->mv_data, sizeof(member));
  return cb->member(primary, member, cb->arg);
}

enum idl_err idl_store_scan_members(struct idl_txn *txn, idl_member_fn fn, void *arg) {
  struct scan_cb cb = {.member = fn, .arg = arg};
  return scan(txn, txn->s->members, member_item, &cb);
}

/* ---------------------------------------------------------------- tables */

static const char *const META_NEXT_PK = "next_pk.";

static struct table *table_of(struct idl_txn *txn, size_t t) {
  return t < idl_n_resources ? &txn->s->tables[t] : NULL;
}

static enum idl_err next_pk_key(size_t t, char *key, size_t cap) {
  snprintf(key, cap, "%s%s", META_NEXT_PK, idl_resources[t]->name);
  return IDL_ERR_OK;
}

enum idl_err idl_table_next_pk(struct idl_txn *txn, size_t t, uint64_t *pk) {
  char key[96];
  next_pk_key(t, key, sizeof(key));
  return meta_take(txn, key, 1, COUNTER_MAX, pk); /* a table never written starts at 1 */
}

enum idl_err idl_table_peek_pk(struct idl_txn *txn, size_t t, uint64_t *pk) {
  char key[96];
  next_pk_key(t, key, sizeof(key));
  enum idl_err err = meta_get(txn->txn, txn->s->meta, key, pk);
  if (err == IDL_ERR_NOTFOUND) {
    *pk = 1;
    return IDL_ERR_OK;
  }
  return err;
}

enum idl_err idl_table_set_next_pk(struct idl_txn *txn, size_t t, uint64_t pk) {
  char key[96];
  next_pk_key(t, key, sizeof(key));
  txn->dirty = 1;
  return meta_put(txn->txn, txn->s->meta, key, pk);
}

enum idl_err idl_table_get(struct idl_txn *txn, size_t t, uint64_t pk, idl_bytes_fn fn,
                           void *arg) {
  struct table *tb = table_of(txn, t);
  if (!tb || !tb->records)
    return IDL_ERR_NOTFOUND;
  MDB_val k = id_val(&pk), v;
  int rc = txn_get(txn, tb->records, &k, &v);
  if (rc)
    return xlate(rc, "read record");
  return fn(pk, v.mv_data, v.mv_size, arg);
}

/* The key an index entry is stored under: the value's bytes cut to the
 * store's key limit (filters check the full value on the record). */
static MDB_val index_key(const struct idl_store *s, const struct idl_key *k) {
  return (MDB_val){k->len < s->max_key ? k->len : s->max_key, (void *)k->data};
}

static int same_key(const struct idl_key *a, const struct idl_key *b) {
  if (!a || !b || a->null || b->null)
    return (!a || a->null) && (!b || b->null);
  return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static enum idl_err update_indexes(struct idl_txn *txn, struct table *tb, uint64_t pk,
                                   const struct idl_key *old, const struct idl_key *now) {
  enum idl_err err = IDL_ERR_OK;
  for (size_t i = 0; i < tb->n_indexes && !err; i++) {
    const struct idl_key *o = old ? &old[i] : NULL, *n = now ? &now[i] : NULL;
    if (same_key(o, n))
      continue;
    if (o && !o->null)
      err = dup_del(txn, tb->index[i], index_key(txn->s, o), pk);
    if (!err && n && !n->null)
      err = dup_put(txn, tb->index[i], index_key(txn->s, n), pk);
  }
  return err;
}

enum idl_err idl_table_put(struct idl_txn *txn, size_t t, uint64_t pk, const void *data,
                           size_t len, const struct idl_key *old_keys,
                           const struct idl_key *new_keys) {
  struct table *tb = table_of(txn, t);
  if (!tb || !tb->records)
    return IDL_ERR_IO;
  txn->dirty = 1;
  MDB_val k = id_val(&pk), v = {len, (void *)data};
  enum idl_err err = xlate(mdb_put(txn->txn, tb->records, &k, &v, 0), "write record");
  return err ? err : update_indexes(txn, tb, pk, old_keys, new_keys);
}

enum idl_err idl_table_del(struct idl_txn *txn, size_t t, uint64_t pk,
                           const struct idl_key *old_keys) {
  struct table *tb = table_of(txn, t);
  if (!tb || !tb->records)
    return IDL_ERR_NOTFOUND;
  txn->dirty = 1;
  MDB_val k = id_val(&pk);
  enum idl_err err = xlate(mdb_del(txn->txn, tb->records, &k, NULL), "delete record");
  return err ? err : update_indexes(txn, tb, pk, old_keys, NULL);
}

enum idl_err idl_table_count(struct idl_txn *txn, size_t t, uint64_t *n) {
  struct table *tb = table_of(txn, t);
  *n = 0;
  if (!tb || !tb->records)
    return IDL_ERR_OK;
  MDB_stat st;
  int rc = mdb_stat(txn->txn, tb->records, &st);
  if (!rc)
    *n = st.ms_entries;
  return xlate(rc, "count records");
}

enum idl_err idl_table_scan(struct idl_txn *txn, size_t t, uint64_t from_pk, int reverse,
                            idl_bytes_fn fn, void *arg) {
  struct table *tb = table_of(txn, t);
  if (!tb || !tb->records)
    return IDL_ERR_OK;
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn->txn, tb->records, &cur);
  if (rc)
    return xlate(rc, "open cursor");
  MDB_val k = id_val(&from_pk), v;
  enum idl_err err = IDL_ERR_OK;
  if (reverse) {
    rc = mdb_cursor_get(cur, &k, &v, from_pk ? MDB_SET_RANGE : MDB_LAST);
    /* SET_RANGE lands on the first key >= from: step back past a greater one. */
    if (from_pk && rc == MDB_NOTFOUND)
      rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    else if (from_pk && !rc && *(const uint64_t *)k.mv_data > from_pk)
      rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
  } else {
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
  }
  for (; !rc && !err; rc = mdb_cursor_get(cur, &k, &v, reverse ? MDB_PREV : MDB_NEXT)) {
    uint64_t pk;
    memcpy(&pk, k.mv_data, sizeof(pk));
    err = fn(pk, v.mv_data, v.mv_size, arg);
  }
  mdb_cursor_close(cur);
  if (err)
    return err == IDL_ERR_STOP ? IDL_ERR_OK : err;
  return rc == MDB_NOTFOUND ? IDL_ERR_OK : xlate(rc, "scan records");
}

/* Whether key k is past the range's upper end. */
static int past_end(const MDB_val *k, const struct idl_range *r) {
  if (r->prefix && (k->mv_size < r->prefix_len || memcmp(k->mv_data, r->prefix, r->prefix_len)))
    return 1;
  if (!r->hi)
    return 0;
  size_t n = k->mv_size < r->hi_len ? k->mv_size : r->hi_len;
  int c = memcmp(k->mv_data, r->hi, n);
  if (!c)
    c = (k->mv_size > r->hi_len) - (k->mv_size < r->hi_len);
  return r->hi_incl ? c > 0 : c >= 0;
}

/* Reads the entries of r from cur into fn; *err takes fn's error. Returns
 * LMDB's code: 0 when the range ended before the index did. */
static int scan_range(struct idl_txn *txn, MDB_cursor *cur, const struct idl_range *r_,
                      idl_entry_fn fn, void *arg, enum idl_err *err) {
  /* Keys are cut at the store's limit, and a longer prefix with them: the
   * records then tell which of the keys cut alike hold it. */
  struct idl_range cut = *r_;
  const struct idl_range *r = &cut;
  if (cut.prefix && cut.prefix_len > txn->s->max_key)
    cut.prefix_len = txn->s->max_key;
  const void *lo = r->lo ? r->lo : r->prefix;
  size_t lo_len = r->lo ? r->lo_len : r->prefix_len;
  struct idl_key lk = {lo, lo_len, 0};
  MDB_val k = index_key(txn->s, &lk), v;
  int rc = mdb_cursor_get(cur, &k, &v, lo ? MDB_SET_RANGE : MDB_FIRST);
  /* An exclusive lower end skips the entries of its own key. */
  if (!rc && r->lo && !r->lo_incl && k.mv_size == r->lo_len &&
      memcmp(k.mv_data, r->lo, r->lo_len) == 0)
    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_NODUP);
  for (; !rc && !*err && !past_end(&k, r); rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    uint64_t pk;
    memcpy(&pk, v.mv_data, sizeof(pk));
    *err = fn(pk, k.mv_data, k.mv_size, arg);
  }
  return rc;
}

/* The bound lead + part into buf (cut to the store's key limit, as the
 * stored keys are). Returns its length. */
static size_t lead_bound(const struct idl_store *s, unsigned char *buf, const MDB_val *lead,
                         const void *part, size_t len) {
  size_t n = lead->mv_size + len < s->max_key ? lead->mv_size + len : s->max_key;
  memcpy(buf, lead->mv_data, lead->mv_size);
  if (n > lead->mv_size)
    memcpy(buf + lead->mv_size, part, n - lead->mv_size);
  return n;
}

/* r under one value (lead) of the keys' first r->lead bytes. */
static int scan_under(struct idl_txn *txn, MDB_cursor *cur, const struct idl_range *r,
                      const MDB_val *lead, unsigned char *buf, idl_entry_fn fn, void *arg,
                      enum idl_err *err) {
  const size_t max = txn->s->max_key;
  struct idl_range sub = *r;
  sub.lead = 0;
  sub.lead_key = NULL;
  sub.prefix = buf;
  sub.prefix_len = lead_bound(txn->s, buf, lead, r->prefix, r->prefix ? r->prefix_len : 0);
  if (r->lo) {
    sub.lo = buf + max;
    sub.lo_len = lead_bound(txn->s, buf + max, lead, r->lo, r->lo_len);
    if (sub.lo_len < r->lead + r->lo_len) /* keys cut alike may hold larger values */
      sub.lo_incl = 1;
  }
  if (r->hi) {
    sub.hi = buf + 2 * max;
    sub.hi_len = lead_bound(txn->s, buf + 2 * max, lead, r->hi, r->hi_len);
    if (sub.hi_len < r->lead + r->hi_len) /* a cut bound keeps the keys cut alike */
      sub.hi_incl = 1;
  }
  return scan_range(txn, cur, &sub, fn, arg, err);
}

/* r under r->lead_key, or under each value of the keys' first r->lead bytes
 * in turn (a skip scan), each found by a seek past the keys of the one
 * before. */
static int scan_leads(struct idl_txn *txn, MDB_cursor *cur, const struct idl_range *r,
                      idl_entry_fn fn, void *arg, enum idl_err *err) {
  unsigned char lead[16], *buf = r->lead <= sizeof(lead) ? malloc(3 * txn->s->max_key) : NULL;
  if (!buf) {
    *err = r->lead <= sizeof(lead) ? IDL_ERR_NOMEM : IDL_ERR_INVAL;
    return 0;
  }
  MDB_val l = {r->lead, lead}, k, v;
  int rc;
  if (r->lead_key) {
    memcpy(lead, r->lead_key, r->lead);
    rc = scan_under(txn, cur, r, &l, buf, fn, arg, err);
    free(buf);
    return rc;
  }
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc && !*err;) {
    if (k.mv_size < r->lead) { /* not a key of two fields: step over it */
      rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_NODUP);
      continue;
    }
    memcpy(lead, k.mv_data, r->lead);
    rc = scan_under(txn, cur, r, &l, buf, fn, arg, err);
    if (rc && rc != MDB_NOTFOUND)
      break;
    /* The next value of the leading part: the first key past this one's. */
    size_t i = r->lead;
    while (i > 0 && lead[i - 1] == 0xff)
      lead[--i] = 0;
    if (i == 0)
      break;
    lead[i - 1]++;
    k = l;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
  }
  free(buf);
  return rc;
}

enum idl_err idl_table_index_scan(struct idl_txn *txn, size_t t, size_t index,
                                  const struct idl_range *r, idl_entry_fn fn, void *arg) {
  struct table *tb = table_of(txn, t);
  if (!tb || !tb->records || index >= tb->n_indexes)
    return IDL_ERR_OK;
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn->txn, tb->index[index], &cur);
  if (rc)
    return xlate(rc, "open cursor");
  enum idl_err err = IDL_ERR_OK;
  rc = r->lead ? scan_leads(txn, cur, r, fn, arg, &err) : scan_range(txn, cur, r, fn, arg, &err);
  mdb_cursor_close(cur);
  if (err)
    return err == IDL_ERR_STOP ? IDL_ERR_OK : err;
  return rc == MDB_NOTFOUND ? IDL_ERR_OK : xlate(rc, "scan index");
}

size_t idl_store_max_key(const struct idl_store *s) { return s->max_key; }

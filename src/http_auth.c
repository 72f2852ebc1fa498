/* Tokens with roles (SPEC section 11): --token-file FILE, lines
 * "TOKEN ROLE [NAME]"; SIGHUP reads it again. With a token file every route
 * but /healthz needs "Authorization: Token T" (or "Bearer T"), answered as
 * DRF's TokenAuthentication and permissions answer. Tokens are compared in
 * constant time, against every entry. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"
#include "idlink/log.h"

#define TOKEN_MAX 256
#define NAME_MAX_LEN 64

struct token {
  char token[TOKEN_MAX];
  size_t len;
  enum idl_role role;
  char name[NAME_MAX_LEN];
};

struct idl_tokens {
  char path[4096];
  pthread_rwlock_t lock;
  struct token *v; /* guarded by lock */
  size_t n;
};

static const char *const role_names[] = {[IDL_ROLE_READ] = "read", [IDL_ROLE_WRITE] = "write",
                                         [IDL_ROLE_ADMIN] = "admin"};

const char *idl_role_name(enum idl_role role) { return role_names[role]; }

/* Reads path into a new table; why names the line of the first error. */
static enum idl_err load(const char *path, struct token **out, size_t *n, char *why,
                         size_t why_len) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(why, why_len, "%s: %s", path, strerror(errno));
    return IDL_ERR_INVAL;
  }
  struct token *v = NULL;
  size_t count = 0, cap = 0;
  char line[1024];
  enum idl_err err = IDL_ERR_OK;
  for (unsigned no = 1; !err && fgets(line, sizeof(line), f); no++) {
    char *s = line;
    while (isspace((unsigned char)*s))
      s++;
    if (!*s || *s == '#')
      continue;
    char token[TOKEN_MAX + 1], role[16], name[NAME_MAX_LEN + 1] = "", extra[2];
    int got = sscanf(s, "%256s %15s %64s %1s", token, role, name, extra);
    int r = -1;
    for (int i = 0; got >= 2 && i < 3; i++)
      if (!strcmp(role, role_names[i]))
        r = i;
    if (got < 2 || got > 3 || r < 0 || strlen(token) >= TOKEN_MAX ||
        strlen(name) >= NAME_MAX_LEN) {
      snprintf(why, why_len, "%s:%u: expected TOKEN ROLE [NAME], ROLE read, write or admin, "
               "a token of at most %d characters and a name of at most %d", path, no,
               TOKEN_MAX - 1, NAME_MAX_LEN - 1);
      err = IDL_ERR_INVAL;
      break;
    }
    struct token *grown = idl_grow(v, &cap, count, sizeof(*v));
    if (!grown) {
      snprintf(why, why_len, "out of memory");
      err = IDL_ERR_NOMEM;
      break;
    }
    v = grown;
    struct token *t = &v[count++];
    memset(t, 0, sizeof(*t));
    t->len = strlen(token);
    memcpy(t->token, token, t->len);
    t->role = (enum idl_role)r;
    snprintf(t->name, sizeof(t->name), "%s", got == 3 ? name : "");
  }
  fclose(f);
  if (err) {
    free(v);
    return err;
  }
  *out = v;
  *n = count;
  return IDL_ERR_OK;
}

enum idl_err idl_tokens_open(const char *path, struct idl_tokens **out, char *why,
                             size_t why_len) {
  struct idl_tokens *t = calloc(1, sizeof(*t));
  if (!t)
    return IDL_ERR_NOMEM;
  snprintf(t->path, sizeof(t->path), "%s", path);
  pthread_rwlock_init(&t->lock, NULL);
  enum idl_err err = load(path, &t->v, &t->n, why, why_len);
  if (err) {
    idl_tokens_close(t);
    return err;
  }
  *out = t;
  return IDL_ERR_OK;
}

enum idl_err idl_tokens_reload(struct idl_tokens *t) {
  struct token *v = NULL;
  size_t n = 0;
  char why[512];
  enum idl_err err = load(t->path, &v, &n, why, sizeof(why));
  if (err) {
    idl_log_error("SIGHUP: the token file was not read again, the tokens stay as they were: "
                  "%s", why);
    return err;
  }
  pthread_rwlock_wrlock(&t->lock);
  struct token *old = t->v;
  t->v = v;
  t->n = n;
  pthread_rwlock_unlock(&t->lock);
  free(old);
  idl_log_info("SIGHUP: %zu tokens read from the token file", n);
  return IDL_ERR_OK;
}

void idl_tokens_close(struct idl_tokens *t) {
  if (!t)
    return;
  pthread_rwlock_destroy(&t->lock);
  free(t->v);
  free(t);
}

/* Whether a and b (the first la, lb bytes) are equal, in time that depends
 * on the lengths only. */
static int same(const char *a, size_t la, const char *b, size_t lb) {
  unsigned char diff = (unsigned char)(la != lb);
  for (size_t i = 0; i < TOKEN_MAX; i++) {
    unsigned char x = i < la ? (unsigned char)a[i] : 0, y = i < lb ? (unsigned char)b[i] : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

/* The token of an Authorization header ("Token T" or "Bearer T"), or NULL. */
static const char *credential(const char *header, size_t *len) {
  static const char *const schemes[] = {"Token ", "Bearer "};
  for (size_t i = 0; header && i < 2; i++) {
    size_t n = strlen(schemes[i]);
    if (strncasecmp(header, schemes[i], n) == 0) {
      const char *s = header + n;
      while (*s == ' ')
        s++;
      *len = strcspn(s, " \t");
      return *len ? s : NULL;
    }
  }
  return NULL;
}

int idl_tokens_check(struct idl_tokens *t, struct idl_req *r, enum idl_role needed) {
  const char *header = mg_get_header(r->conn, "Authorization");
  size_t len = 0;
  const char *given = credential(header, &len);
  if (!given)
    return idl_http_send_extra(r, 401,
                               idl_json_detail("Authentication credentials were not provided."),
                               "WWW-Authenticate: Token\r\n");
  int found = -1;
  pthread_rwlock_rdlock(&t->lock);
  for (size_t i = 0; i < t->n; i++) /* every entry, whatever matched */
    if (same(t->v[i].token, t->v[i].len, given, len < TOKEN_MAX ? len : TOKEN_MAX) &&
        len < TOKEN_MAX && found < 0)
      found = (int)i;
  enum idl_role role = IDL_ROLE_READ;
  if (found >= 0) {
    role = t->v[found].role;
    snprintf(r->token_name, sizeof(r->token_name), "%s", t->v[found].name);
  }
  pthread_rwlock_unlock(&t->lock);
  if (found < 0)
    return idl_http_send_extra(r, 401, idl_json_detail("Invalid token."),
                               "WWW-Authenticate: Token\r\n");
  if (role < needed)
    return idl_http_detail(r, 403, "You do not have permission to perform this action.");
  return 0;
}

enum idl_role idl_route_role(const char *method, const char *path) {
  if (!strcmp(path, "/erasure"))
    return IDL_ROLE_ADMIN;
  enum idl_role seed;
  if (idl_http_seed_role(path, &seed)) /* seed 003's table says: it deletes with a GET */
    return seed;
  if (!strcmp(method, "GET") || !strcmp(method, "HEAD") || !strcmp(path, "/api/identify/") ||
      !strcmp(path, "/api/identify"))
    return IDL_ROLE_READ;
  return IDL_ROLE_WRITE;
}

/* HTTPS (SPEC section 11): idlinkd terminates TLS itself, with OpenSSL.
 *
 * civetweb's own TLS cannot be used here: Debian 12's civetweb 1.15 loads
 * OpenSSL at run time and calls SSL_get_peer_certificate on every TLS
 * connection, a function OpenSSL 3 no longer exports (it became a macro of
 * SSL_get1_peer_certificate), so its first HTTPS request calls through a NULL
 * pointer. With --tls-cert civetweb therefore listens on an ephemeral port of
 * 127.0.0.1 and this front listens on the public address. Each accepted
 * connection gets a thread that does the handshake (TLS 1.2 or later, within
 * HANDSHAKE_MS) and then relays bytes both ways between the TLS connection and
 * a plain connection of its own to civetweb.
 *
 * Every limit of http.c still holds, since the relay forwards only what has
 * arrived: civetweb's head and keep-alive timeouts, the body deadlines of the
 * guard, the sizes. The relay adds two of its own: at most max_relays
 * connections at once (more wait in the kernel's backlog), and a relay whose
 * bytes cannot move either way for STALL_MS (a client that stopped reading)
 * is closed.
 *
 * The front remembers which client each of its connections to civetweb
 * speaks for, by that connection's local port: the per-address limits count
 * real clients, and a connection to civetweb's port that is not the front's
 * is refused (idl_tls_peer). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "http_internal.h"
#include "idlink/http.h"
#include "idlink/log.h"

/* The handshake must be done within this, as a request head must arrive
 * within IDL_HTTP_REQUEST_TIMEOUT_MS. */
#define HANDSHAKE_MS 3000
/* A relay holding bytes that cannot move either way for this long ends. */
#define STALL_MS 30000
/* What a relay holds in each direction: one TLS record's worth. */
#define RELAY_BUF 16384
#define RELAY_STACK (256 * 1024)
/* How long a relay reads and drops what a client still sends after the
 * answer, before it closes (see linger). */
#define LINGER_MS 2000
/* How long idl_tls_stop lets relays pass on civetweb's last bytes. */
#define FLUSH_MS 2000

struct idl_tls {
  SSL_CTX *ctx;
  int listen_fd;
  int stop_pipe[2];   /* readable once relays must end */
  int wake_pipe[2];   /* readable once the acceptor must end */
  struct sockaddr_in backend;
  unsigned max_relays;
  pthread_t acceptor;
  int serving;        /* the acceptor runs */
  pthread_mutex_t lock;
  pthread_cond_t changed; /* a relay ended, or the acceptor must end */
  unsigned relays;        /* running; guarded by lock */
  int closing;            /* the acceptor must end; guarded by lock */
  char (*peers)[48];      /* by local port of a relay's civetweb connection; guarded by lock */
};

struct relay {
  struct idl_tls *t;
  int client, backend;
  int port; /* the local port of backend; 0 before it connects */
  SSL *ssl;
  char peer[48];
};

static struct idl_log_limit handshake_log;

/* ------------------------------------------------------------- start */

/* An encrypted key is refused instead of asking for its passphrase on a
 * terminal a service does not have. */
static int no_passphrase(char *buf, int size, int rwflag, void *arg) {
  (void)buf;
  (void)size;
  (void)rwflag;
  (void)arg;
  return 0;
}

/* The server context: TLS 1.2 and later, the chain and key from their own
 * files. NULL, with why naming the file, when they cannot be used. */
static SSL_CTX *load_context(const char *cert, const char *key, char *why, size_t why_len) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    snprintf(why, why_len, "OpenSSL cannot make a TLS context: %s",
             ERR_reason_error_string(ERR_get_error()));
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* A client that half-closes its TCP connection without close_notify still
   * gets its answer: HTTP frames the request, so nothing is cut unseen. */
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  const char *fail = NULL;
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
    fail = "--tls-cert";
  else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
           SSL_CTX_check_private_key(ctx) != 1)
    fail = "--tls-key";
  if (fail) {
    const char *reason = ERR_reason_error_string(ERR_peek_last_error());
    snprintf(why, why_len, "%s %s: %s: %s", fail, fail[6] == 'c' ? cert : key,
             fail[6] == 'c' ? "not a PEM certificate (chain) that can be read"
                            : "not the unencrypted PEM private key of the certificate",
             reason ? reason : "unreadable");
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

/* A listening socket on ADDR:PORT (IPv4, or bracketed IPv6). -1 with why. */
static int listen_on(const char *where, char *why, size_t why_len) {
  char host[64];
  snprintf(host, sizeof(host), "%s", where);
  char *colon = strrchr(host, ':');
  if (!colon) {
    snprintf(why, why_len, "cannot listen on %s: expected ADDR:PORT", where);
    return -1;
  }
  *colon = '\0';
  char *name = host;
  if (name[0] == '[' && colon > host + 1 && colon[-1] == ']') {
    name++;
    colon[-1] = '\0';
  }
  struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                           .ai_socktype = SOCK_STREAM};
  struct addrinfo *ai = NULL;
  int rc = getaddrinfo(name, colon + 1, &hints, &ai);
  if (rc != 0) {
    snprintf(why, why_len, "cannot listen on %s: %s", where, gai_strerror(rc));
    return -1;
  }
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
    snprintf(why, why_len, "cannot listen on %s: %s", where, strerror(errno));
    if (fd >= 0)
      close(fd);
    fd = -1;
  }
  freeaddrinfo(ai);
  return fd;
}

enum idl_err idl_tls_open(const char *listen, const char *cert, const char *key,
                          unsigned max_relays, struct idl_tls **out, char *why,
                          size_t why_len) {
  struct idl_tls *t = calloc(1, sizeof(*t));
  if (!t || !(t->peers = calloc(65536, sizeof(*t->peers)))) {
    free(t);
    snprintf(why, why_len, "out of memory");
    return IDL_ERR_NOMEM;
  }
  t->listen_fd = t->stop_pipe[0] = t->stop_pipe[1] = t->wake_pipe[0] = t->wake_pipe[1] = -1;
  t->max_relays = max_relays ? max_relays : 1;
  pthread_mutex_init(&t->lock, NULL);
  pthread_cond_init(&t->changed, NULL);
  enum idl_err err = IDL_ERR_INVAL;
  if (!(t->ctx = load_context(cert, key, why, why_len)))
    goto fail;
  err = IDL_ERR_IO;
  if ((t->listen_fd = listen_on(listen, why, why_len)) < 0)
    goto fail;
  if (pipe2(t->stop_pipe, O_CLOEXEC) != 0 || pipe2(t->wake_pipe, O_CLOEXEC) != 0) {
    snprintf(why, why_len, "cannot make a pipe: %s", strerror(errno));
    goto fail;
  }
  *out = t;
  return IDL_ERR_OK;
fail:
  idl_tls_close(t);
  return err;
}

/* ------------------------------------------------------------- relays */

/* Waits for events on fd or fd2 (and for the stop) at most ms (-1: no
 * limit). A socket asked for no events is left out: poll would report its
 * hang-up at once, again and again. 1: one is ready; 0: the time passed;
 * -1: the front stops. */
static int wait_for(struct relay *rl, int fd, short events, int fd2, short events2, int ms) {
  struct pollfd p[3] = {{.fd = rl->t->stop_pipe[0], .events = POLLIN},
                        {.fd = events ? fd : -1, .events = events},
                        {.fd = events2 ? fd2 : -1, .events = events2}};
  int n;
  while ((n = poll(p, 3, ms)) < 0 && errno == EINTR)
    ;
  if (n < 0 || p[0].revents)
    return -1;
  return n > 0;
}

/* What an SSL call that returned rc waits for: POLLIN, POLLOUT, or 0 when the
 * connection is over. */
static short ssl_wants(SSL *ssl, int rc) {
  switch (SSL_get_error(ssl, rc)) {
  case SSL_ERROR_WANT_READ: return POLLIN;
  case SSL_ERROR_WANT_WRITE: return POLLOUT;
  default: return 0;
  }
}

static int handshake(struct relay *rl) {
  int64_t deadline = idl_now_us() + HANDSHAKE_MS * 1000LL;
  for (;;) {
    ERR_clear_error();
    int rc = SSL_accept(rl->ssl);
    if (rc == 1)
      return 0;
    short wants = ssl_wants(rl->ssl, rc);
    int64_t left_ms = (deadline - idl_now_us()) / 1000;
    if (!wants || left_ms <= 0) {
      const char *reason = ERR_reason_error_string(ERR_peek_last_error());
      idl_log_limited(&handshake_log, IDL_LOG_DEBUG, "tls: a handshake failed: %s",
                      wants ? "it did not finish in time" : reason ? reason : "the client left");
      ERR_clear_error();
      return -1;
    }
    if (wait_for(rl, rl->client, wants, -1, 0, (int)left_ms) < 0)
      return -1;
  }
}

/* Connects to civetweb and records whom the connection speaks for. */
static int connect_backend(struct relay *rl) {
  struct idl_tls *t = rl->t;
  rl->backend = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in local;
  socklen_t len = sizeof(local);
  if (rl->backend < 0 ||
      connect(rl->backend, (const struct sockaddr *)&t->backend, sizeof(t->backend)) != 0 ||
      getsockname(rl->backend, (struct sockaddr *)&local, &len) != 0) {
    static struct idl_log_limit limit;
    idl_log_limited(&limit, IDL_LOG_ERROR, "tls: cannot reach the HTTP server on loopback: %s",
                    strerror(errno));
    return -1;
  }
  int one = 1;
  setsockopt(rl->backend, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fcntl(rl->backend, F_SETFL, fcntl(rl->backend, F_GETFL) | O_NONBLOCK);
  rl->port = ntohs(local.sin_port);
  pthread_mutex_lock(&t->lock);
  memcpy(t->peers[rl->port], rl->peer, sizeof(rl->peer));
  pthread_mutex_unlock(&t->lock);
  return 0;
}

/* The answer has gone, but the client may still be sending (a body
 * refused before it was read): closing now would reset the connection and
 * could destroy the answer in the client's buffers. So its sending side is
 * shut and what it still sends is read and dropped, for LINGER_MS at most. */
static void linger(struct relay *rl) {
  shutdown(rl->client, SHUT_WR);
  int64_t deadline = idl_now_us() + LINGER_MS * 1000LL;
  char sink[4096];
  for (int64_t left; (left = (deadline - idl_now_us()) / 1000) > 0;) {
    ssize_t n = recv(rl->client, sink, sizeof(sink), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
      return;
    if (n < 0 && wait_for(rl, rl->client, POLLIN, -1, 0, (int)left) <= 0)
      return;
  }
}

/* Bytes waiting to go one way. */
struct lane {
  char buf[RELAY_BUF];
  size_t off, len;
};

/* Moves bytes both ways until either side is done, the front stops, or
 * nothing can move for STALL_MS. */
static void pump(struct relay *rl) {
  struct lane *up = malloc(sizeof(*up)), *down = malloc(sizeof(*down));
  if (!up || !down)
    goto done;
  up->len = down->len = 0;
  int client_done = 0, backend_done = 0, backend_deaf = 0, broken = 0;
  for (;;) {
    int moved = 0;
    short client_wants = 0, backend_wants = 0;
    if (!client_done && up->len == 0) {
      ERR_clear_error();
      int n = SSL_read(rl->ssl, up->buf, sizeof(up->buf));
      if (n > 0) {
        up->off = 0;
        up->len = (size_t)n;
        moved = 1;
      } else if (!(client_wants |= ssl_wants(rl->ssl, n))) {
        client_done = moved = 1; /* closed, or broken: civetweb sees the end */
        broken = SSL_get_error(rl->ssl, n) != SSL_ERROR_ZERO_RETURN;
        shutdown(rl->backend, SHUT_WR);
      }
    }
    if (up->len && backend_deaf) {
      up->len = 0; /* civetweb takes no more: what the client sends is dropped */
    } else if (up->len) {
      ssize_t n = send(rl->backend, up->buf + up->off, up->len, MSG_NOSIGNAL);
      if (n > 0) {
        up->off += (size_t)n;
        up->len -= (size_t)n;
        moved = 1;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        backend_wants |= POLLOUT;
      } else {
        /* civetweb closed before reading all (a refused body): its answer
         * may still be on the way back. */
        backend_deaf = moved = 1;
        up->len = 0;
      }
    }
    if (!backend_done && down->len == 0) {
      ssize_t n = recv(rl->backend, down->buf, sizeof(down->buf), 0);
      if (n > 0) {
        down->off = 0;
        down->len = (size_t)n;
        moved = 1;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        backend_wants |= POLLIN;
      } else {
        backend_done = moved = 1;
      }
    }
    if (down->len) {
      ERR_clear_error();
      int n = SSL_write(rl->ssl, down->buf + down->off, (int)down->len);
      if (n > 0) {
        down->off += (size_t)n;
        down->len -= (size_t)n;
        moved = 1;
      } else if (!(client_wants |= ssl_wants(rl->ssl, n))) {
        break; /* the client is gone (no close_notify after a failed write) */
      }
    }
    if (backend_done && down->len == 0) {
      ERR_clear_error();
      if (!broken)
        SSL_shutdown(rl->ssl); /* close_notify, if it goes at once */
      if (!client_done)
        linger(rl);
      break;
    }
    if (moved)
      continue;
    if (!client_wants && !backend_wants)
      break; /* nothing can move any more */
    int pending = up->len || down->len;
    if (wait_for(rl, rl->client, client_wants, rl->backend, backend_wants,
                 pending ? STALL_MS : -1) <= 0)
      break;
  }
done:
  ERR_clear_error();
  free(up);
  free(down);
}

static void *relay_main(void *arg) {
  struct relay *rl = arg;
  struct idl_tls *t = rl->t;
  if (handshake(rl) == 0 && connect_backend(rl) == 0)
    pump(rl);
  if (rl->port) {
    pthread_mutex_lock(&t->lock);
    t->peers[rl->port][0] = '\0'; /* before the port can be taken again */
    pthread_mutex_unlock(&t->lock);
  }
  if (rl->backend >= 0)
    close(rl->backend);
  SSL_free(rl->ssl);
  close(rl->client);
  free(rl);
  /* Counted out last: idl_tls_close (and OpenSSL's cleanup at exit) may
   * follow at once. */
  pthread_mutex_lock(&t->lock);
  t->relays--;
  pthread_cond_broadcast(&t->changed);
  pthread_mutex_unlock(&t->lock);
  return NULL;
}

/* ------------------------------------------------------------- acceptor */

/* Starts a relay for the accepted client; closes it when it cannot. */
static void start_relay(struct idl_tls *t, int client, const struct sockaddr_storage *sa) {
  struct relay *rl = calloc(1, sizeof(*rl));
  if (!rl || !(rl->ssl = SSL_new(t->ctx)) || SSL_set_fd(rl->ssl, client) != 1) {
    if (rl)
      SSL_free(rl->ssl);
    free(rl);
    close(client);
    return;
  }
  rl->t = t;
  rl->client = client;
  rl->backend = -1;
  const void *addr = sa->ss_family == AF_INET6
                         ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                         : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
  if (!inet_ntop(sa->ss_family, addr, rl->peer, sizeof(rl->peer)))
    snprintf(rl->peer, sizeof(rl->peer), "unknown");
  int one = 1;
  setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, RELAY_STACK);
  pthread_mutex_lock(&t->lock);
  t->relays++;
  pthread_mutex_unlock(&t->lock);
  pthread_t thread;
  if (pthread_create(&thread, &attr, relay_main, rl) != 0) {
    pthread_mutex_lock(&t->lock);
    t->relays--;
    pthread_mutex_unlock(&t->lock);
    SSL_free(rl->ssl);
    free(rl);
    close(client);
  }
  pthread_attr_destroy(&attr);
}

static void *acceptor_main(void *arg) {
  struct idl_tls *t = arg;
  for (;;) {
    /* At most max_relays at once: the rest wait in the backlog. */
    pthread_mutex_lock(&t->lock);
    while (t->relays >= t->max_relays && !t->closing)
      pthread_cond_wait(&t->changed, &t->lock);
    int closing = t->closing;
    pthread_mutex_unlock(&t->lock);
    if (closing)
      return NULL;
    struct pollfd p[2] = {{.fd = t->wake_pipe[0], .events = POLLIN},
                          {.fd = t->listen_fd, .events = POLLIN}};
    if (poll(p, 2, -1) < 0 && errno != EINTR) {
      static struct idl_log_limit limit;
      idl_log_limited(&limit, IDL_LOG_WARN, "tls: cannot wait for connections: %s",
                      strerror(errno));
      usleep(10000);
      continue;
    }
    if (p[0].revents)
      return NULL;
    if (!p[1].revents)
      continue;
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    int fd = accept4(t->listen_fd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      start_relay(t, fd, &sa);
    } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      static struct idl_log_limit limit;
      idl_log_limited(&limit, IDL_LOG_WARN, "tls: cannot accept a connection: %s",
                      strerror(errno));
      usleep(10000);
    }
  }
}

enum idl_err idl_tls_serve(struct idl_tls *t, int backend_port) {
  t->backend = (struct sockaddr_in){.sin_family = AF_INET,
                                    .sin_port = htons((uint16_t)backend_port),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (pthread_create(&t->acceptor, NULL, acceptor_main, t) != 0)
    return IDL_ERR_NOMEM;
  t->serving = 1;
  return IDL_ERR_OK;
}

int idl_tls_peer(struct idl_tls *t, const char *remote_addr, int remote_port, char *peer,
                 size_t len) {
  if (strcmp(remote_addr, "127.0.0.1") != 0 || remote_port <= 0 || remote_port > 65535)
    return 0;
  pthread_mutex_lock(&t->lock);
  int found = t->peers[remote_port][0] != '\0';
  if (found)
    snprintf(peer, len, "%s", t->peers[remote_port]);
  pthread_mutex_unlock(&t->lock);
  return found;
}

/* ------------------------------------------------------------- stop */

/* The acceptor ends: new connections are refused. */
void idl_tls_stop_accepting(struct idl_tls *t) {
  if (!t || !t->serving)
    return;
  pthread_mutex_lock(&t->lock);
  t->closing = 1;
  pthread_cond_broadcast(&t->changed);
  pthread_mutex_unlock(&t->lock);
  (void)!write(t->wake_pipe[1], "x", 1);
  pthread_join(t->acceptor, NULL);
  t->serving = 0;
  close(t->listen_fd);
  t->listen_fd = -1;
}

void idl_tls_close(struct idl_tls *t) {
  if (!t)
    return;
  idl_tls_stop_accepting(t);
  /* Relays pass on what civetweb sent last, then end on its close; those
   * still running after FLUSH_MS are stopped. */
  pthread_mutex_lock(&t->lock);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += FLUSH_MS / 1000;
  while (t->relays && pthread_cond_timedwait(&t->changed, &t->lock, &until) == 0)
    ;
  pthread_mutex_unlock(&t->lock);
  if (t->stop_pipe[1] >= 0)
    (void)!write(t->stop_pipe[1], "x", 1);
  pthread_mutex_lock(&t->lock);
  while (t->relays)
    pthread_cond_wait(&t->changed, &t->lock);
  pthread_mutex_unlock(&t->lock);
  if (t->listen_fd >= 0)
    close(t->listen_fd);
  for (int i = 0; i < 2; i++) {
    if (t->stop_pipe[i] >= 0)
      close(t->stop_pipe[i]);
    if (t->wake_pipe[i] >= 0)
      close(t->wake_pipe[i]);
  }
  SSL_CTX_free(t->ctx);
  pthread_cond_destroy(&t->changed);
  pthread_mutex_destroy(&t->lock);
  free(t->peers);
  free(t);
}

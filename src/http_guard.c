/* What one client may hold of the server. civetweb gives a connection a
 * worker thread for as long as it lasts, and a read of a body returns only
 * once all the bytes asked for came or the client fell silent for the request
 * timeout: a client that sends one byte now and then holds its thread for as
 * long as it likes. The guard bounds that: an address may send at most
 * peer_bodies bodies at once, and a body that is not in by its deadline gets
 * the read side of its socket shut, which ends the read at once (the answer,
 * a 408, still goes out).
 *
 * civetweb does not hand out a connection's socket, so the guard finds it by
 * its addresses among the process's file descriptors: only for a body past
 * its deadline, or a refused request head, never on the request path. */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* tcp_info with tcpi_bytes_received */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_internal.h"
#include "idlink/log.h"

#define PEER_BUCKETS 256
#define WATCH_EVERY_MS 200

/* What an address holds: bodies being received, and connections that sent
 * a request (a connection that sends nothing shows no address to civetweb's
 * callbacks; the pre-request timeout bounds those). */
enum hold { HOLD_BODIES, HOLD_CONNECTIONS };

struct peer {
  char addr[48];
  unsigned held[2]; /* by enum hold */
  struct peer *next;
};

struct idl_http_guard {
  unsigned limit[2]; /* by enum hold */
  pthread_mutex_t lock;
  struct peer *peers[PEER_BUCKETS]; /* guarded by lock */
  struct idl_body_watch *watches;   /* guarded by lock */
  int stopping;                     /* guarded by lock */
  pthread_cond_t wake;
  pthread_t thread;
};

/* ------------------------------------------------------------- sockets */

/* Whether fd is the socket whose local port is the server's and whose peer
 * is the client. */
static int is_connection(int fd, const char *remote_addr, int remote_port, int server_port) {
  struct sockaddr_storage local, peer;
  socklen_t llen = sizeof(local), plen = sizeof(peer);
  if (getsockname(fd, (struct sockaddr *)&local, &llen) != 0 ||
      getpeername(fd, (struct sockaddr *)&peer, &plen) != 0 || peer.ss_family != AF_INET)
    return 0;
  const struct sockaddr_in *l = (const struct sockaddr_in *)&local,
                           *p = (const struct sockaddr_in *)&peer;
  char text[INET_ADDRSTRLEN];
  return ntohs(l->sin_port) == server_port && ntohs(p->sin_port) == remote_port &&
         inet_ntop(AF_INET, &p->sin_addr, text, sizeof(text)) && !strcmp(text, remote_addr);
}

/* A descriptor of the connection a request arrived on, of its own (close it
 * after use); -1 when none. The duplicate is checked again: a descriptor
 * closed and reused by another connection between the search and its use is
 * never taken for this one. */
static int find_socket(const char *remote_addr, int remote_port, int server_port) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  int found = -1;
  for (struct dirent *e; found < 0 && (e = readdir(d));) {
    int fd = atoi(e->d_name);
    if (fd <= 2 || fd == dirfd(d) || !is_connection(fd, remote_addr, remote_port, server_port))
      continue;
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own >= 0 && is_connection(own, remote_addr, remote_port, server_port))
      found = own;
    else if (own >= 0)
      close(own);
  }
  closedir(d);
  return found;
}

long long idl_guard_bytes_received(const struct mg_request_info *ri) {
  int fd = find_socket(ri->remote_addr, ri->remote_port, ri->server_port);
  struct tcp_info info;
  socklen_t len = sizeof(info);
  int ok = fd >= 0 && getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0;
  if (fd >= 0)
    close(fd);
  return ok ? (long long)info.tcpi_bytes_received : -1;
}

/* ---------------------------------------------------------- peer counts */

static unsigned bucket(const char *addr) {
  unsigned h = 2166136261u;
  for (; *addr; addr++)
    h = (h ^ (unsigned char)*addr) * 16777619u;
  return h % PEER_BUCKETS;
}

/* Takes what of addr, or leaves one (take < 0); lock held. -1 when addr
 * is at its limit (nothing taken). An address that holds nothing is
 * forgotten. */
static int peer_hold(struct idl_http_guard *g, const char *addr, enum hold what, int take) {
  struct peer **link = &g->peers[bucket(addr)], *p;
  for (; (p = *link) && strcmp(p->addr, addr) != 0; link = &p->next)
    ;
  if (!p && take > 0 && (p = calloc(1, sizeof(*p)))) {
    snprintf(p->addr, sizeof(p->addr), "%s", addr);
    p->next = *link;
    *link = p;
  }
  int rc = 0;
  if (!p)
    return take > 0 ? -1 : 0;
  if (take > 0 && p->held[what] >= g->limit[what])
    rc = -1;
  else if (take > 0)
    p->held[what]++;
  else if (p->held[what])
    p->held[what]--;
  if (!p->held[HOLD_BODIES] && !p->held[HOLD_CONNECTIONS]) {
    *link = p->next;
    free(p);
  }
  return rc;
}

int idl_guard_conn_open(struct idl_http_guard *g, const char *addr) {
  pthread_mutex_lock(&g->lock);
  int rc = peer_hold(g, addr, HOLD_CONNECTIONS, 1);
  pthread_mutex_unlock(&g->lock);
  return rc;
}

void idl_guard_conn_close(struct idl_http_guard *g, const char *addr) {
  pthread_mutex_lock(&g->lock);
  peer_hold(g, addr, HOLD_CONNECTIONS, -1);
  pthread_mutex_unlock(&g->lock);
}

/* ------------------------------------------------------------ watching */

int idl_guard_body_begin(struct idl_http_guard *g, const struct mg_request_info *ri,
                         const char *peer, int64_t deadline_us, struct idl_body_watch *w) {
  *w = (struct idl_body_watch){.deadline_us = deadline_us, .remote_port = ri->remote_port,
                               .server_port = ri->server_port};
  snprintf(w->addr, sizeof(w->addr), "%s", peer);
  snprintf(w->remote_addr, sizeof(w->remote_addr), "%s", ri->remote_addr);
  pthread_mutex_lock(&g->lock);
  int rc = peer_hold(g, w->addr, HOLD_BODIES, 1);
  if (!rc) {
    w->next = g->watches;
    g->watches = w;
  }
  pthread_mutex_unlock(&g->lock);
  return rc;
}

void idl_guard_body_end(struct idl_http_guard *g, struct idl_body_watch *w) {
  pthread_mutex_lock(&g->lock);
  for (struct idl_body_watch **link = &g->watches; *link; link = &(*link)->next)
    if (*link == w) {
      *link = w->next;
      break;
    }
  peer_hold(g, w->addr, HOLD_BODIES, -1);
  pthread_mutex_unlock(&g->lock);
}

/* Shuts the read side of every body past its deadline. */
static void cut_late_bodies(struct idl_http_guard *g) {
  int64_t now = idl_now_us();
  for (struct idl_body_watch *w = g->watches; w; w = w->next) {
    if (w->cut || now < w->deadline_us)
      continue;
    w->cut = 1;
    int fd = find_socket(w->remote_addr, w->remote_port, w->server_port);
    if (fd >= 0) {
      shutdown(fd, SHUT_RD); /* the connection's, through a descriptor of our own */
      close(fd);
    }
  }
}

static void *guard_main(void *arg) {
  struct idl_http_guard *g = arg;
  pthread_mutex_lock(&g->lock);
  while (!g->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += WATCH_EVERY_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&g->wake, &g->lock, &until);
    cut_late_bodies(g);
  }
  pthread_mutex_unlock(&g->lock);
  return NULL;
}

enum idl_err idl_guard_start(unsigned peer_bodies, unsigned peer_connections,
                             struct idl_http_guard **out) {
  struct idl_http_guard *g = calloc(1, sizeof(*g));
  if (!g)
    return IDL_ERR_NOMEM;
  g->limit[HOLD_BODIES] = peer_bodies;
  g->limit[HOLD_CONNECTIONS] = peer_connections;
  pthread_mutex_init(&g->lock, NULL);
  pthread_cond_init(&g->wake, NULL);
  if (pthread_create(&g->thread, NULL, guard_main, g) != 0) {
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
    return IDL_ERR_NOMEM;
  }
  *out = g;
  return IDL_ERR_OK;
}

void idl_guard_stop(struct idl_http_guard *g) {
  if (!g)
    return;
  pthread_mutex_lock(&g->lock);
  g->stopping = 1;
  pthread_cond_signal(&g->wake);
  pthread_mutex_unlock(&g->lock);
  pthread_join(g->thread, NULL);
  for (size_t i = 0; i < PEER_BUCKETS; i++)
    for (struct peer *p = g->peers[i], *next; p; p = next) {
      next = p->next;
      free(p);
    }
  pthread_cond_destroy(&g->wake);
  pthread_mutex_destroy(&g->lock);
  free(g);
}

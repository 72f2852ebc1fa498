/* idlinkd: options, wiring and signals. No logic of its own. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idlink/http.h"
#include "idlink/log.h"
#include "idlink/service.h"

struct config {
  const char *listen;
  const char *data;
  const char *redis;
  struct idl_redis_url redis_url;
  const char *redis_prefix;
  size_t stream_maxlen;
  uint64_t log_retain;
  int sync_full;
  unsigned threads;
  unsigned peer_bodies;
  unsigned peer_connections;
  size_t max_body;
  size_t map_size;
  size_t max_batch;
  int log_level;
};

static const char usage[] =
    "Usage: idlinkd [OPTION]...\n"
    "Serve the idlink customer identity API over HTTP.\n"
    "\n"
    "Every option also reads the environment variable shown; a flag wins.\n"
    "  --listen ADDR:PORT   IDLINK_LISTEN     where to listen, an IPv4 address\n"
    "                                         (127.0.0.1:8080)\n"
    "  --data DIR           IDLINK_DATA       LMDB folder, created if missing\n"
    "                                         (./idlink-data)\n"
    "  --redis URL          IDLINK_REDIS      redis://[:password@]host[:port][/db]\n"
    "                                         mirror (none); give a URL holding a\n"
    "                                         password in IDLINK_REDIS, not here,\n"
    "                                         so that ps does not show it\n"
    "  --redis-prefix P     IDLINK_REDIS_PREFIX  prefix of the mirror's keys\n"
    "                                         (idlink:)\n"
    "  --redis-stream-maxlen N  IDLINK_REDIS_STREAM_MAXLEN  the events stream is\n"
    "                                         capped near N entries (100000)\n"
    "  --log-retain N       IDLINK_LOG_RETAIN  change-log entries kept at least\n"
    "                                         (1000000); with a mirror, none it\n"
    "                                         has not applied is ever dropped\n"
    "  --sync full|none     IDLINK_SYNC       full: a change is on disk before its\n"
    "                                         response is sent (full)\n"
    "  --threads N          IDLINK_THREADS    HTTP worker threads, one per open\n"
    "                                         connection (512 per core, 512 to 2048)\n"
    "  --peer-bodies N      IDLINK_PEER_BODIES  request bodies one client address\n"
    "                                         may send at once; more get 503 (32)\n"
    "  --peer-connections N IDLINK_PEER_CONNECTIONS  connections one client address\n"
    "                                         may hold; more get 503 (half the threads,\n"
    "                                         at least 64;\n"
    "                                         raise it behind a reverse proxy)\n"
    "  --max-body BYTES     IDLINK_MAX_BODY   larger request bodies get 413 (1048576)\n"
    "  --map-size BYTES     IDLINK_MAP_SIZE   LMDB map size, the store's largest\n"
    "                                         size; full gives 507 (17179869184)\n"
    "  --max-batch N        IDLINK_MAX_BATCH  requests per group commit (1024)\n"
    "  --log-level LEVEL    IDLINK_LOG_LEVEL  error, warn, info or debug (info);\n"
    "                                         no level logs an email or a phone\n"
    "  --help                                 print this help and exit\n"
    "  --version                              print the version and exit\n"
    "\n"
    "SIGINT or SIGTERM: stop accepting, finish requests in flight, commit, exit 0.\n";

static void die_usage(const char *option, const char *fmt, const char *value) {
  fprintf(stderr, "idlinkd: %s: ", option);
  fprintf(stderr, fmt, value);
  fputc('\n', stderr);
  exit(2);
}

/* Parses a decimal size in [min, max]. */
static size_t parse_size(const char *option, const char *s, size_t min, size_t max) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (s[0] < '0' || s[0] > '9' || *end || errno || v < min || v > max) {
    char fmt[96];
    snprintf(fmt, sizeof(fmt), "expected a whole number from %zu to %zu, got '%%s'",
             min, max);
    die_usage(option, fmt, s);
  }
  return (size_t)v;
}

/* Checks ADDR:PORT: an IPv4 address (or a bracketed IPv6 one where civetweb
 * is built with IPv6; Debian's is not), and a port. */
static void check_listen(const char *option, const char *s) {
  if (s[0] == '[' && !idl_http_ipv6())
    die_usage(option, "IPv6 is not built into this civetweb: listen on an IPv4 address, "
              "got '%s'", s);
  const char *colon = strrchr(s, ':');
  char addr[64];
  size_t len = colon ? (size_t)(colon - s) : 0;
  if (!colon || len == 0 || len >= sizeof(addr))
    die_usage(option, "expected ADDR:PORT, got '%s'", s);
  memcpy(addr, s, len);
  addr[len] = '\0';
  unsigned char buf[16];
  int ok = addr[0] == '['
               ? (addr[len - 1] == ']' && (addr[len - 1] = '\0', 1) &&
                  inet_pton(AF_INET6, addr + 1, buf) == 1)
               : inet_pton(AF_INET, addr, buf) == 1;
  if (!ok)
    die_usage(option, "expected an IP address before the port, got '%s'", s);
  parse_size(option, colon + 1, 1, 65535);
}

/* Applies one option's value; name is the flag or the variable it came from. */
static void apply(struct config *c, int opt, const char *name, const char *v) {
  switch (opt) {
  case 'l': check_listen(name, v); c->listen = v; break;
  case 'd':
    if (!*v)
      die_usage(name, "expected a folder, got '%s'", v);
    c->data = v;
    break;
  case 'r': {
    char why[256];
    if (idl_redis_url_parse(v, &c->redis_url, why, sizeof(why)))
      die_usage(name, "%s", why);
    c->redis = v;
    break;
  }
  case 'p':
    if (!idl_mirror_prefix_ok(v))
      die_usage(name, "expected 1 to 48 characters, none of * ? [ ] \\ or white space, "
                "got '%s'", v);
    c->redis_prefix = v;
    break;
  case 'x': c->stream_maxlen = parse_size(name, v, 1, (size_t)1 << 40); break;
  case 'R': c->log_retain = parse_size(name, v, 1, (size_t)1 << 50); break;
  case 's':
    if (strcmp(v, "full") != 0 && strcmp(v, "none") != 0)
      die_usage(name, "expected full or none, got '%s'", v);
    c->sync_full = strcmp(v, "full") == 0;
    break;
  case 't': c->threads = (unsigned)parse_size(name, v, 1, 4096); break;
  case 'P': c->peer_bodies = (unsigned)parse_size(name, v, 1, 4096); break;
  case 'C': c->peer_connections = (unsigned)parse_size(name, v, 1, 1 << 20); break;
  case 'b': c->max_body = parse_size(name, v, 1, (size_t)1 << 30); break;
  case 'm': c->map_size = parse_size(name, v, (size_t)1 << 20, (size_t)1 << 46); break;
  case 'B': c->max_batch = parse_size(name, v, 1, 1 << 20); break;
  case 'L':
    if ((c->log_level = idl_log_parse_level(v)) < 0)
      die_usage(name, "expected error, warn, info or debug, got '%s'", v);
    break;
  }
}

static const struct option long_options[] = {
    {"listen", required_argument, NULL, 'l'},    {"data", required_argument, NULL, 'd'},
    {"redis", required_argument, NULL, 'r'},     {"sync", required_argument, NULL, 's'},
    {"threads", required_argument, NULL, 't'},   {"max-body", required_argument, NULL, 'b'},
    {"map-size", required_argument, NULL, 'm'},  {"max-batch", required_argument, NULL, 'B'},
    {"log-level", required_argument, NULL, 'L'}, {"help", no_argument, NULL, 'h'},
    {"redis-prefix", required_argument, NULL, 'p'},
    {"redis-stream-maxlen", required_argument, NULL, 'x'},
    {"log-retain", required_argument, NULL, 'R'},
    {"peer-bodies", required_argument, NULL, 'P'},
    {"peer-connections", required_argument, NULL, 'C'},
    {"version", no_argument, NULL, 'V'},         {NULL, 0, NULL, 0},
};

static const char *const env_names[][2] = {
    {"l", "IDLINK_LISTEN"},   {"d", "IDLINK_DATA"},     {"r", "IDLINK_REDIS"},
    {"s", "IDLINK_SYNC"},     {"t", "IDLINK_THREADS"},  {"b", "IDLINK_MAX_BODY"},
    {"m", "IDLINK_MAP_SIZE"}, {"B", "IDLINK_MAX_BATCH"}, {"L", "IDLINK_LOG_LEVEL"},
    {"p", "IDLINK_REDIS_PREFIX"}, {"x", "IDLINK_REDIS_STREAM_MAXLEN"},
    {"R", "IDLINK_LOG_RETAIN"},  {"P", "IDLINK_PEER_BODIES"},
    {"C", "IDLINK_PEER_CONNECTIONS"},
};

/* civetweb holds a thread for each open connection, idle ones included
 * (until the request or keep-alive timeout closes them), so the pool is sized
 * for connections, not for the cores: an idle thread costs a little memory. */
static unsigned default_threads(void) {
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  long n = (cores > 0 ? cores : 1) * 512;
  return (unsigned)(n < 512 ? 512 : n > 2048 ? 2048 : n);
}

static void parse_config(int argc, char **argv, struct config *c) {
  *c = (struct config){.listen = "127.0.0.1:8080", .data = "./idlink-data",
                       .sync_full = 1, .threads = default_threads(),
                       .max_body = 1048576, .log_level = IDL_LOG_INFO};
  for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++) {
    const char *v = getenv(env_names[i][1]);
    if (v && *v)
      apply(c, env_names[i][0][0], env_names[i][1], v);
  }
  opterr = 0;
  int opt, index;
  while ((opt = getopt_long(argc, argv, ":", long_options, &index)) != -1) {
    if (opt == 'h') {
      fputs(usage, stdout);
      exit(0);
    } else if (opt == 'V') {
      printf("idlinkd %s\n", IDLINK_VERSION);
      exit(0);
    } else if (opt == ':') {
      die_usage(argv[optind - 1], "%s", "needs a value");
    } else if (opt == '?') {
      die_usage(argv[optind - 1], "%s", "unknown option (see --help)");
    }
    char flag[32];
    snprintf(flag, sizeof(flag), "--%s", long_options[index].name);
    apply(c, opt, flag, optarg);
  }
  if (optind < argc)
    die_usage(argv[optind], "%s", "unexpected argument (see --help)");
}

int main(int argc, char **argv) {
  struct config c;
  parse_config(argc, argv, &c);
  idl_log_set_level((enum idl_log_level)c.log_level);

  /* Signals are taken by sigwait below; every thread started after this
   * inherits the mask. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct idl_mirror_opts mo = {.url = c.redis_url, .prefix = c.redis_prefix,
                               .stream_maxlen = c.stream_maxlen};
  struct idl_service_opts so = {.data_dir = c.data, .sync_full = c.sync_full,
                                .map_size = c.map_size, .max_batch = c.max_batch,
                                .log_retain = c.log_retain, .mirror = c.redis ? &mo : NULL};
  struct idl_service *svc = NULL;
  enum idl_err err = idl_service_open(&so, &svc);
  if (err == IDL_ERR_LOCKED) {
    fprintf(stderr, "idlinkd: %s is in use by another idlinkd (or idlink-restore)\n",
            c.data);
    return 1;
  }
  if (err) {
    fprintf(stderr, "idlinkd: cannot open the store in %s: %s\n", c.data,
            idl_strerror(err));
    return 1;
  }
  struct idl_http_opts ho = {.listen = c.listen, .threads = c.threads,
                             .max_body = c.max_body, .peer_bodies = c.peer_bodies,
                             .peer_connections = c.peer_connections};
  struct idl_http *http = NULL;
  if ((err = idl_http_start(svc, &ho, &http))) {
    idl_service_close(svc);
    return 1;
  }
  char mirror[320] = "no mirror";
  if (c.redis)
    snprintf(mirror, sizeof(mirror), "mirror to Redis at %s:%d", c.redis_url.host,
             c.redis_url.port);
  idl_log_info("idlinkd %s listening on %s, data in %s, sync %s, %u threads, %s",
               IDLINK_VERSION, c.listen, c.data, c.sync_full ? "full" : "none", c.threads,
               mirror);
  int sig = 0;
  sigwait(&stop, &sig);
  idl_log_info("%s: stopping", strsignal(sig));
  idl_http_stop(http);
  idl_service_close(svc);
  idl_log_info("stopped");
  return 0;
}

/* idlinkd: options, wiring and signals. No logic of its own. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "idlink/blocklist.h"
#include "idlink/http.h"
#include "idlink/log.h"
#include "idlink/normalize.h"
#include "idlink/phone_region.h"
#include "idlink/service.h"
#include "idlink/toolkit.h"
#include "sheet_internal.h"

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
  size_t max_upload;
  int64_t crm_channel;
  uint64_t max_identity;
  const char *phone_region;
  const char *token_file;
  const char *access_log;
  const char *tls_cert, *tls_key;
  int insecure;
  const char *blocklists[32]; /* --blocklist, in the order given */
  size_t n_blocklists;
  size_t map_size;
  size_t max_batch;
  int log_level;
};

/* Every option, once: XX(id, flag, argument, variable, help). The usage
 * text, the getopt table and the environment's names all come from here, so
 * they cannot drift apart; apply() says what each one does. */
#define IDL_OPTION_MAP(XX)                                                               \
  XX(LISTEN, "listen", "ADDR:PORT", "IDLINK_LISTEN",                                     \
     "where to listen, an IPv4 address (127.0.0.1:8080)")                                \
  XX(DATA, "data", "DIR", "IDLINK_DATA", "LMDB folder, created if missing (./idlink-data)") \
  XX(REDIS, "redis", "URL", "IDLINK_REDIS",                                              \
     "redis://[:password@]host[:port][/db] mirror (none); give a URL holding a "          \
     "password in IDLINK_REDIS, not here, so that ps does not show it")                  \
  XX(REDIS_PREFIX, "redis-prefix", "P", "IDLINK_REDIS_PREFIX",                           \
     "prefix of the mirror's keys (idlink:)")                                            \
  XX(STREAM_MAXLEN, "redis-stream-maxlen", "N", "IDLINK_REDIS_STREAM_MAXLEN",            \
     "the events stream is capped near N entries (100000)")                              \
  XX(LOG_RETAIN, "log-retain", "N", "IDLINK_LOG_RETAIN",                                 \
     "change-log entries kept at least (1000000); with a mirror, none it has not "       \
     "applied is ever dropped")                                                          \
  XX(SYNC, "sync", "full|none", "IDLINK_SYNC",                                           \
     "full: a change is on disk before its response is sent (full)")                     \
  XX(THREADS, "threads", "N", "IDLINK_THREADS",                                          \
     "HTTP worker threads, one per open connection (512 per core, 512 to 2048)")         \
  XX(PEER_BODIES, "peer-bodies", "N", "IDLINK_PEER_BODIES",                              \
     "request bodies one client address may send at once; more get 503 (32)")            \
  XX(PEER_CONNECTIONS, "peer-connections", "N", "IDLINK_PEER_CONNECTIONS",               \
     "connections one client address may hold; more get 503 (half the threads, at "      \
     "least 64; raise it behind a reverse proxy)")                                       \
  XX(MAX_BODY, "max-body", "BYTES", "IDLINK_MAX_BODY",                                   \
     "larger request bodies get 413 (1048576)")                                          \
  XX(MAX_UPLOAD, "max-upload", "BYTES", "IDLINK_MAX_UPLOAD",                             \
     "larger import uploads get 413 (67108864)")                                        \
  XX(CRM_CHANNEL, "crm-channel", "N", "IDLINK_CRM_CHANNEL",                              \
     "the sales channel of seed 003's customer routes (1)")                             \
  XX(MAX_IDENTITY, "max-identity-contacts", "N", "IDLINK_MAX_IDENTITY_CONTACTS",         \
     "a request never makes an identity larger: it merges and creates nothing, and is "   \
     "listed by GET /conflicts (1000)")                                                  \
  XX(PHONE_REGION, "phone-region", "CC", "IDLINK_PHONE_REGION",                          \
     "parse phones as dialled in region CC (ISO 3166, e.g. TR) and keep them as E.164, "  \
     "with libphonenumber; a store keeps the normalization it was built with (none)")   \
  XX(BLOCKLIST, "blocklist", "default|FILE", "IDLINK_BLOCKLIST",                         \
     "junk emails and phones never matched: default, the shipped rules; FILE, lines "     \
     "email:PATTERN or phone:PATTERN ('*' any run); give it as often as needed (none)")  \
  XX(TOKEN_FILE, "token-file", "FILE", "IDLINK_TOKEN_FILE",                              \
     "lines TOKEN ROLE [NAME], ROLE read, write or admin: every route but /healthz then "  \
     "needs Authorization: Token T; SIGHUP reads the file again (none)")                \
  XX(ACCESS_LOG, "access-log", "FILE|-|off", "IDLINK_ACCESS_LOG",                       \
     "a JSON line per request, emails and phones masked: to FILE, to stderr (-) or "     \
     "none (off); stderr when not given")                                              \
  XX(TLS_CERT, "tls-cert", "FILE", "IDLINK_TLS_CERT",                                    \
     "serve HTTPS with this PEM certificate (chain); needs --tls-key (HTTP)")            \
  XX(TLS_KEY, "tls-key", "FILE", "IDLINK_TLS_KEY",                                      \
     "the PEM private key of --tls-cert, unencrypted")                                   \
  XX(INSECURE, "insecure", "", "IDLINK_INSECURE",                                        \
     "listen beyond loopback without a token file (refused without it)")                \
  XX(MAP_SIZE, "map-size", "BYTES", "IDLINK_MAP_SIZE",                                   \
     "LMDB map size, the store's largest size; full gives 507 (17179869184)")            \
  XX(MAX_BATCH, "max-batch", "N", "IDLINK_MAX_BATCH", "requests per group commit (1024)")  \
  XX(LOG_LEVEL, "log-level", "LEVEL", "IDLINK_LOG_LEVEL",                                \
     "error, warn, info or debug (info); no level logs an email or a phone")

enum option_id {
#define XX(id, flag, arg, var, help) OPT_##id,
  IDL_OPTION_MAP(XX)
#undef XX
  OPT_COUNT,
  OPT_HELP = OPT_COUNT,
  OPT_VERSION,
};

static const struct {
  const char *flag, *arg, *var, *help;
} options[OPT_COUNT] = {
#define XX(id, flag, arg, var, help) [OPT_##id] = {flag, arg, var, help},
    IDL_OPTION_MAP(XX)
#undef XX
};

/* Writes text wrapped at the help column's width, each line indented. */
static void put_wrapped(const char *text, int indent, int width) {
  int col = indent;
  for (const char *w = text; *w;) {
    size_t len = strcspn(w, " ");
    if (col > indent && col + 1 + (int)len > width) {
      printf("\n%*s", indent, "");
      col = indent;
    } else if (col > indent) {
      putchar(' ');
      col++;
    }
    printf("%.*s", (int)len, w);
    col += (int)len;
    w += len;
    w += strspn(w, " ");
  }
  putchar('\n');
}

static void print_usage(void) {
  printf("Usage: idlinkd [OPTION]...\n"
         "Serve the idlink customer identity API over HTTP.\n\n"
         "Every option also reads the environment variable shown; a flag wins.\n");
  for (int i = 0; i < OPT_COUNT; i++) {
    char head[96];
    snprintf(head, sizeof(head), "  --%s%s%s", options[i].flag, *options[i].arg ? " " : "",
             options[i].arg);
    printf("%-22s %s\n%*s", head, options[i].var, 25, "");
    put_wrapped(options[i].help, 25, 80);
  }
  printf("  --help                 print this help and exit\n"
         "  --version              print the version and exit\n\n"
         "SIGINT or SIGTERM: stop accepting, finish requests in flight, commit, exit 0.\n");
}

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
static void apply(struct config *c, enum option_id opt, const char *name, const char *v) {
  switch (opt) {
  case OPT_LISTEN: check_listen(name, v); c->listen = v; break;
  case OPT_DATA:
    if (!*v)
      die_usage(name, "expected a folder, got '%s'", v);
    c->data = v;
    break;
  case OPT_REDIS: {
    char why[256];
    if (idl_redis_url_parse(v, &c->redis_url, why, sizeof(why)))
      die_usage(name, "%s", why);
    c->redis = v;
    break;
  }
  case OPT_REDIS_PREFIX:
    if (!idl_mirror_prefix_ok(v))
      die_usage(name, "expected 1 to 48 characters, none of * ? [ ] \\ or white space, "
                "got '%s'", v);
    c->redis_prefix = v;
    break;
  case OPT_STREAM_MAXLEN: c->stream_maxlen = parse_size(name, v, 1, (size_t)1 << 40); break;
  case OPT_LOG_RETAIN: c->log_retain = parse_size(name, v, 1, (size_t)1 << 50); break;
  case OPT_SYNC:
    if (strcmp(v, "full") != 0 && strcmp(v, "none") != 0)
      die_usage(name, "expected full or none, got '%s'", v);
    c->sync_full = strcmp(v, "full") == 0;
    break;
  case OPT_THREADS: c->threads = (unsigned)parse_size(name, v, 1, 4096); break;
  case OPT_PEER_BODIES: c->peer_bodies = (unsigned)parse_size(name, v, 1, 4096); break;
  case OPT_PEER_CONNECTIONS: c->peer_connections = (unsigned)parse_size(name, v, 1, 1 << 20); break;
  case OPT_MAX_BODY: c->max_body = parse_size(name, v, 1, (size_t)1 << 30); break;
  case OPT_MAX_UPLOAD: c->max_upload = parse_size(name, v, 1, (size_t)1 << 40); break;
  case OPT_CRM_CHANNEL: c->crm_channel = (int64_t)parse_size(name, v, 1, (size_t)INT64_MAX); break;
  case OPT_MAX_IDENTITY: c->max_identity = parse_size(name, v, 1, (size_t)1 << 40); break;
  case OPT_TOKEN_FILE: c->token_file = v; break;
  case OPT_ACCESS_LOG: c->access_log = v; break;
  case OPT_TLS_CERT: c->tls_cert = v; break;
  case OPT_TLS_KEY: c->tls_key = v; break;
  case OPT_INSECURE: /* a switch that opens the service: only a clear yes or no */
    if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
        !strcasecmp(v, "on"))
      c->insecure = 1;
    else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
             !strcasecmp(v, "off"))
      c->insecure = 0;
    else
      die_usage(name, "'%s' is neither 1, true, yes, on nor 0, false, no, off", v);
    break;
  case OPT_PHONE_REGION:
    if (!idl_phone_region_built_in())
      die_usage(name, "'%s': libphonenumber is not built into this idlinkd", v);
    if (idl_normalize_set_phone_region(v) != IDL_ERR_OK)
      die_usage(name, "expected a region libphonenumber knows (ISO 3166 alpha-2 in capitals, "
                "such as TR), got '%s'", v);
    c->phone_region = v;
    break;
  case OPT_BLOCKLIST:
    if (c->n_blocklists == sizeof(c->blocklists) / sizeof(c->blocklists[0]))
      die_usage(name, "given more than 32 times ('%s')", v);
    c->blocklists[c->n_blocklists++] = v;
    break;
  case OPT_MAP_SIZE: c->map_size = parse_size(name, v, (size_t)1 << 20, (size_t)1 << 46); break;
  case OPT_MAX_BATCH: c->max_batch = parse_size(name, v, 1, 1 << 20); break;
  case OPT_LOG_LEVEL:
    if ((c->log_level = idl_log_parse_level(v)) < 0)
      die_usage(name, "expected error, warn, info or debug, got '%s'", v);
    break;
  default:
    break;
  }
}

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
                       .max_body = 1048576, .max_upload = (size_t)64 << 20,
                       .crm_channel = 1, .max_identity = 1000, .log_level = IDL_LOG_INFO};
  for (int i = 0; i < OPT_COUNT; i++) {
    const char *v = getenv(options[i].var);
    if (v && *v)
      apply(c, (enum option_id)i, options[i].var, v);
  }
  struct option long_options[OPT_COUNT + 3];
  for (int i = 0; i < OPT_COUNT; i++)
    long_options[i] = (struct option){options[i].flag,
                                      *options[i].arg ? required_argument : no_argument, NULL, i};
  long_options[OPT_HELP] = (struct option){"help", no_argument, NULL, OPT_HELP};
  long_options[OPT_VERSION] = (struct option){"version", no_argument, NULL, OPT_VERSION};
  long_options[OPT_VERSION + 1] = (struct option){NULL, 0, NULL, 0};
  opterr = 0;
  int opt, index;
  while ((opt = getopt_long(argc, argv, ":", long_options, &index)) != -1) {
    if (opt == OPT_HELP) {
      print_usage();
      exit(0);
    } else if (opt == OPT_VERSION) {
      printf("idlinkd %s\n", IDLINK_VERSION);
      exit(0);
    } else if (opt == ':') {
      die_usage(argv[optind - 1], "%s", "needs a value");
    } else if (opt == '?') {
      die_usage(argv[optind - 1], "%s", "unknown option (see --help)");
    }
    char flag[32];
    snprintf(flag, sizeof(flag), "--%s", long_options[index].name);
    apply(c, (enum option_id)opt, flag, optarg ? optarg : "1");
  }
  if (optind < argc)
    die_usage(argv[optind], "%s", "unexpected argument (see --help)");
  if (!c->tls_cert != !c->tls_key)
    die_usage(c->tls_cert ? "--tls-cert" : "--tls-key", "%s",
              "give both --tls-cert and --tls-key");
  /* Personal data answers anyone who reaches the port: beyond loopback,
   * only with tokens, or when the operator says so. */
  if (strncmp(c->listen, "127.", 4) != 0 && !c->token_file && !c->insecure)
    die_usage("--listen", "'%s' is beyond loopback: give --token-file, or --insecure to "
              "serve it without tokens", c->listen);
}

/* Every connection holds a descriptor (three behind the TLS front: the
 * client's, the relay's and civetweb's), so a pool of --threads needs more
 * than the usual soft limit of 1024: it is raised towards the hard limit. */
static void raise_file_limit(const struct config *c) {
  struct rlimit rl;
  rlim_t want = (rlim_t)c->threads * (c->tls_cert ? 6 : 2) + 256;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
    return;
  rlim_t was = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
    idl_log_warn("open files are limited to %llu (wanted %llu for %u threads): connections "
                 "beyond it are refused; raise the hard limit (LimitNOFILE=)",
                 (unsigned long long)(rl.rlim_cur > was ? rl.rlim_cur : was),
                 (unsigned long long)want, c->threads);
}

/* The junk-value rules of every --blocklist; an empty list without any, so
 * that rules dropped from the command line are dropped from the store too. */
static struct idl_blocklist *load_blocklist(const struct config *c) {
  struct idl_blocklist *bl = NULL;
  char why[512] = "out of memory";
  enum idl_err err = idl_blocklist_new(&bl);
  for (size_t i = 0; !err && i < c->n_blocklists; i++)
    err = !strcmp(c->blocklists[i], "default") ? idl_blocklist_add_default(bl)
                                               : idl_blocklist_add_file(bl, c->blocklists[i],
                                                                        why, sizeof(why));
  if (err) {
    fprintf(stderr, "idlinkd: --blocklist: %s\n", why);
    exit(2);
  }
  return bl;
}

int main(int argc, char **argv) {
  struct config c;
  parse_config(argc, argv, &c);
  struct idl_blocklist *blocklist = load_blocklist(&c);
  struct idl_tokens *tokens = NULL;
  struct idl_access_log *access_log = NULL;
  struct idl_service *svc = NULL;
  struct idl_http *http = NULL;
  int rc = 2;
  char why[512];
  if (idl_access_log_open(c.access_log, &access_log, why, sizeof(why)) != IDL_ERR_OK) {
    fprintf(stderr, "idlinkd: --access-log: %s\n", why);
    goto out;
  }
  if (c.token_file && idl_tokens_open(c.token_file, &tokens, why, sizeof(why)) != IDL_ERR_OK) {
    fprintf(stderr, "idlinkd: --token-file: %s\n", why);
    goto out;
  }
  idl_log_set_level((enum idl_log_level)c.log_level);

  raise_file_limit(&c);
  /* Signals are taken by sigwait below; every thread started after this
   * inherits the mask. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct idl_mirror_opts mo = {.url = c.redis_url, .prefix = c.redis_prefix,
                               .stream_maxlen = c.stream_maxlen};
  struct idl_service_opts so = {.data_dir = c.data, .sync_full = c.sync_full,
                                .map_size = c.map_size, .max_batch = c.max_batch,
                                .log_retain = c.log_retain, .mirror = c.redis ? &mo : NULL,
                                .blocklist = blocklist,
                                .max_identity_contacts = c.max_identity};
  rc = 1;
  idl_report_store_faults("idlinkd", c.data, -1);
  enum idl_err err = idl_service_open(&so, &svc);
  if (err == IDL_ERR_LOCKED) {
    fprintf(stderr, "idlinkd: %s is in use by another idlinkd (or idlink-restore)\n",
            c.data);
    goto out;
  }
  if (err) {
    fprintf(stderr, "idlinkd: cannot open the store in %s: %s\n", c.data,
            err == IDL_ERR_INVAL ? "it was built with other options (see the line above)"
                                 : idl_strerror(err));
    goto out;
  }
  struct idl_http_opts ho = {.listen = c.listen, .threads = c.threads,
                             .max_body = c.max_body, .max_upload = c.max_upload,
                             .crm_channel = c.crm_channel, .peer_bodies = c.peer_bodies,
                             .peer_connections = c.peer_connections, .tokens = tokens,
                             .access_log = access_log, .tls_cert = c.tls_cert,
                             .tls_key = c.tls_key};
  if (idl_http_start(svc, &ho, &http))
    goto out;
  char mirror[320] = "no mirror";
  if (c.redis)
    snprintf(mirror, sizeof(mirror), "mirror to Redis at %s:%d", c.redis_url.host,
             c.redis_url.port);
  idl_log_info("idlinkd %s listening on %s%s, data in %s, sync %s, %u threads, %s",
               IDLINK_VERSION, c.listen, c.tls_cert ? " (HTTPS)" : "", c.data,
               c.sync_full ? "full" : "none", c.threads, mirror);
  if (!idl_sheet_xls_reader())
    idl_log_warn("import: idlink-xls is not beside idlinkd (nor named by IDLINK_XLS_READER): "
                 ".xls uploads are refused, xlsx and csv are read");
  int sig = 0;
  while (sigwait(&stop, &sig) == 0 && sig == SIGHUP)
    if (tokens)
      idl_tokens_reload(tokens);
  idl_log_info("%s: stopping", strsignal(sig));
  rc = 0;
out:
  idl_http_stop(http);
  idl_service_close(svc);
  idl_tokens_close(tokens);
  idl_access_log_close(access_log);
  idl_blocklist_free(blocklist);
  if (!rc)
    idl_log_info("stopped");
  return rc;
}

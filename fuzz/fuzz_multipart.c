/* The multipart reader: idlink reads an upload with civetweb's
 * mg_handle_form_request, which needs a connection, so this harness starts
 * the real HTTP front end once (LLVMFuzzerInitialize: idl_http_start over a
 * service on a temporary store, on a free loopback port) and sends each
 * input as the multipart/form-data body of a bulk import:
 *
 *   byte 0 % 4   the route: /api/v1/customers/import/, /api/v1/products/import/,
 *                /upload/customers, /upload/products
 *   the rest     the body, whose boundary is "idlinkfuzz"
 *
 * That runs http_import.c's receive path (the form's parts to a temporary
 * file, the channel part, the limits), the import of the file (sheet.c,
 * import.c, the writer) and the answer. Every answer must be a status below
 * 500 with a JSON body: a 500 is the sign of an error the server did not
 * expect. IDLINK_FUZZ_VERBOSE=1 prints each answer. */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "idlink/http.h"
#include "idlink/log.h"
#include "idlink/service.h"

#define BOUNDARY "idlinkfuzz"
#define MAX_UPLOAD (1 << 20)

static const char *const routes[] = {
    "/api/v1/customers/import/",
    "/api/v1/products/import/",
    "/upload/customers",
    "/upload/products",
};

static char data_dir[512];
static int port;
static struct idl_service *svc;
static struct idl_http *http;
static int verbose;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void stop(void) {
  idl_http_stop(http);
  idl_service_close(svc);
  if (data_dir[0])
    nftw(data_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A TCP port on 127.0.0.1 that nothing listens on right now. */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    perror("fuzz: free port");
    abort();
  }
  close(fd);
  return ntohs(a.sin_port);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  signal(SIGPIPE, SIG_IGN);
  verbose = getenv("IDLINK_FUZZ_VERBOSE") != NULL;
  idl_log_set_level(IDL_LOG_WARN);
  const char *tmp = getenv("TMPDIR");
  snprintf(data_dir, sizeof(data_dir), "%s/idlink-fuzz-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(data_dir)) {
    perror("fuzz: mkdtemp");
    abort();
  }
  struct idl_service_opts so = {.data_dir = data_dir, .map_size = (size_t)1 << 30};
  if (idl_service_open(&so, &svc)) {
    fprintf(stderr, "fuzz: cannot open a store in %s\n", data_dir);
    abort();
  }
  char listen[32];
  port = free_port();
  snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
  struct idl_http_opts ho = {.listen = listen, .threads = 4, .max_body = 1 << 20,
                             .max_upload = MAX_UPLOAD};
  if (idl_http_start(svc, &ho, &http)) {
    fprintf(stderr, "fuzz: cannot start the server on %s\n", listen);
    abort();
  }
  atexit(stop);
  return 0;
}

static void send_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) /* libFuzzer's timers */
      continue;
    if (n <= 0)
      return; /* the server answered and closed before the end: read its answer */
    p += n;
    len -= (size_t)n;
  }
}

/* connect(), carried on when a signal (libFuzzer's timers) interrupts it. */
static int connect_loopback(int fd, const struct sockaddr_in *a) {
  if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) == 0)
    return 0;
  if (errno != EINTR)
    return -1;
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  int rc, error = 0;
  socklen_t len = sizeof(error);
  while ((rc = poll(&p, 1, 30000)) < 0 && errno == EINTR)
    ;
  if (rc != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error) {
    errno = error ? error : ETIMEDOUT;
    return -1;
  }
  return 0;
}

/* Sends one request on a connection of its own and returns its answer
 * (free()), NUL-terminated, of *len bytes. */
static char *exchange(const char *head, const uint8_t *body, size_t body_len, size_t *len) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct timeval tv = {.tv_sec = 30};
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
      connect_loopback(fd, &a) != 0) {
    perror("fuzz: connect");
    abort();
  }
  send_all(fd, head, strlen(head));
  send_all(fd, body, body_len);
  size_t cap = 4096;
  char *out = malloc(cap);
  *len = 0;
  for (;;) {
    if (*len + 1 == cap && !(out = realloc(out, cap *= 2)))
      abort();
    ssize_t n = recv(fd, out + *len, cap - *len - 1, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      fprintf(stderr, "fuzz: no answer within %ld s\n", (long)tv.tv_sec);
      abort();
    }
    if (n <= 0)
      break;
    *len += (size_t)n;
  }
  close(fd);
  out[*len] = '\0';
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  char head[512];
  snprintf(head, sizeof(head),
           "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
           "Content-Type: multipart/form-data; boundary=" BOUNDARY "\r\n"
           "Content-Length: %zu\r\n\r\n",
           routes[data[0] % (sizeof(routes) / sizeof(routes[0]))], port, size - 1);
  size_t len;
  char *answer = exchange(head, data + 1, size - 1, &len);
  int status = 0;
  const char *body = strstr(answer, "\r\n\r\n");
  if (sscanf(answer, "HTTP/1.1 %d ", &status) != 1 || !body || status >= 500) {
    fprintf(stderr, "fuzz: the server answered:\n%s\n", answer);
    abort();
  }
  if (verbose)
    fprintf(stderr, "fuzz: %s\n", answer);
  json_error_t jerr;
  json_t *j = json_loads(body + 4, 0, &jerr);
  if (!j) {
    fprintf(stderr, "fuzz: an answer that is not JSON (%s):\n%s\n", jerr.text, answer);
    abort();
  }
  json_decref(j);
  free(answer);
  return 0;
}

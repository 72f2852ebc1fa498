/*
 * idlink-ceiling: the HTTP ceiling of the machine.
 *
 * A civetweb server with the civetweb options idlinkd uses that answers
 * POST /identify with a fixed JSON body of the size of a real answer (the
 * seeds' example of SPEC section 2). It parses no JSON and stores nothing,
 * so its throughput is the most idlinkd could reach over the same HTTP
 * stack on the same machine: bench/run.sh prints idlinkd's numbers as
 * ratios to it.
 *
 *   idlink-ceiling [--listen ADDR:PORT] [--threads N] [--civetweb-headers]
 *
 * SIGINT/SIGTERM stop it cleanly (exit 0).
 */
#define _POSIX_C_SOURCE 200809L

#include <civetweb.h>

#include "idlink/http.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CEIL_DEFAULT_LISTEN "127.0.0.1:8081"
#define CEIL_DEFAULT_THREADS 64
#define CEIL_MAX_THREADS 1024

/* The seeds' example response (SPEC section 2), byte for byte what
 * idlinkd renders for that identity. */
static const char ceil_body[] =
    "{\"contact\":{\"primaryContactId\":11,"
    "\"emails\":[\"george@hillvalley.edu\",\"biffsucks@hillvalley.edu\"],"
    "\"phoneNumbers\":[\"919191\",\"717171\"],"
    "\"secondaryContactIds\":[27]}}";

struct ceil_opts {
    const char *listen;
    char threads[16];     /* decimal, as civetweb wants it */
    int civetweb_headers; /* answer through mg_response_header_* */
};

/* Written by the signal handler, read by the main thread only. */
static volatile sig_atomic_t ceil_stop;

static void ceil_on_signal(int signo)
{
    (void)signo;
    ceil_stop = 1;
}

static void ceil_usage(FILE *out)
{
    fprintf(out,
            "usage: idlink-ceiling [--listen ADDR:PORT] [--threads N] [--civetweb-headers]\n"
            "\n"
            "Answers POST /identify with a fixed JSON body: the HTTP ceiling\n"
            "that bench/run.sh compares idlinkd against.\n"
            "\n"
            "  --listen ADDR:PORT  where to listen (default %s)\n"
            "  --threads N         civetweb worker threads (default %d)\n"
            "  --civetweb-headers  send the headers with civetweb's header functions,\n"
            "                      one send() per line, instead of the whole\n"
            "                      response in one write (for comparison)\n"
            "  --help              this text\n",
            CEIL_DEFAULT_LISTEN, CEIL_DEFAULT_THREADS);
}

static int ceil_parse_threads(const char *arg, struct ceil_opts *opts)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(arg, &end, 10);
    if (errno || end == arg || *end || n < 1 || n > CEIL_MAX_THREADS) {
        fprintf(stderr, "idlink-ceiling: --threads: expected 1..%d, got '%s'\n",
                CEIL_MAX_THREADS, arg);
        return -1;
    }
    snprintf(opts->threads, sizeof opts->threads, "%ld", n);
    return 0;
}

/* Parses the option at argv[*i] (and its value), advancing *i.
 * Returns 0 to go on, 1 when --help was printed, -1 on a bad option. */
static int ceil_parse_one(int argc, char **argv, int *i, struct ceil_opts *opts)
{
    const char *arg = argv[*i];

    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
        ceil_usage(stdout);
        return 1;
    }
    if (strcmp(arg, "--civetweb-headers") == 0) {
        opts->civetweb_headers = 1;
        return 0;
    }
    if (strcmp(arg, "--listen") != 0 && strcmp(arg, "--threads") != 0) {
        fprintf(stderr, "idlink-ceiling: unknown option '%s'\n", arg);
        return -1;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "idlink-ceiling: %s needs a value\n", arg);
        return -1;
    }
    ++*i;
    if (strcmp(arg, "--listen") == 0) {
        opts->listen = argv[*i];
        return 0;
    }
    return ceil_parse_threads(argv[*i], opts);
}

/* Returns 0 to run, 1 when --help was printed, -1 on a bad option. */
static int ceil_parse_args(int argc, char **argv, struct ceil_opts *opts)
{
    int rc = 0;

    opts->listen = CEIL_DEFAULT_LISTEN;
    snprintf(opts->threads, sizeof opts->threads, "%d", CEIL_DEFAULT_THREADS);
    opts->civetweb_headers = 0;
    for (int i = 1; i < argc && rc == 0; i++)
        rc = ceil_parse_one(argc, argv, &i, opts);
    return rc;
}

/* Reads and discards the request body, as a real handler must read it. */
static int ceil_drain_body(struct mg_connection *conn)
{
    char buf[4096];
    int n;

    while ((n = mg_read(conn, buf, sizeof buf)) > 0)
        ;
    return n; /* 0 at the end of the body, < 0 on a connection error */
}

/*
 * Sends the whole response with one write: the fastest a civetweb handler
 * can answer. civetweb's header functions (mg_send_http_ok,
 * mg_response_header_send) send every header line with its own send():
 * with TCP_NODELAY that is a segment per line, without it Nagle's algorithm
 * holds the rest of the response until the client's delayed ACK (40 ms).
 */
static int ceil_send_one_write(struct mg_connection *conn)
{
    const char *connection = mg_get_header(conn, "Connection");
    int keep = connection == NULL || mg_strcasecmp(connection, "close") != 0;
    char buf[512];
    int n;

    n = snprintf(buf, sizeof buf,
                 "HTTP/1.1 200 OK\r\n"
                 "Content-Type: application/json\r\n"
                 "Content-Length: %zu\r\n"
                 "Connection: %s\r\n"
                 "\r\n"
                 "%s",
                 sizeof ceil_body - 1, keep ? "keep-alive" : "close", ceil_body);
    if (n < 0 || (size_t)n >= sizeof buf)
        return 500;
    mg_write(conn, buf, (size_t)n);
    return 200;
}

/* The same response through civetweb's header functions. */
static int ceil_send_civetweb_headers(struct mg_connection *conn)
{
    char length[24];

    snprintf(length, sizeof length, "%zu", sizeof ceil_body - 1);
    mg_response_header_start(conn, 200);
    mg_response_header_add(conn, "Content-Type", "application/json", -1);
    mg_response_header_add(conn, "Content-Length", length, -1);
    mg_response_header_send(conn);
    mg_write(conn, ceil_body, sizeof ceil_body - 1);
    return 200;
}

/* cbdata: the struct ceil_opts of main(), read-only while serving. */
static int authorize_all(struct mg_connection *conn, void *cbdata)
{
    (void)conn;
    (void)cbdata;
    return 1;
}

static int ceil_identify(struct mg_connection *conn, void *cbdata)
{
    const struct ceil_opts *opts = cbdata;
    const struct mg_request_info *ri = mg_get_request_info(conn);

    if (strcmp(ri->request_method, "POST") != 0) {
        mg_printf(conn, "HTTP/1.1 405 Method Not Allowed\r\n"
                        "Allow: POST\r\nContent-Length: 0\r\n\r\n");
        return 405;
    }
    if (ceil_drain_body(conn) < 0)
        return 400; /* the peer went away; nothing left to answer */
    if (opts->civetweb_headers)
        return ceil_send_civetweb_headers(conn);
    return ceil_send_one_write(conn);
}

static void ceil_install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ceil_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int ceil_log_message(const struct mg_connection *conn, const char *msg)
{
    (void)conn;
    fprintf(stderr, "idlink-ceiling: %s\n", msg);
    return 1;
}

/* The civetweb options are idlinkd's (src/http.c): the same timeouts and
 * head limit, from the same definitions. */
static struct mg_context *ceil_start(struct ceil_opts *opts)
{
    const char *options[] = {
        "listening_ports", opts->listen,
        "num_threads", opts->threads,
        "enable_keep_alive", "yes",
        "keep_alive_timeout_ms", IDL_HTTP_KEEP_ALIVE_TIMEOUT_MS,
        "request_timeout_ms", IDL_HTTP_REQUEST_TIMEOUT_MS,
        "max_request_size", IDL_HTTP_MAX_HEAD_BYTES,
        "tcp_nodelay", "1",
        NULL, NULL,
    };
    struct mg_callbacks callbacks;
    struct mg_context *ctx;

    memset(&callbacks, 0, sizeof callbacks);
    callbacks.log_message = ceil_log_message;
    ctx = mg_start(&callbacks, NULL, options);
    if (ctx == NULL)
        return NULL;
    mg_set_request_handler(ctx, "/identify$", ceil_identify, opts);
    /* As idlinkd does: no per-request look for a .htpasswd file. */
    mg_set_auth_handler(ctx, "/", authorize_all, NULL);
    return ctx;
}

static void ceil_wait_for_signal(void)
{
    const struct timespec tick = {0, 50 * 1000 * 1000};

    while (!ceil_stop)
        nanosleep(&tick, NULL);
}

int main(int argc, char **argv)
{
    struct ceil_opts opts;
    struct mg_context *ctx;
    int rc = ceil_parse_args(argc, argv, &opts);

    if (rc)
        return rc > 0 ? 0 : 2;
    ceil_install_signals();
    mg_init_library(0);
    ctx = ceil_start(&opts);
    if (ctx == NULL) {
        fprintf(stderr, "idlink-ceiling: cannot listen on %s\n", opts.listen);
        mg_exit_library();
        return 1;
    }
    ceil_wait_for_signal();
    mg_stop(ctx); /* returns once every handler has finished with opts */
    mg_exit_library();
    return 0;
}

/* The metrics registry: requests by route template, method and status;
 * request latency by route; group-commit batch sizes and durations. Route
 * templates are few (the route table's and the collections'), so series
 * live in a fixed open-addressing table under one mutex; a series past its
 * room is counted under route "other" rather than growing without end. */
#include "idlink/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idlink/contact.h"
#include "json.h"

#define ROUTE_MAX 96
#define SLOTS 1024 /* request series: route x method x status */
#define ROUTES 256 /* latency series: route */

static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,   0.25,   0.5,   1,    2.5, 5};
#define N_LATENCY (sizeof(latency_bounds) / sizeof(latency_bounds[0]))
static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
#define N_BATCH (sizeof(batch_bounds) / sizeof(batch_bounds[0]))
static const double commit_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                       0.01,   0.025,   0.05,   0.1,   0.25,   1};
#define N_COMMIT (sizeof(commit_bounds) / sizeof(commit_bounds[0]))

struct request_series {
  char route[ROUTE_MAX];
  char method[16]; /* civetweb's methods, PROPPATCH the longest */
  int status;
  uint64_t count;
};

struct histogram {
  uint64_t buckets[16]; /* cumulative at render time; here per bucket */
  uint64_t count;
  double sum;
};

struct latency_series {
  char route[ROUTE_MAX];
  struct histogram h;
};

static struct {
  pthread_mutex_t lock;
  struct request_series requests[SLOTS];
  struct latency_series latency[ROUTES];
  struct histogram batch, commit;
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void observe(struct histogram *h, const double *bounds, size_t n, double v) {
  size_t i = 0;
  while (i < n && v > bounds[i])
    i++;
  h->buckets[i]++; /* i == n: only +Inf */
  h->count++;
  h->sum += v;
}

void idl_metrics_request(const char *route, const char *method, int status, double seconds) {
  char r[ROUTE_MAX], m[16];
  snprintf(r, sizeof(r), "%s", route ? route : "none");
  snprintf(m, sizeof(m), "%s", method);
  /* Hashed before the lock: FNV-1a of the route names its latency slot, and
   * mixed with the method's and the status its request slot. */
  uint64_t route_hash = idl_hash64(r, strlen(r));
  uint64_t key_hash = route_hash ^ idl_hash64(m, strlen(m)) * 31 ^
                      (uint64_t)status * 0x9E3779B97F4A7C15ULL;
  pthread_mutex_lock(&reg.lock);
  size_t at = (size_t)(key_hash % SLOTS), probes = 0;
  while (probes < SLOTS && reg.requests[at].status &&
         (reg.requests[at].status != status || strcmp(reg.requests[at].route, r) ||
          strcmp(reg.requests[at].method, m)))
    at = (at + 1) % SLOTS, probes++;
  if (probes < SLOTS) {
    struct request_series *s = &reg.requests[at];
    if (!s->status) {
      memcpy(s->route, r, sizeof(r));
      memcpy(s->method, m, sizeof(m));
      s->status = status;
    }
    s->count++;
  }
  size_t l = (size_t)(route_hash % ROUTES);
  for (probes = 0; probes < ROUTES && reg.latency[l].route[0] && strcmp(reg.latency[l].route, r);
       probes++)
    l = (l + 1) % ROUTES;
  if (probes < ROUTES) {
    if (!reg.latency[l].route[0])
      memcpy(reg.latency[l].route, r, sizeof(r));
    observe(&reg.latency[l].h, latency_bounds, N_LATENCY, seconds);
  }
  pthread_mutex_unlock(&reg.lock);
}

void idl_metrics_commit(size_t batch, double seconds) {
  pthread_mutex_lock(&reg.lock);
  observe(&reg.batch, batch_bounds, N_BATCH, (double)batch);
  observe(&reg.commit, commit_bounds, N_COMMIT, seconds);
  pthread_mutex_unlock(&reg.lock);
}

/* ------------------------------------------------------------- rendering */

static void put(struct idl_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct idl_text *t, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n > 0)
    idl_text_put(t, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* A label value as the text format wants it: \\, \" and \n escaped. */
static const char *label(const char *v, char *buf, size_t cap) {
  size_t o = 0;
  for (; *v && o + 3 < cap; v++) {
    if (*v == '\\' || *v == '"')
      buf[o++] = '\\', buf[o++] = *v;
    else if (*v == '\n')
      buf[o++] = '\\', buf[o++] = 'n';
    else
      buf[o++] = *v;
  }
  buf[o] = '\0';
  return buf;
}

static void put_histogram(struct idl_text *t, const char *name, const char *labels,
                          const struct histogram *h, const double *bounds, size_t n) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < n; i++) {
    cumulative += h->buckets[i];
    put(t, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, *labels ? "," : "", bounds[i],
        (unsigned long long)cumulative);
  }
  put(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, *labels ? "," : "",
      (unsigned long long)h->count);
  put(t, "%s_sum%s%s%s %.9g\n", name, *labels ? "{" : "", labels, *labels ? "}" : "", h->sum);
  put(t, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
      (unsigned long long)h->count);
}

static uint64_t resident_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long long pages = 0, resident = 0;
  if (f) {
    if (fscanf(f, "%llu %llu", &pages, &resident) != 2)
      resident = 0;
    fclose(f);
  }
  return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

char *idl_metrics_render(const struct idl_metrics_gauges *g, size_t *len) {
  struct idl_text t = {0};
  char a[2 * ROUTE_MAX], b[32], labels[3 * ROUTE_MAX];
  pthread_mutex_lock(&reg.lock);
  put(&t, "# HELP idlink_http_requests_total HTTP requests answered, by route template, "
          "method and status.\n# TYPE idlink_http_requests_total counter\n");
  for (size_t i = 0; i < SLOTS; i++) {
    const struct request_series *s = &reg.requests[i];
    if (s->status)
      put(&t, "idlink_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %llu\n",
          label(s->route, a, sizeof(a)), label(s->method, b, sizeof(b)), s->status,
          (unsigned long long)s->count);
  }
  put(&t, "# HELP idlink_http_request_duration_seconds Time from a request's head to its "
          "answer, by route template.\n# TYPE idlink_http_request_duration_seconds histogram\n");
  for (size_t i = 0; i < ROUTES; i++)
    if (reg.latency[i].route[0]) {
      snprintf(labels, sizeof(labels), "route=\"%s\"", label(reg.latency[i].route, a, sizeof(a)));
      put_histogram(&t, "idlink_http_request_duration_seconds", labels, &reg.latency[i].h,
                    latency_bounds, N_LATENCY);
    }
  put(&t, "# HELP idlink_writer_batch_size Requests per group commit.\n"
          "# TYPE idlink_writer_batch_size histogram\n");
  put_histogram(&t, "idlink_writer_batch_size", "", &reg.batch, batch_bounds, N_BATCH);
  put(&t, "# HELP idlink_writer_commit_duration_seconds Time of each group commit, its sync "
          "included.\n# TYPE idlink_writer_commit_duration_seconds histogram\n");
  put_histogram(&t, "idlink_writer_commit_duration_seconds", "", &reg.commit, commit_bounds,
                N_COMMIT);
  pthread_mutex_unlock(&reg.lock);

  put(&t, "# HELP idlink_contacts Contacts in the store, by state.\n"
          "# TYPE idlink_contacts gauge\n");
  put(&t, "idlink_contacts{state=\"active\"} %llu\n",
      (unsigned long long)(g->contacts - g->deleted_contacts));
  put(&t, "idlink_contacts{state=\"deleted\"} %llu\n", (unsigned long long)g->deleted_contacts);
  put(&t, "# HELP idlink_identities Identities: active primaries.\n"
          "# TYPE idlink_identities gauge\nidlink_identities %llu\n",
      (unsigned long long)g->identities);
  put(&t, "# HELP idlink_records Records of each collection.\n# TYPE idlink_records gauge\n");
  for (size_t i = 0; i < g->n_collections; i++)
    put(&t, "idlink_records{collection=\"%s\"} %llu\n", label(g->collections[i], a, sizeof(a)),
        (unsigned long long)g->records[i]);
  put(&t, "# HELP idlink_lmdb_map_bytes The LMDB map's size: the store's largest.\n"
          "# TYPE idlink_lmdb_map_bytes gauge\nidlink_lmdb_map_bytes %llu\n",
      (unsigned long long)g->map_bytes);
  put(&t, "# HELP idlink_lmdb_used_bytes Bytes of the LMDB map in use.\n"
          "# TYPE idlink_lmdb_used_bytes gauge\nidlink_lmdb_used_bytes %llu\n",
      (unsigned long long)g->used_bytes);
  put(&t, "# HELP idlink_mirror_lag_entries Change-log entries Redis does not have yet "
          "(0 without a mirror).\n# TYPE idlink_mirror_lag_entries gauge\n"
          "idlink_mirror_lag_entries %llu\n", (unsigned long long)g->mirror_lag_entries);
  put(&t, "# HELP idlink_mirror_lag_seconds Age of the oldest entry Redis does not have yet.\n"
          "# TYPE idlink_mirror_lag_seconds gauge\nidlink_mirror_lag_seconds %.6f\n",
      g->mirror_lag_seconds);
  put(&t, "# HELP idlink_mirror_enabled Whether a Redis mirror is configured.\n"
          "# TYPE idlink_mirror_enabled gauge\nidlink_mirror_enabled %d\n", g->mirrored);
  put(&t, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
          "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %llu\n",
      (unsigned long long)resident_bytes());
  if (t.failed) {
    free(t.data);
    return NULL;
  }
  *len = t.len;
  return t.data;
}

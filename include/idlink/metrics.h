/* The process's metrics for GET /metrics (SPEC section 11): counters and
 * histograms that the HTTP front end and the writer observe as they go, in
 * one process-wide registry, rendered in Prometheus' text format with the
 * gauges the caller reads at scrape time. */
#ifndef IDLINK_METRICS_H
#define IDLINK_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* A request answered: its route template (NULL: no route), method, status
 * and duration. */
void idl_metrics_request(const char *route, const char *method, int status, double seconds);

/* A group commit: the requests of its batch and how long the commit took. */
void idl_metrics_commit(size_t batch, double seconds);

/* Gauges read at scrape time. */
struct idl_metrics_gauges {
  uint64_t contacts, deleted_contacts, identities;
  const char *const *collections; /* names, n_collections of them */
  const uint64_t *records;        /* each collection's records */
  size_t n_collections;
  uint64_t map_bytes, used_bytes;
  int mirrored;
  uint64_t mirror_lag_entries;
  double mirror_lag_seconds;
};

/* The whole exposition, malloc'd (NULL without memory); *len its length. */
char *idl_metrics_render(const struct idl_metrics_gauges *g, size_t *len);

#endif

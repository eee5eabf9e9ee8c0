/* common/metrics.h — process-wide counters, gauges and latency histograms, rendered as
 * Prometheus text. Handles are created once and updated lock-free. */
#ifndef LQ_METRICS_H
#define LQ_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct lq_metric lq_metric_t;

/** Get or create. name like "llmq_ingest_requests_total"; labels like
 * "route=\"/v1/jobs\",status=\"202\"" or NULL. Returns NULL only on allocation failure. */
lq_metric_t *lq_metrics_counter(const char *name, const char *help, const char *labels);
lq_metric_t *lq_metrics_gauge(const char *name, const char *help, const char *labels);
/** Histogram of durations in seconds (buckets from 0.5 ms to 60 s). */
lq_metric_t *lq_metrics_histogram(const char *name, const char *help, const char *labels);

void lq_metric_add(lq_metric_t *m, int64_t delta);     /* counter or gauge; NULL-safe */
void lq_metric_set(lq_metric_t *m, int64_t value);     /* gauge; NULL-safe */
void lq_metric_observe_us(lq_metric_t *m, int64_t us); /* histogram; NULL-safe */

/** Prometheus text exposition; caller frees. */
char *lq_metrics_render(size_t *len);

#endif

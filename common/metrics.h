/* common/metrics.h — process-wide counters, gauges and latency histograms, rendered as
 * Prometheus text. Handles are created once and updated lock-free; they live as long as the
 * process (nothing is ever unregistered).
 *
 * Label values that come from outside (tenant ids, model names) go through a cap
 * (lq_metric_cap_t): the first N distinct values get series of their own, the others share
 * the value "other", so no client can make a process hold unbounded series. */
#ifndef LQ_METRICS_H
#define LQ_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct lq_metric lq_metric_t;

/** Get or create. name like "llmq_ingest_requests_total"; labels like
 * "route=\"/v1/jobs\",status=\"202\"" or NULL. Returns NULL on allocation failure, or when
 * name is registered already as another kind (a programming error). */
lq_metric_t *lq_metrics_counter(const char *name, const char *help, const char *labels);
lq_metric_t *lq_metrics_gauge(const char *name, const char *help, const char *labels);
/** Histogram of durations in seconds (buckets from 0.5 ms to 60 s). */
lq_metric_t *lq_metrics_histogram(const char *name, const char *help, const char *labels);

void lq_metric_add(lq_metric_t *m, int64_t delta);     /* counter or gauge; NULL-safe */
void lq_metric_set(lq_metric_t *m, int64_t value);     /* gauge; NULL-safe */
void lq_metric_observe_us(lq_metric_t *m, int64_t us); /* histogram; NULL-safe */
/** Add a real number (a cost in dollars) to a counter or gauge: the sample is then written
 * as a decimal number, the integer part from lq_metric_add plus these. NULL-safe. */
void lq_metric_add_real(lq_metric_t *m, double delta);

/** Prometheus text exposition; caller frees. */
char *lq_metrics_render(size_t *len);

/** value escaped for a label's quotes (\ " and newline) into dst; 0, or -1 when it does not
 * fit in dst_size bytes (dst then holds ""). */
int lq_metrics_label_escape(char *dst, size_t dst_size, const char *value);

/* ---- capped label values ---- */

typedef struct lq_metric_cap lq_metric_cap_t;

/** The label value lq_metric_cap_get gives every value beyond the cap. */
#define LQ_METRIC_CAP_OTHER "other"

/** Makes what a caller keeps for one label value (its metric handles): value is the raw
 * value, or LQ_METRIC_CAP_OTHER; returns a malloc'ed entry (freed by lq_metric_cap_destroy),
 * or NULL on failure. Called with the cap's lock held: it must not use the same cap. */
typedef void *(*lq_metric_cap_make_fn)(void *arg, const char *value);

/** A cap of max_values label values: the first max_values distinct values seen get an entry
 * of their own, made by make(arg, value) the first time; every later value shares the entry
 * of LQ_METRIC_CAP_OTHER. arg is borrowed for the cap's life. NULL on allocation failure. */
lq_metric_cap_t *lq_metric_cap_create(size_t max_values, lq_metric_cap_make_fn make, void *arg);
/** Frees the entries (the metrics themselves stay registered). NULL-safe. */
void lq_metric_cap_destroy(lq_metric_cap_t *c);
/** The entry of value (of LQ_METRIC_CAP_OTHER beyond the cap). Thread-safe: a value seen
 * before costs one hash lookup under a read lock. NULL when c is NULL or on allocation
 * failure. */
void *lq_metric_cap_get(lq_metric_cap_t *c, const char *value);
/** The values that have an entry of their own (at most max_values). */
size_t lq_metric_cap_count(lq_metric_cap_t *c);

/** The common case: counters name{label="<value>"} (one per value), or with variants, one
 * per variant: name{label="<value>",<variants[i]>} for i < n_variants (e.g. {
 * "direction=\"prompt\"", "direction=\"completion\""}; variants are copied). Entries are the
 * arrays of handles lq_metrics_capped_get returns. NULL on allocation failure. */
lq_metric_cap_t *lq_metrics_capped_counters(const char *name, const char *help, const char *label,
                                            const char *const *variants, size_t n_variants,
                                            size_t max_values);
/** value's counters: an array of max(n_variants, 1) handles, valid for the cap's life; NULL
 * when c is NULL or on allocation failure. */
lq_metric_t *const *lq_metrics_capped_get(lq_metric_cap_t *c, const char *value);

#endif

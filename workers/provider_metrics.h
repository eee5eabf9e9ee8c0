/* workers/provider_metrics.h — the worker's metrics of provider calls, per endpoint and
 * model: calls by outcome, errors by kind, call latency, time to the first streamed token,
 * tokens and cost; the circuit breakers' state; tokens per tenant (docs/observability.md).
 *
 * A job looks its (endpoint, model) series up once per attempt (one hash lookup in the
 * endpoint's cap of metrics.max_models models) and keeps them in j->pm; every update after
 * that is an atomic add. Models beyond the cap share model="other", tenants beyond
 * metrics.max_tenants share tenant="other". Called on the event loop's thread only. */
#ifndef LQ_WORKER_PROVIDER_METRICS_H
#define LQ_WORKER_PROVIDER_METRICS_H

#include "workers/worker_internal.h"

/** Register the per-endpoint and per-tenant metrics; 0, or -1 with errstr. */
int provider_metrics_init(worker_t *w, char *errstr, size_t errstr_size);
void provider_metrics_free(worker_t *w); /* NULL-safe parts */

/** An attempt on candidate c starts: j->pm is its endpoint's and model's series. */
void provider_metrics_attempt(worker_t *w, job_t *j, const route_candidate_t *c);
/** The attempt ended (j->result says how) after spent_us. */
void provider_metrics_call(job_t *j, int64_t spent_us);
/** The attempt under way was cancelled with its job. */
void provider_metrics_cancelled(job_t *j);
/** The provider's first streamed text for j (counted once per job). */
void provider_metrics_first_token(job_t *j);
/** j's tokens (from j->result) and its cost in dollars when has_cost, at its end. */
void provider_metrics_usage(worker_t *w, const job_t *j, double cost_usd, int has_cost);
/** The breakers' state gauges, as of now_ms (an open breaker whose time is up is half-open
 * without a call to say so). */
void provider_metrics_tick(worker_t *w, int64_t now_ms);

/** The kind of a failed call for llmq_worker_provider_errors_total: rate_limited, timeout,
 * server_error, auth, bad_request, ... (a constant string). */
const char *provider_error_kind(const worker_result_t *r);

#endif

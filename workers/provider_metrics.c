/* The worker's metrics of provider calls, per endpoint and model, and of tokens per tenant. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "workers/provider_metrics.h"

#define CALLS       "llmq_worker_provider_calls_total"
#define ERRORS      "llmq_worker_provider_errors_total"
#define LABELS_SIZE 640 /* endpoint="…",model="…" escaped: 2 × (2 × 160) and the rest */

typedef enum call_outcome { OUTCOME_OK, OUTCOME_ERROR, OUTCOME_CANCELLED, OUTCOME_COUNT } outcome_t;
static const char *const outcome_names[OUTCOME_COUNT] = {"ok", "error", "cancelled"};

/* A failed call's kind, from the worker's error classification (workers/provider_errors.c):
 * the first row whose type and code (NULL = any) match. */
typedef struct error_kind {
    const char *type, *code, *kind;
} error_kind_t;

static const error_kind_t error_kinds[] = {
    {NULL, "provider_timeout", "timeout"},
    {NULL, "provider_unreachable", "unreachable"},
    {NULL, "provider_overloaded", "overloaded"},
    {NULL, "insufficient_credits", "billing"},
    {NULL, "content_filter", "content_filter"},
    {NULL, "bad_provider_response", "bad_response"},
    {NULL, "stream_interrupted", "stream_interrupted"},
    {NULL, "response_too_large", "too_large"},
    {NULL, "provider_key_unavailable", "key_unavailable"},
    {"rate_limit_error", NULL, "rate_limited"},
    {"provider_auth_error", NULL, "auth"},
    {"invalid_request_error", NULL, "bad_request"},
    {"server_error", NULL, "internal"}, /* llmq's own: out of memory, a request not built */
};
#define N_ROWS            (sizeof(error_kinds) / sizeof(error_kinds[0]))
#define KIND_SERVER_ERROR N_ROWS       /* another retriable provider failure: 5xx, in-band */
#define KIND_OTHER        (N_ROWS + 1) /* another refusal: an unexpected 4xx */
#define N_KINDS           (N_ROWS + 2)

/* The series of one endpoint and model. */
struct provider_series {
    lq_metric_t *calls[OUTCOME_COUNT];
    lq_metric_t *errors[N_KINDS]; /* made at a kind's first error */
    lq_metric_t *duration, *first_token, *tokens[2], *cost;
    char labels[LABELS_SIZE]; /* endpoint="…",model="…" */
};

/* One endpoint's: its models' series under a cap, its breaker's state. */
struct provider_endpoint_metrics {
    char name[200]; /* escaped for a label */
    lq_metric_cap_t *models;
    lq_metric_t *breaker_state;
};

static size_t kind_index(const worker_result_t *r)
{
    size_t i;

    for (i = 0; i < N_ROWS; i++) {
        const error_kind_t *k = &error_kinds[i];
        if ((!k->type || (r->err_type && strcmp(k->type, r->err_type) == 0)) &&
            (!k->code || (r->err_code && strcmp(k->code, r->err_code) == 0)))
            return i;
    }
    return r->retriable ? KIND_SERVER_ERROR : KIND_OTHER;
}

const char *provider_error_kind(const worker_result_t *r)
{
    size_t i = kind_index(r);

    if (i < N_ROWS)
        return error_kinds[i].kind;
    return i == KIND_SERVER_ERROR ? "server_error" : "other";
}

/* base plus name="value" into out[LABELS_SIZE + 64]. */
static void with_label(char *out, size_t size, const char *base, const char *name,
                       const char *value)
{
    int n = snprintf(out, size, "%s,%s=\"%s\"", base, name, value);

    if (n < 0 || (size_t)n >= size)
        out[0] = '\0'; /* cannot happen with our names; a series without them would mislead */
}

/* The series of model at the endpoint arg (lq_metric_cap_make_fn). */
static void *series_make(void *arg, const char *model)
{
    const struct provider_endpoint_metrics *e = arg;
    struct provider_series *s = calloc(1, sizeof(*s));
    char escaped[2 * 160 + 8], labels[LABELS_SIZE + 64];
    size_t i;
    int n;

    if (!s || lq_metrics_label_escape(escaped, sizeof(escaped), model))
        goto fail;
    n = snprintf(s->labels, sizeof(s->labels), "endpoint=\"%s\",model=\"%s\"", e->name, escaped);
    if (n < 0 || (size_t)n >= sizeof(s->labels))
        goto fail;
    for (i = 0; i < OUTCOME_COUNT; i++) {
        with_label(labels, sizeof(labels), s->labels, "outcome", outcome_names[i]);
        s->calls[i] = lq_metrics_counter(CALLS, "provider calls (attempts) by outcome", labels);
    }
    s->duration = lq_metrics_histogram("llmq_worker_provider_duration_seconds",
                                       "time of one provider call", s->labels);
    s->first_token =
        lq_metrics_histogram("llmq_worker_provider_first_token_seconds",
                             "streamed calls: from the call's start to its first text", s->labels);
    with_label(labels, sizeof(labels), s->labels, "direction", "prompt");
    s->tokens[0] = lq_metrics_counter("llmq_worker_provider_tokens_total",
                                      "tokens of finished jobs, by direction", labels);
    with_label(labels, sizeof(labels), s->labels, "direction", "completion");
    s->tokens[1] = lq_metrics_counter("llmq_worker_provider_tokens_total",
                                      "tokens of finished jobs, by direction", labels);
    s->cost =
        lq_metrics_counter("llmq_worker_provider_cost_usd_total",
                           "cost of finished jobs in US dollars, from the price table", s->labels);
    return s;
fail:
    free(s);
    return NULL;
}

/* Endpoint i's metrics: its breaker's gauge and counter, its models' cap. */
static int endpoint_init(worker_t *w, size_t i)
{
    struct provider_endpoint_metrics *e = &w->pem[i];
    char labels[sizeof(e->name) + 16];

    if (lq_metrics_label_escape(e->name, sizeof(e->name), worker_endpoint_name(w, (int)i)))
        return -1;
    snprintf(labels, sizeof(labels), "endpoint=\"%s\"", e->name);
    e->breaker_state = lq_metrics_gauge("llmq_worker_breaker_state",
                                        "circuit breaker: 0 closed, 1 half-open, 2 open", labels);
    w->m_breaker_open[i] = lq_metrics_counter("llmq_worker_breaker_opened_total",
                                              "times an endpoint's circuit breaker opened", labels);
    e->models = lq_metric_cap_create((size_t)w->set.metrics.max_models, series_make, e);
    return e->models ? 0 : -1;
}

int provider_metrics_init(worker_t *w, char *errstr, size_t errstr_size)
{
    static const char *const directions[] = {"direction=\"prompt\"", "direction=\"completion\""};
    size_t n = routing_endpoint_count(w->routing), i;

    w->n_pem = n;
    w->pem = calloc(n ? n : 1, sizeof(*w->pem));
    w->m_breaker_open = calloc(n ? n : 1, sizeof(*w->m_breaker_open));
    w->m_tenant_tokens = lq_metrics_capped_counters(
        "llmq_worker_tenant_tokens_total", "tokens of finished jobs by tenant and direction",
        "tenant", directions, 2, (size_t)w->set.common.metrics.max_tenants);
    if (!w->pem || !w->m_breaker_open || !w->m_tenant_tokens)
        goto fail;
    for (i = 0; i < n; i++)
        if (endpoint_init(w, i))
            goto fail;
    return 0;
fail:
    snprintf(errstr, errstr_size, "provider metrics: out of memory (or an endpoint name too long)");
    return -1;
}

void provider_metrics_free(worker_t *w)
{
    size_t i;

    for (i = 0; w->pem && i < w->n_pem; i++)
        lq_metric_cap_destroy(w->pem[i].models);
    free(w->pem);
    w->pem = NULL;
    free(w->m_breaker_open);
    w->m_breaker_open = NULL;
    lq_metric_cap_destroy(w->m_tenant_tokens);
    w->m_tenant_tokens = NULL;
}

void provider_metrics_attempt(worker_t *w, job_t *j, const route_candidate_t *c)
{
    j->pm = c->endpoint >= 0 && (size_t)c->endpoint < w->n_pem
                ? lq_metric_cap_get(w->pem[c->endpoint].models, c->model)
                : NULL;
}

void provider_metrics_call(job_t *j, int64_t spent_us)
{
    struct provider_series *s = j->pm;
    const worker_result_t *r = &j->result;
    char labels[LABELS_SIZE + 64];
    size_t k;

    if (!s)
        return;
    lq_metric_observe_us(s->duration, spent_us);
    if (r->ok) {
        lq_metric_add(s->calls[OUTCOME_OK], 1);
        return;
    }
    if (r->err_type && strcmp(r->err_type, "cancelled") == 0) {
        lq_metric_add(s->calls[OUTCOME_CANCELLED], 1);
        return;
    }
    lq_metric_add(s->calls[OUTCOME_ERROR], 1);
    k = kind_index(r);
    if (!s->errors[k]) {
        with_label(labels, sizeof(labels), s->labels, "kind", provider_error_kind(r));
        s->errors[k] = lq_metrics_counter(ERRORS, "failed provider calls by kind", labels);
    }
    lq_metric_add(s->errors[k], 1);
}

void provider_metrics_cancelled(job_t *j)
{
    if (j->pm)
        lq_metric_add(j->pm->calls[OUTCOME_CANCELLED], 1);
}

void provider_metrics_first_token(job_t *j)
{
    if (j->first_token_seen || !j->pm)
        return;
    j->first_token_seen = 1;
    lq_metric_observe_us(j->pm->first_token, lq_mono_us() - j->attempt_start_us);
}

void provider_metrics_usage(worker_t *w, const job_t *j, double cost_usd, int has_cost)
{
    int64_t prompt = j->result.prompt_tokens > 0 ? j->result.prompt_tokens : 0;
    int64_t completion = j->result.completion_tokens > 0 ? j->result.completion_tokens : 0;
    lq_metric_t *const *t;

    if (j->pm) {
        lq_metric_add(j->pm->tokens[0], prompt);
        lq_metric_add(j->pm->tokens[1], completion);
        if (has_cost && cost_usd > 0)
            lq_metric_add_real(j->pm->cost, cost_usd);
    }
    if (!(prompt || completion) || !j->req.tenant_id || !*j->req.tenant_id)
        return;
    t = lq_metrics_capped_get(w->m_tenant_tokens, j->req.tenant_id);
    if (t) {
        lq_metric_add(t[0], prompt);
        lq_metric_add(t[1], completion);
    }
}

void provider_metrics_tick(worker_t *w, int64_t now_ms)
{
    size_t i;

    for (i = 0; i < w->n_pem; i++) {
        breaker_state_t s = breaker_state(&w->breakers[i], now_ms);
        lq_metric_set(w->pem[i].breaker_state, s == BREAKER_CLOSED ? 0 : s == BREAKER_OPEN ? 2 : 1);
    }
}

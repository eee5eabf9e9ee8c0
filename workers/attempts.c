/* A job's attempts: candidates, breakers, calls, retries with back-off, fallbacks. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "workers/attempts.h"
#include "workers/mock_call.h"
#include "workers/host_slots.h"
#include "workers/http_call.h"
#include "workers/provider_metrics.h"
#include "workers/publish.h"
#include "workers/timers.h"
#include "workers/tracing.h"

/* called: the record is of the call just made (its span is the attempt's); 0: a candidate
 * skipped without a call */
static void history_add(job_t *j, int called, int ep, const char *model, int64_t start_ms,
                        int32_t duration_ms, int status, const char *outcome)
{
    attempt_rec_t *h;
    size_t n;

    if (j->n_hist >= MAX_HISTORY)
        return;
    if (j->n_hist == j->cap_hist) { /* most jobs make one attempt */
        int cap = j->cap_hist ? 2 * j->cap_hist : 1;
        attempt_rec_t *grown = realloc(j->hist, (size_t)cap * sizeof(*grown));
        if (!grown)
            return; /* the record is left out of the trace, as past MAX_HISTORY */
        j->hist = grown;
        j->cap_hist = cap;
    }
    h = &j->hist[j->n_hist++];
    h->endpoint = ep;
    n = strnlen(model, sizeof(h->model) - 1);
    memmove(h->model, model, n);
    h->model[n] = '\0';
    h->start_ms = start_ms;
    h->duration_ms = duration_ms;
    h->http_status = status;
    snprintf(h->outcome, sizeof(h->outcome), "%s", outcome);
    h->start_us = h->end_us = 0; /* 0: no call was made */
    if (called) {
        memcpy(h->span_id, j->attempt_span, sizeof(h->span_id));
        h->start_us = lq_cluster_us_at(j->attempt_start_us);
        h->end_us = lq_cluster_us();
    }
}

/* Move j on to its next candidate. */
static void next_candidate(job_t *j)
{
    j->cand++;
    j->cand_attempts = 0;
    if (j->cand < j->dec->n)
        j->fallbacks++;
}

/* The next candidate whose breaker lets a call through; 0 when none is left. */
static int pick_candidate(worker_t *w, job_t *j)
{
    int64_t now = lq_mono_ms();

    while (j->cand < j->dec->n) {
        int ep = j->dec->candidates[j->cand].endpoint;
        if (breaker_allow(&w->breakers[ep], now))
            return 1;
        history_add(j, 0, ep, j->dec->candidates[j->cand].model, lq_cluster_ms(), 0, 503,
                    "breaker_open");
        next_candidate(j);
    }
    return 0;
}

/* Where candidate c goes: the endpoint's next key, or the tenant's own key for it (copied
 * into tenant_key); 0, or -1 with j->result set when the tenant's key cannot be used. */
static int fill_target(worker_t *w, job_t *j, const route_candidate_t *c, worker_target_t *target,
                       char *tenant_key, size_t key_size)
{
    const route_endpoint_t *ep = routing_endpoint(w->routing, c->endpoint);
    char msg[300];

    memset(target, 0, sizeof(*target));
    target->wire = ep->wire;
    target->base_url = ep->base_url;
    target->api_key = ep->n_keys ? ep->keys[w->key_next[c->endpoint]++ % ep->n_keys] : "";
    j->tenant_key = worker_byok_get(w->byok, j->req.tenant_id, ep->name, tenant_key, key_size);
    if (j->tenant_key < 0) {
        snprintf(msg, sizeof(msg),
                 "This tenant's own key for %s cannot be used (it does not "
                 "decrypt on this worker); an operator must check the master key.",
                 ep->name);
        worker_result_fail(&j->result, "provider_error", "provider_key_unavailable", msg, 502, 0);
        return -1;
    }
    if (j->tenant_key)
        target->api_key = tenant_key; /* the tenant's own key for this provider */
    target->model = c->model;
    target->headers = (const char *const *)ep->headers;
    target->n_headers = ep->n_headers;
    target->default_max_tokens = ep->default_max_tokens;
    return 0;
}

/* An HTTP call to candidate c; 0, or -1 with j->result set when it cannot start. */
static int http_attempt(worker_t *w, job_t *j, const route_candidate_t *c)
{
    worker_target_t target;
    char tenant_key[600];
    int rc = fill_target(w, j, c, &target, tenant_key, sizeof(tenant_key));

    if (rc == 0 && http_call_start(w, j, &target)) {
        worker_result_fail(&j->result, "server_error", NULL, "cannot build the provider request",
                           500, 0);
        rc = -1;
    }
    OPENSSL_cleanse(tenant_key, sizeof(tenant_key));
    return rc;
}

/* Every candidate's breaker is open: the job fails at once. */
static void no_candidate(worker_t *w, job_t *j)
{
    char msg[600];

    snprintf(msg, sizeof(msg),
             "No provider can take the request now: the circuit breaker of "
             "every candidate (%s) is open.",
             j->route);
    worker_result_fail(&j->result, "provider_error", "provider_unavailable", msg, 503, 1);
    publish_finish(w, j);
}

void attempt_start(worker_t *w, job_t *j)
{
    const route_candidate_t *c;
    int over;

    worker_result_clear(&j->result);
    if (!pick_candidate(w, j)) {
        no_candidate(w, j);
        return;
    }
    c = &j->dec->candidates[j->cand];
    j->endpoint = c->endpoint;
    if (!j->first_attempt_ms) /* the provider span: from here, a wait for a connection too */
        j->first_attempt_ms = lq_cluster_ms();
    if (!host_slots_take(w, j, c->endpoint)) {
        /* its host's calls are at provider.max_host_connections: it waits its turn, and a
         * half-open breaker's test call goes to whichever job calls first */
        breaker_unallow(&w->breakers[c->endpoint]);
        return;
    }
    provider_metrics_attempt(w, j, c);
    j->attempts++;
    j->cand_attempts++;
    j->attempt_start_us = lq_mono_us();
    worker_tracing_attempt(j);
    if (routing_endpoint(w->routing, c->endpoint)->is_mock)
        over = mock_call_start(w, j);
    else
        over = http_attempt(w, j, c) != 0;
    if (over) {
        host_slots_release(w, j); /* a call that never started */
        attempt_done(w, j);
    }
}

/* ---- after a call ---- */

static int64_t backoff_us(int attempt, int64_t retry_after_ms)
{
    int64_t cap = 200000LL << (attempt < 6 ? attempt : 6); /* 0.2 s, 0.4 s, ... 12.8 s */
    uint64_t r = 0;
    int64_t wait;

    if (lq_random_bytes(&r, sizeof(r)) != LQ_OK)
        r = (uint64_t)lq_mono_us();
    wait = (int64_t)(r % (uint64_t)cap); /* full jitter */
    if (retry_after_ms > 0 && retry_after_ms * 1000 > wait)
        wait = retry_after_ms * 1000;
    return wait > 30000000 ? 30000000 : wait;
}

/* Errors another provider may not have: the next candidate is worth a try. */
static int worth_fallback(const worker_result_t *r)
{
    if (r->retriable)
        return 1;
    return r->err_type && (strcmp(r->err_type, "provider_auth_error") == 0 ||
                           (r->err_code && strcmp(r->err_code, "insufficient_credits") == 0));
}

/* The call took spent_us: its latency, its history record. */
static void record_attempt(job_t *j, const route_candidate_t *c, int64_t spent_us)
{
    const worker_result_t *r = &j->result;

    j->provider_us += spent_us;
    provider_metrics_call(j, spent_us);
    history_add(j, 1, c->endpoint, c->model, lq_cluster_ms() - spent_us / 1000,
                (int32_t)(spent_us / 1000), r->ok ? 0 : r->http_status,
                r->ok         ? "ok"
                : r->err_code ? r->err_code
                              : r->err_type);
}

/* The breaker counts what says the endpoint is unwell: 5xx, 429, timeouts, resets. */
static void breaker_note(worker_t *w, const job_t *j, int ep, int64_t now_ms)
{
    breaker_t *b = &w->breakers[ep];
    int was_open = b->state == BREAKER_OPEN;

    breaker_record(b, j->result.ok || !j->result.retriable, now_ms);
    if (!was_open && b->state == BREAKER_OPEN) {
        lq_metric_add(w->m_breaker_open[ep], 1);
        LQ_WARN("circuit breaker of endpoint %s opened (%d consecutive failures)",
                worker_endpoint_name(w, ep), b->threshold);
    }
}

/* Another attempt on the same candidate after a back-off; 1 when one is set. */
static int retry_later(worker_t *w, job_t *j, int ep, int64_t now_ms)
{
    if (!j->result.retriable || j->cand_attempts >= w->max_attempts ||
        breaker_state(&w->breakers[ep], now_ms) != BREAKER_CLOSED)
        return 0;
    lq_metric_add(w->m_retries, 1);
    LQ_DEBUG("job %s: attempt %d failed (%s); retrying", j->req.job_id, j->attempts,
             j->result.err_message);
    return timer_add(w, j, T_RETRY,
                     lq_mono_us() + backoff_us(j->cand_attempts, j->result.retry_after_ms)) ==
           LQ_OK;
}

/* The next candidate, now; 1 when there is one worth trying. */
static int fall_back(worker_t *w, job_t *j, int ep)
{
    if (!worth_fallback(&j->result) || j->cand + 1 >= j->dec->n)
        return 0;
    LQ_DEBUG("job %s: %s failed (%s); falling back", j->req.job_id, worker_endpoint_name(w, ep),
             j->result.err_message);
    next_candidate(j);
    lq_metric_add(w->m_fallbacks, 1);
    attempt_start(w, j);
    return 1;
}

void attempt_done(worker_t *w, job_t *j)
{
    int64_t spent = lq_mono_us() - j->attempt_start_us;
    const route_candidate_t *c = &j->dec->candidates[j->cand];
    int64_t now_ms = lq_mono_ms();
    int streamed = j->stream ? worker_stream_emitted(j->stream) > 0 : j->mock_pos > 0;

    record_attempt(j, c, spent);
    breaker_note(w, j, c->endpoint, now_ms);
    if (j->result.ok || j->cancelled || streamed) {
        if (!j->result.ok && streamed && j->result.retriable)
            j->result.retriable = 0; /* the client has part of an answer: not replayable */
        publish_finish(w, j);
        return;
    }
    if (retry_later(w, j, c->endpoint, now_ms) || fall_back(w, j, c->endpoint))
        return;
    publish_finish(w, j);
}

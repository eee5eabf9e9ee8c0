/* The job's limits between the fair queue and its first attempt. See workers/limits_gate.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "workers/job.h"
#include "workers/limits_gate.h"
#include "workers/publish.h"
#include "workers/queueing.h"
#include "workers/result.h"

#define HOLD_MAX_MS     30000 /* a paced tenant is looked at again at least this often */
#define LIMITS_SEEN_MAX 4096  /* distinct limits texts kept parsed */

static void forget_limits(worker_t *w);

lq_err_t limits_gate_init(worker_t *w, char *errstr, size_t errstr_size)
{
    const lq_common_settings_t *set = &w->set.common;
    lq_limiter_options_t o = {set->pg.url, w->id, set->limits.lease_ms, set->limits.slot_lease_ms};

    pthread_mutex_init(&w->gate_mu, NULL);
    w->gate_mu_init = 1;
    w->m_paced = lq_metrics_counter("llmq_worker_paced_total",
                                    "async jobs held back until their rate limit allows", NULL);
    w->m_limit_failed = lq_metrics_counter("llmq_worker_limit_refused_total",
                                           "jobs failed by a limit (budget or token rate)", NULL);
    if (!set->limits.enforce)
        return LQ_OK;
    return lq_limiter_create(&w->limiter, &o, errstr, errstr_size);
}

void limits_gate_free(worker_t *w)
{
    gate_decision_t *d;

    if (!w->gate_mu_init)
        return;
    lq_limiter_destroy(w->limiter); /* what still waits is decided into gate_done */
    w->limiter = NULL;
    forget_limits(w);
    while ((d = w->gate_done)) {
        w->gate_done = d->next;
        d->job->generation = UINT64_MAX; /* not done: left for redelivery */
        job_release(d->job);
        free(d);
    }
    pthread_mutex_destroy(&w->gate_mu);
    w->gate_mu_init = 0;
}

/* ---------- what a job asks ---------- */

static void free_entry(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

static void forget_limits(worker_t *w)
{
    if (w->limits_seen)
        lq_hashmap_foreach(w->limits_seen, free_entry, NULL);
    lq_hashmap_destroy(w->limits_seen);
    w->limits_seen = NULL;
}

/* The job's limits, parsed once per distinct text (the jobs of one key carry the same). */
static const lq_limits_t *limits_of(worker_t *w, const char *text)
{
    lq_limits_t *l = w->limits_seen ? lq_hashmap_get(w->limits_seen, text) : NULL;
    char err[200];

    if (l)
        return l;
    if (w->limits_seen && lq_hashmap_size(w->limits_seen) >= LIMITS_SEEN_MAX)
        forget_limits(w);
    if (!w->limits_seen && !(w->limits_seen = lq_hashmap_create(256)))
        return NULL;
    if (!(l = malloc(sizeof(*l))))
        return NULL;
    if (lq_limits_parse(text, l, err, sizeof(err))) {
        LQ_WARN("a job's limits are not readable (%s): its jobs run without them", err);
        lq_limits_unlimited(l);
    }
    if (lq_hashmap_put(w->limits_seen, text, l)) {
        free(l);
        return NULL;
    }
    return l;
}

int64_t limits_gate_tokens(const worker_t *w, const lq_chat_request_t *r, int64_t *prompt)
{
    size_t bytes = r->extra_json ? strlen(r->extra_json) : 0, i;
    int64_t completion = r->has_max_tokens && r->max_tokens > 0
                             ? r->max_tokens
                             : (int64_t)w->set.common.limits.default_max_tokens;

    for (i = 0; i < r->n_messages; i++)
        bytes += (r->messages[i].content ? strlen(r->messages[i].content) : 0) +
                 (r->messages[i].content_json ? strlen(r->messages[i].content_json) : 0);
    /* an upper estimate: tokenizers average about four bytes of text a token */
    *prompt = (int64_t)(bytes / 3) + 4 * (int64_t)r->n_messages + 3;
    return *prompt + completion;
}

/* The model j will be priced as (publish.c prices the same way). */
static const char *priced_model(const worker_t *w, const job_t *j)
{
    if (!j->dec->n)
        return j->req.model;
    if (routing_endpoint(w->routing, j->dec->candidates[0].endpoint)->is_mock)
        return "mock";
    return j->dec->candidates[0].model;
}

static int fill_ask(const worker_t *w, const job_t *j, const lq_limits_t *l, lq_limit_ask_t *a)
{
    int64_t prompt, tokens = limits_gate_tokens(w, &j->req, &prompt);
    double usd = 0;

    memset(a, 0, sizeof(*a));
    a->limits = l;
    a->ids[LQ_SCOPE_TENANT] = j->req.tenant_id;
    a->ids[LQ_SCOPE_PROJECT] = j->req.project_id;
    a->ids[LQ_SCOPE_USER] = j->req.user_id;
    a->ids[LQ_SCOPE_KEY] = j->req.api_key_id;
    a->amount[LQ_UNIT_REQ] = j->req.mode == LQ_MODE_ASYNC; /* sync ones were counted at ingest */
    a->amount[LQ_UNIT_TOK] = tokens;
    if (pricing_cost(w->pricing, priced_model(w, j), prompt, tokens - prompt, &usd))
        a->amount[LQ_UNIT_USD] = (int64_t)ceil(usd * LQ_MICRO_USD);
    return lq_limit_ask_limited(a);
}

/* ---------- refusals ---------- */

static void fail_job(worker_t *w, job_t *j, const lq_limit_verdict_t *v)
{
    char msg[400], base[300];
    const char *type, *code;
    int64_t prompt, need = limits_gate_tokens(w, &j->req, &prompt);

    lq_limit_refusal(v, base, sizeof(base), &type, &code);
    if (v->retry_after_ms < 0)
        snprintf(msg, sizeof(msg), "%s This request reserves up to %lld tokens.", base,
                 (long long)need);
    else
        snprintf(msg, sizeof(msg), "%s Please try again in %llds.", base,
                 (long long)((v->retry_after_ms + 999) / 1000));
    lq_metric_add(w->m_limit_failed, 1);
    worker_result_fail(&j->result, type, code, msg, 429, 0);
    publish_finish(w, j);
}

/* An async job over a rate: back to the head of its tenant's queue, the tenant held until the
 * rate allows (0), or -1 when it cannot be queued again. */
static int hold(worker_t *w, job_t *j, int64_t retry_ms)
{
    int64_t wait = retry_ms < 1 ? 1 : retry_ms > HOLD_MAX_MS ? HOLD_MAX_MS : retry_ms;

    if (worker_fairq_push_front(w->fairq, j->req.tenant_id, j, &j->queued))
        return -1;
    if (worker_fairq_hold(w->fairq, j->req.tenant_id, lq_mono_ms() + wait)) {
        worker_fairq_remove(w->fairq, j->queued);
        j->queued = NULL;
        return -1;
    }
    queueing_count_in(w, j);
    lq_metric_add(w->m_paced, 1);
    return 0;
}

static gate_verdict_t refused(worker_t *w, job_t *j, const lq_limit_verdict_t *v)
{
    if (j->slot) { /* taken while the ledger decided */
        j->slot = 0;
        w->inflight--;
        lq_metric_set(w->m_inflight, (int64_t)w->inflight);
    }
    if (v->outcome == LQ_LIMIT_RATE && j->req.mode == LQ_MODE_ASYNC && v->retry_after_ms >= 0 &&
        hold(w, j, v->retry_after_ms) == 0)
        return GATE_HELD;
    fail_job(w, j, v);
    return GATE_FAILED;
}

/* ---------- the ledger's decisions ---------- */

/* On the limiter's thread: hand the decision to the worker's loop. */
static void decided(void *arg, const lq_limit_verdict_t *v)
{
    job_t *j = arg;
    worker_t *w = j->w;
    gate_decision_t *d = malloc(sizeof(*d));
    ssize_t n;

    if (!d) { /* cannot keep it: the job waits for its redelivery */
        LQ_ERROR("job %s: out of memory for its limits decision", j->req.job_id);
        return;
    }
    d->job = j;
    d->v = *v;
    pthread_mutex_lock(&w->gate_mu);
    d->next = w->gate_done;
    w->gate_done = d;
    pthread_mutex_unlock(&w->gate_mu);
    n = write(w->wake_fds[1], "l", 1);
    (void)n;
}

gate_verdict_t limits_gate_pass(worker_t *w, job_t *j)
{
    const lq_limits_t *l;
    lq_limit_ask_t a;
    lq_limit_verdict_t v;

    if (!w->limiter || !j->req.limits || !j->req.limits[0])
        return GATE_GO;
    if (!(l = limits_of(w, j->req.limits)) || !fill_ask(w, j, l, &a))
        return GATE_GO;
    switch (lq_limiter_take(w->limiter, &a, &v, decided, j)) {
    case LQ_LIMIT_ADMIT:
        j->ticket = v.ticket;
        j->gate = 2;
        return GATE_GO;
    case LQ_LIMIT_PENDING:
        j->gate = 1;
        j->pending++; /* the decision holds it */
        job_take_slot(j);
        return GATE_WAIT;
    default:
        return refused(w, j, &v);
    }
}

void limits_gate_drain(worker_t *w)
{
    gate_decision_t *list, *rev = NULL, *d;

    if (!w->gate_mu_init)
        return;
    pthread_mutex_lock(&w->gate_mu);
    list = w->gate_done;
    w->gate_done = NULL;
    pthread_mutex_unlock(&w->gate_mu);
    while (list) { /* in the order decided */
        d = list;
        list = d->next;
        d->next = rev;
        rev = d;
    }
    while ((d = rev)) {
        job_t *j = d->job;
        rev = d->next;
        if (d->v.outcome == LQ_LIMIT_ADMIT) {
            j->ticket = d->v.ticket;
            j->gate = 2;
            if (j->finished) /* cancelled meanwhile */
                lq_limiter_settle(w->limiter, &j->ticket, 0, 0);
            else
                queueing_start(w, j);
        } else if (!j->finished) {
            j->gate = 0;
            refused(w, j, &d->v);
        }
        job_release(j); /* the decision's hold */
        free(d);
    }
}

int64_t limits_gate_wait_ms(worker_t *w)
{
    int64_t next = worker_fairq_release_due(w->fairq, lq_mono_ms());

    return next < 0 ? -1 : next - lq_mono_ms() > 0 ? next - lq_mono_ms() : 0;
}

void limits_gate_settle(worker_t *w, job_t *j, int64_t tokens, int64_t usd_micro)
{
    if (j->gate != 2 || !w->limiter)
        return;
    j->gate = 3; /* settled */
    lq_limiter_settle(w->limiter, &j->ticket, tokens, usd_micro);
}

/* Queueing: a decoded request waits in its tenant's queue for a slot; over its tenant's bound
 * it is set aside to the deferred topic and read back later (no head-of-line blocking). */
#include <stdio.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/log.h"
#include "schemas/codec.h"
#include "workers/attempts.h"
#include "workers/batches.h"
#include "workers/cancels.h"
#include "workers/job.h"
#include "workers/limits_gate.h"
#include "workers/partitions.h"
#include "workers/produce.h"
#include "workers/publish.h"
#include "workers/queueing.h"
#include "workers/tracing.h"

lq_err_t queueing_init(worker_t *w, char *errstr, size_t errstr_size)
{
    w->fairq = worker_fairq_create((size_t)w->set.worker.tenant_queue_max,
                                   (size_t)w->set.worker.max_queued);
    if (!w->fairq) {
        snprintf(errstr, errstr_size, "out of memory");
        return LQ_ERR_NOMEM;
    }
    w->m_queued = lq_metrics_gauge("llmq_worker_queued_jobs",
                                   "requests waiting in the fair queue for a slot", NULL);
    w->m_deferred = lq_metrics_counter("llmq_worker_deferred_total",
                                       "requests set aside to the deferred topic", NULL);
    w->m_queue_wait = lq_metrics_histogram("llmq_worker_queue_wait_seconds",
                                           "time from reading a request to its start", NULL);
    return LQ_OK;
}

static void set_queued_gauge(worker_t *w)
{
    lq_metric_set(w->m_queued, (int64_t)w->queued);
}

void queueing_count_in(worker_t *w, const job_t *j)
{
    w->queued++;
    if (j->req.batch_id)
        w->batch_queued++;
}

void queueing_count_out(worker_t *w, const job_t *j)
{
    w->queued--;
    if (j->req.batch_id)
        w->batch_queued--;
}

/* Fail j before any attempt (no route; cancelled before it came). */
static void fail_at_start(worker_t *w, job_t *j, const char *type, const char *code,
                          const char *message, int status)
{
    worker_result_fail(&j->result, type, code, message, status, 0);
    publish_finish(w, j);
}

/* A batch job picked (or arriving) after its batch expired: it fails without a provider call. */
static void expire(worker_t *w, job_t *j, int64_t now_ms)
{
    j->picked_ms = now_ms;
    fail_at_start(w, j, "invalid_request_error", "batch_expired", BATCH_EXPIRED_MESSAGE, 408);
}

/* ---- the deferred partitions: read while the queue is less than half full ---- */

/* Pause (1) or resume (0) every deferred partition this worker owns. */
static void pause_deferred(worker_t *w, int pause)
{
    if (partitions_pause(w, w->set.topic.deferred, pause) == 0)
        w->deferred_paused = pause;
}

void queueing_throttle_deferred(worker_t *w)
{
    size_t max = (size_t)w->set.worker.max_queued;

    if (!w->deferred_paused && w->queued >= max / 2)
        pause_deferred(w, 1);
    else if (w->deferred_paused && w->queued <= max * 3 / 8)
        pause_deferred(w, 0);
}

/* ---- queueing and setting aside ---- */

/* Queue j anyway, over the bounds: its copy could not be set aside (nothing is dropped). */
static void queue_over_bound(worker_t *w, job_t *j)
{
    if (worker_fairq_push_over(w->fairq, j->req.tenant_id, j->req.weight, j, &j->queued)) {
        LQ_ERROR("job %s: out of memory; left for redelivery", j->req.job_id);
        j->generation = UINT64_MAX; /* its offset is never stored */
        job_release(j);
        return;
    }
    queueing_count_in(w, j);
    lq_hashmap_put(w->jobs, j->req.job_id, j);
}

/* A copy of j to the deferred topic (key tenant); j's message is done once Kafka has it. */
static void set_aside(worker_t *w, job_t *j)
{
    lq_codec_t *codec = lq_codec_thread();
    const void *buf;
    size_t len;
    char errstr[256];

    if (!codec || lq_encode_chat_request(codec, &j->req, &buf, &len, errstr, sizeof(errstr)) ||
        produce_with_headers(w, j, w->set.topic.deferred, j->req.tenant_id, buf, len,
                             worker_tracing_headers(j))) {
        queue_over_bound(w, j);
        return;
    }
    if (j->source != SRC_DEFERRED) /* (one read back while the queue is full goes again) */
        worker_fairq_aside_add(w->fairq, j->req.tenant_id, 1);
    j->deferring = 1;
    w->deferring++;
    lq_metric_add(w->m_deferred, 1);
    LQ_DEBUG("job %s tenant %s set aside to %s", j->req.job_id, j->req.tenant_id,
             w->set.topic.deferred);
    job_release(j); /* held by the copy until Kafka acknowledges it */
}

/* Its tenant's queue, unless a request of the tenant is set aside already (its order). */
static int enqueue(worker_t *w, job_t *j)
{
    const char *tenant = j->req.tenant_id;

    if (j->source != SRC_DEFERRED) { /* the requests or the batch jobs */
        if (worker_fairq_aside(w->fairq, tenant) > 0 ||
            worker_fairq_push(w->fairq, tenant, j->req.weight, j, &j->queued) != LQ_OK)
            return -1;
    } else {
        /* read back: bounded by the whole queue only (the deferred partitions are read while
         * it is less than half full), so backlogged tenants sharing a partition do not wait
         * behind each other's records */
        if (w->queued >= (size_t)w->set.worker.max_queued ||
            worker_fairq_push_over(w->fairq, tenant, j->req.weight, j, &j->queued) != LQ_OK)
            return -1;
        worker_fairq_aside_add(w->fairq, tenant, -1);
    }
    queueing_count_in(w, j);
    lq_hashmap_put(w->jobs, j->req.job_id, j);
    return 0;
}

void queueing_admit(worker_t *w, job_t *j)
{
    int64_t now_ms = lq_cluster_ms(); /* batch windows end on the database's clock */

    route_decision_t *dec = j->dec == &worker_no_route ? malloc(sizeof(*dec)) : j->dec;

    if (!dec) {
        fail_at_start(w, j, "server_error", "out_of_memory", "The worker is out of memory.", 500);
        return;
    }
    j->dec = dec;
    if (routing_decide(w->routing, &j->req, w->route_seq++, j->dec)) {
        snprintf(j->route, sizeof(j->route), "no route: %s", j->dec->error);
        fail_at_start(w, j, "invalid_request_error", "model_not_found", j->dec->error, 404);
        return;
    }
    routing_describe(w->routing, j->dec, j->route, sizeof(j->route));
    j->endpoint = j->dec->candidates[0].endpoint;
    if (cancels_known(w, j->req.job_id)) {
        j->cancelled = 1;
        fail_at_start(w, j, "cancelled", "cancelled_before_start",
                      "The job was cancelled before it started.", 499);
        return;
    }
    if (cancels_batch_known(w, j->req.batch_id)) {
        j->cancelled = 1;
        fail_at_start(w, j, "cancelled", "batch_cancelled", CANCELS_BATCH_MESSAGE, 499);
        return;
    }
    if (batches_expired(&j->req, now_ms)) { /* it would be when picked: no need to wait */
        expire(w, j, now_ms);
        return;
    }
    if (enqueue(w, j))
        set_aside(w, j);
    set_queued_gauge(w);
}

void queueing_start(worker_t *w, job_t *j)
{
    if (!j->slot)
        job_take_slot(j);
    j->picked_ms = lq_cluster_ms();
    lq_metric_observe_us(w->m_queue_wait, lq_mono_us() - j->arrived_us);
    if (j->req.mode == LQ_MODE_ASYNC)
        publish_status(w, j, LQ_STATUS_RUNNING);
    attempt_start(w, j);
}

void queueing_dispatch(worker_t *w)
{
    int64_t now_ms = lq_cluster_ms();
    job_t *j;

    worker_fairq_release_due(w->fairq, lq_mono_ms()); /* paced tenants whose time came */
    while (w->inflight < w->max_inflight && (j = worker_fairq_pop(w->fairq))) {
        j->queued = NULL;
        queueing_count_out(w, j);
        if (batches_expired(&j->req, now_ms))
            expire(w, j, now_ms);
        else if (limits_gate_pass(w, j) == GATE_GO)
            queueing_start(w, j);
    }
    set_queued_gauge(w);
}

int queueing_unqueue(worker_t *w, job_t *j)
{
    if (!j->queued)
        return 0;
    worker_fairq_remove(w->fairq, j->queued);
    j->queued = NULL;
    queueing_count_out(w, j);
    set_queued_gauge(w);
    return 1;
}

void queueing_drop(worker_t *w)
{
    job_t *j;

    if (!w->fairq)
        return;
    while ((j = worker_fairq_pop(w->fairq))) {
        j->queued = NULL;
        queueing_count_out(w, j);
        lq_hashmap_remove(w->jobs, j->req.job_id);
        j->generation = UINT64_MAX; /* not done: left for redelivery */
        job_release(j);
    }
    set_queued_gauge(w);
}

typedef struct stale {
    const worker_t *w;
    job_t **jobs;
    size_t n, cap;
} stale_t;

static void collect_stale(const char *key, void *value, void *arg)
{
    stale_t *s = arg;
    job_t *j = value;
    const partition_state_t *ps;

    (void)key;
    if (!j->queued || j->generation == UINT64_MAX || s->n == s->cap)
        return; /* (one never tracked runs here: nobody else would) */
    ps = j->partition < s->w->n_parts ? &s->w->parts[j->partition] : NULL;
    if (!ps || !ps->tracker[j->source] || ps->generation[j->source] != j->generation)
        s->jobs[s->n++] = j;
}

void queueing_drop_revoked(worker_t *w)
{
    stale_t s = {w, NULL, 0, w->queued};
    size_t i;

    if (!w->queued || !(s.jobs = malloc(w->queued * sizeof(*s.jobs))))
        return;
    lq_hashmap_foreach(w->jobs, collect_stale, &s);
    for (i = 0; i < s.n; i++) {
        queueing_unqueue(w, s.jobs[i]);
        lq_hashmap_remove(w->jobs, s.jobs[i]->req.job_id);
        job_release(s.jobs[i]); /* not done: its partition's new owner runs it */
    }
    free(s.jobs);
    if (s.n)
        LQ_INFO("%zu queued job(s) of revoked partitions left to their new owner", s.n);
}

void queueing_free(worker_t *w)
{
    queueing_drop(w);
    worker_fairq_destroy(w->fairq);
    w->fairq = NULL;
}

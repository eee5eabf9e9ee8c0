/* Batch jobs: how many this worker holds, pausing the batch partitions to leave interactive
 * traffic the capacity it needs, and the batch's expiry. See workers/batches.h. */
#include "common/log.h"
#include "workers/batches.h"
#include "workers/partitions.h"

void batches_init(worker_t *w)
{
    long long cap = w->set.worker.batch_max_inflight;

    if (cap <= 0)
        cap = w->set.worker.max_inflight / 4 > 1 ? w->set.worker.max_inflight / 4 : 1;
    w->batch_max = (size_t)cap;
    w->m_batch_jobs =
        lq_metrics_gauge("llmq_worker_batch_jobs", "batch jobs held (queued or in flight)", NULL);
    w->m_batch_paused =
        lq_metrics_gauge("llmq_worker_batch_paused",
                         "1 while the batch partitions are paused for interactive work", NULL);
}

int batches_pause_wanted(int paused, size_t held, size_t cap, size_t backlog)
{
    if (!paused)
        return held >= cap || backlog > BATCH_BACKLOG_PAUSE;
    return held > cap / 2 || backlog > 0;
}

/* Interactive jobs waiting for a slot: none while slots are free (what waits then is held
 * back by its tenant's rate limit, and batch work does not take its place). */
static size_t interactive_backlog(const worker_t *w)
{
    if (w->inflight < w->max_inflight || w->queued < w->batch_queued)
        return 0;
    return w->queued - w->batch_queued;
}

void batches_throttle(worker_t *w)
{
    int pause =
        batches_pause_wanted(w->batch_paused, w->batch_jobs, w->batch_max, interactive_backlog(w));

    if (pause == w->batch_paused || partitions_pause(w, w->topics->batch, pause))
        return;
    w->batch_paused = pause;
    lq_metric_set(w->m_batch_paused, pause);
    LQ_DEBUG("batch partitions %s (%zu batch job(s) held, %zu queued in all)",
             pause ? "paused" : "resumed", w->batch_jobs, w->queued);
}

void batches_assigned(worker_t *w)
{
    w->batch_paused = 0;
    lq_metric_set(w->m_batch_paused, 0);
}

void batches_hold(job_t *j)
{
    worker_t *w = j->w;

    if (j->batch_counted || !j->req.batch_id)
        return;
    j->batch_counted = 1;
    w->batch_jobs++;
    lq_metric_set(w->m_batch_jobs, (int64_t)w->batch_jobs);
}

void batches_done(job_t *j)
{
    worker_t *w = j->w;

    if (!j->batch_counted)
        return;
    j->batch_counted = 0;
    w->batch_jobs--;
    lq_metric_set(w->m_batch_jobs, (int64_t)w->batch_jobs);
}

int batches_expired(const lq_chat_request_t *r, int64_t now_ms)
{
    return r->batch_id && r->deadline_ms > 0 && r->deadline_ms < now_ms;
}

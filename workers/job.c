/* A job's lifetime: from its message's arrival to the last acknowledged output. */
#include <stdlib.h>

#include "common/clock.h"
#include "workers/batches.h"
#include "workers/job.h"
#include "workers/partitions.h"

route_decision_t worker_no_route;

job_t *job_new(worker_t *w, const rd_kafka_message_t *m, job_source_t src)
{
    job_t *j = calloc(1, sizeof(*j));

    if (!j)
        return NULL;
    j->w = w;
    j->dec = &worker_no_route;
    j->partition = m->partition;
    j->offset = m->offset;
    j->pending = 1;
    j->source = src;
    j->arrived_ms = j->picked_ms = lq_cluster_ms();
    j->arrived_us = lq_mono_us();
    j->record_ts_ms = rd_kafka_message_timestamp(m, NULL);
    j->ttft_ms = -1;
    j->generation = partitions_track(w, src, m->partition, m->offset);
    return j;
}

void job_take_slot(job_t *j)
{
    worker_t *w = j->w;

    j->slot = 1;
    w->inflight++;
    lq_metric_set(w->m_inflight, (int64_t)w->inflight);
}

static void job_free(job_t *j)
{
    worker_stream_free(j->stream);
    stream_mask_clear(&j->smask);
    lq_chat_request_clear(&j->req);
    worker_result_clear(&j->result);
    free(j->tracestate);
    free(j->resp);
    free(j->hist);
    if (j->dec != &worker_no_route)
        free(j->dec);
    free(j);
}

void job_release(job_t *j)
{
    worker_t *w = j->w;

    if (--j->pending > 0)
        return;
    partitions_done(w, j);
    if (j->slot) {
        w->inflight--;
        lq_metric_set(w->m_inflight, (int64_t)w->inflight);
    }
    if (j->deferring)
        w->deferring--;
    batches_done(j);
    job_free(j);
}

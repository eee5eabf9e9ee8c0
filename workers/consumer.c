/* Consuming: requests (and deferred requests read back, and batch jobs) become jobs for the fair
 * queue (workers/queueing.c), cancellations go to workers/cancels.c, the request partitions are
 * paused when the queue is full (the batch partitions by workers/batches.c), and partitions are
 * tracked across rebalances. */
#include <stdio.h>

#include "common/log.h"
#include "schemas/codec.h"
#include "workers/attempts.h"
#include "workers/batches.h"
#include "workers/cancels.h"
#include "workers/consumer.h"
#include "workers/job.h"
#include "workers/partitions.h"
#include "workers/produce.h"
#include "workers/publish.h"
#include "workers/queueing.h"
#include "workers/tracing.h"

#define POLL_BUDGET 512 /* messages read per turn of the loop at most */

/* An undecodable request goes to the dead-letter topic as it came, with the reason. */
static void dead_letter_undecodable(worker_t *w, job_t *j, const rd_kafka_message_t *m,
                                    const char *why)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(2);

    LQ_ERROR("request p%d@%lld cannot be decoded (%s): sent to %s", m->partition,
             (long long)m->offset, why, w->topics->dlq);
    rd_kafka_header_add(hdrs, "llmq-error", -1, why, -1);
    j->dead_letter = 1;
    produce_dead_letter(w, j, m->key, m->key_len, m->payload, m->len, hdrs);
    lq_metric_add(w->m_dead, 1);
    job_release(j);
}

static void handle_request(worker_t *w, const rd_kafka_message_t *m, job_source_t src)
{
    lq_codec_t *codec = lq_codec_thread();
    char errstr[256];
    job_t *j;
    int batch;

    if (partitions_seen(w, src, m->partition, m->offset))
        return; /* fetched again after a pause: handled already */
    j = job_new(w, m, src);

    if (!j) {
        LQ_ERROR("out of memory; message p%d@%lld left for redelivery", m->partition,
                 (long long)m->offset);
        return;
    }
    if (!codec) {
        dead_letter_undecodable(w, j, m, "no codec");
        return;
    }
    if (lq_decode_chat_request(codec, m->payload, m->len, &j->req, errstr, sizeof(errstr))) {
        dead_letter_undecodable(w, j, m, errstr);
        return;
    }
    worker_tracing_read(w, j, m);
    batch = j->req.batch_id != NULL;
    batches_hold(j); /* a batch job: held until released */
    queueing_admit(w, j);
    if (batch)
        batches_throttle(w); /* at the bound: stop reading batch jobs now, not next turn */
}

/* One message read: a request, a deferred request, a batch job, or a cancellation. */
static void handle_message(worker_t *w, const rd_kafka_message_t *m, int stopping)
{
    int src;

    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            LQ_WARN("consumer: %s", rd_kafka_message_errstr(m));
        return;
    }
    if (stopping)
        return; /* left for redelivery (offset not stored) */
    src = partitions_source(w, rd_kafka_topic_name(m->rkt));
    if (src < 0)
        cancels_handle(w, m);
    else
        handle_request(w, m, (job_source_t)src);
}

int consumer_poll(worker_t *w, int stopping)
{
    int budget = POLL_BUDGET, got = 0;

    /* never more than worker.max_queued waiting: stop reading when full; once the request
     * partitions are paused (top of the next turn) only cancellations and deferred requests
     * come (those that do not fit are set aside again and their partition paused) */
    while (budget-- > 0 &&
           (stopping || w->paused || w->queued < (size_t)w->set.worker.max_queued)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, 0);
        if (!m)
            break;
        got++;
        handle_message(w, m, stopping);
        rd_kafka_message_destroy(m);
    }
    return got > 0 && budget <= 0;
}

void consumer_pause(worker_t *w, int pause)
{
    if (w->paused == pause)
        return;
    /* only the requests: cancellations must get through to a full worker */
    partitions_pause(w, w->topics->requests, pause);
    w->paused = pause;
}

void consumer_throttle(worker_t *w)
{
    size_t max = (size_t)w->set.worker.max_queued;

    if (w->queued >= max)
        consumer_pause(w, 1);
    else if (w->paused && w->queued <= max * 3 / 4)
        consumer_pause(w, 0);
    queueing_throttle_deferred(w);
    batches_throttle(w);
}

void consumer_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    worker_t *w = opaque;
    rd_kafka_resp_err_t ce;

    atomic_store(&w->joined, 1);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        partitions_assigned(w, parts);
        LQ_INFO("assigned %d partition(s) of %s, %s, %s and %s", parts->cnt, w->topics->requests,
                w->topics->cancels, w->set.topic.deferred, w->topics->batch);
        rd_kafka_assign(rk, parts);
        rd_kafka_resume_partitions(rk, parts); /* none stays paused from an earlier turn */
        w->paused = w->deferred_paused = 0;
        batches_assigned(w);
        return;
    }
    /* Commit what is finished; unfinished messages of these partitions go to their new
     * owner (at-least-once; results are idempotent downstream). */
    ce = rd_kafka_commit(rk, NULL, 0);
    if (ce && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
        LQ_WARN("commit on revoke: %s", rd_kafka_err2str(ce));
    partitions_revoked(w, parts);
    queueing_drop_revoked(w);
    worker_fairq_aside_reset(w->fairq); /* what was set aside may now be read elsewhere */
    LQ_INFO("revoked %d partition(s)", parts->cnt);
    rd_kafka_assign(rk, NULL);
}

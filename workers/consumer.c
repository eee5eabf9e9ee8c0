/* Consuming: requests become jobs, cancellations go to workers/cancels.c, partitions are
 * paused when the worker is full and tracked across rebalances. */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "schemas/codec.h"
#include "workers/attempts.h"
#include "workers/cancels.h"
#include "workers/consumer.h"
#include "workers/job.h"
#include "workers/partitions.h"
#include "workers/produce.h"
#include "workers/publish.h"

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

/* Fail j before any attempt (no route; cancelled before it came). */
static void fail_at_start(worker_t *w, job_t *j, const char *type, const char *code,
                          const char *message, int status)
{
    worker_result_fail(&j->result, type, code, message, status, 0);
    publish_finish(w, j);
}

/* A decoded request: its route, then its first attempt. */
static void start_job(worker_t *w, job_t *j)
{
    if (routing_decide(w->routing, &j->req, w->route_seq++, &j->dec)) {
        snprintf(j->route, sizeof(j->route), "no route: %s", j->dec.error);
        fail_at_start(w, j, "invalid_request_error", "model_not_found", j->dec.error, 404);
        return;
    }
    routing_describe(w->routing, &j->dec, j->route, sizeof(j->route));
    j->endpoint = j->dec.candidates[0].endpoint;
    if (cancels_known(w, j->req.job_id)) {
        j->cancelled = 1;
        fail_at_start(w, j, "cancelled", "cancelled_before_start",
                      "The job was cancelled before it started.", 499);
        return;
    }
    lq_hashmap_put(w->jobs, j->req.job_id, j);
    if (j->req.mode == LQ_MODE_ASYNC)
        publish_status(w, j, LQ_STATUS_RUNNING);
    attempt_start(w, j);
}

static void handle_request(worker_t *w, const rd_kafka_message_t *m)
{
    lq_codec_t *codec = lq_codec_thread();
    char errstr[256];
    job_t *j = job_new(w, m);

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
    start_job(w, j);
}

int consumer_poll(worker_t *w, int stopping)
{
    int budget = POLL_BUDGET, got = 0;

    /* never more than max_inflight: stop taking requests when full; once the request
     * partitions are paused (top of the next turn) only cancellations come */
    while (budget-- > 0 && (stopping || w->paused || w->inflight < w->max_inflight)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, 0);
        if (!m)
            break;
        got++;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                LQ_WARN("consumer: %s", rd_kafka_message_errstr(m));
        } else if (strcmp(rd_kafka_topic_name(m->rkt), w->topics->cancels) == 0) {
            if (!stopping)
                cancels_handle(w, m);
        } else if (!stopping) {
            handle_request(w, m); /* when stopping: left for redelivery (offset not stored) */
        }
        rd_kafka_message_destroy(m);
    }
    return got > 0 && budget <= 0;
}

void consumer_pause(worker_t *w, int pause)
{
    rd_kafka_topic_partition_list_t *assigned = NULL, *req;
    int i;

    if (w->paused == pause)
        return;
    if (rd_kafka_assignment(w->consumer, &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR && assigned) {
        /* only the requests: cancellations must get through to a full worker */
        req = rd_kafka_topic_partition_list_new(assigned->cnt);
        for (i = 0; i < assigned->cnt; i++)
            if (strcmp(assigned->elems[i].topic, w->topics->requests) == 0)
                rd_kafka_topic_partition_list_add(req, assigned->elems[i].topic,
                                                  assigned->elems[i].partition);
        rd_kafka_topic_partition_list_destroy(assigned);
        if (pause)
            rd_kafka_pause_partitions(w->consumer, req);
        else
            rd_kafka_resume_partitions(w->consumer, req);
        rd_kafka_topic_partition_list_destroy(req);
    }
    w->paused = pause;
}

void consumer_throttle(worker_t *w)
{
    if (w->inflight >= w->max_inflight)
        consumer_pause(w, 1);
    else if (w->paused && w->inflight <= w->max_inflight * 3 / 4)
        consumer_pause(w, 0);
}

void consumer_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    worker_t *w = opaque;
    rd_kafka_resp_err_t ce;

    atomic_store(&w->joined, 1);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        partitions_assigned(w, parts);
        LQ_INFO("assigned %d partition(s) of %s and %s", parts->cnt, w->topics->requests,
                w->topics->cancels);
        rd_kafka_assign(rk, parts);
        w->paused = 0;
        return;
    }
    /* Commit what is finished; unfinished messages of these partitions go to their new
     * owner (at-least-once; results are idempotent downstream). */
    ce = rd_kafka_commit(rk, NULL, 0);
    if (ce && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
        LQ_WARN("commit on revoke: %s", rd_kafka_err2str(ce));
    partitions_revoked(w, parts);
    LQ_INFO("revoked %d partition(s)", parts->cnt);
    rd_kafka_assign(rk, NULL);
}

#include "ingest/produce.h"

#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/hashmap.h"
#include "common/log.h"
#include "ingest/conversation_turn.h"
#include "ingest/idempotency.h"
#include "ingest/jobs_poll.h"
#include "ingest/size_limits.h"
#include "ingest/tracing.h"
#include "schemas/codec.h"

void ingest_produce_set_too_large(req_ctx_t *c, size_t len)
{
    char msg[300];

    snprintf(msg, sizeof(msg),
             "The request is too large to queue: its record is %zu bytes, Kafka takes at most "
             "%zu bytes (message.max.bytes).",
             len, c->node->max_record);
    ingest_ctx_set_error(c, 413, msg, "invalid_request_error", NULL, "request_too_large");
}

/* A record Kafka refuses for its size can never be queued: 413, never 503 (a client would
 * retry a 503). Anything else is an overload or an outage: 503 with Retry-After. */
static void set_enqueue_failed(req_ctx_t *c, rd_kafka_resp_err_t err, size_t len,
                               const char *message)
{
    if (ingest_kafka_err_too_large(err))
        ingest_produce_set_too_large(c, len);
    else
        ingest_ctx_set_unavailable(c, message, "enqueue_failed");
}

size_t ingest_request_key(const req_ctx_t *c, char *out, size_t size)
{
    if (c->id.shards <= 1)
        return (size_t)snprintf(out, size, "%s", c->id.tenant_id);
    return (size_t)snprintf(out, size, "%s/%u", c->id.tenant_id,
                            (unsigned)(lq_hash_str(c->job_id) % (uint64_t)c->id.shards));
}

/* Register c as the waiter of its reply. A stream's waiter holds a reference: chunks may
 * arrive after the handler returned. */
static int wait_for_reply(req_ctx_t *c)
{
    ingest_node_t *n = c->node;
    int stream = c->mode == LQ_MODE_STREAM;

    if (stream)
        ingest_ctx_ref(c);
    if (ingest_replies_wait(n->replies, c->job_id, c, lq_mono_ms() + n->sync_timeout_ms,
                            stream ? n->sync_timeout_ms : 0) == LQ_OK)
        return 1;
    if (stream)
        ingest_ctx_unref(c);
    return 0;
}

/* The producer refused the record: answer 503 unless a reply or timeout already took the
 * waiter. */
static void not_produced(req_ctx_t *c, rd_kafka_resp_err_t kerr, size_t len)
{
    ingest_node_t *n = c->node;

    lq_metric_add(n->m_enqueue_failed, 1);
    LQ_WARN("job %s: cannot produce: %s", c->job_id, rd_kafka_err2str(kerr));
    if (c->mode != LQ_MODE_ASYNC && !ingest_replies_cancel(n->replies, c->job_id))
        return;
    if (c->mode == LQ_MODE_STREAM)
        ingest_ctx_unref(c); /* the waiter's reference: we took it back */
    set_enqueue_failed(c, kerr, len, "The request queue is full; retry later.");
    ingest_ctx_resume(c);
}

/* The producer a request goes to. A sync or streamed one is sent at once by the eager
 * producer while few records await their acknowledgement there (a lone request would
 * otherwise wait the linger for company that does not come), else it gathers with others on
 * the batched one (under load, fewer and larger produce requests cost the node and the
 * broker less). Which producer carries a record does not order it: concurrent requests have
 * no order, and one sent after another's answer follows it whichever producer carries it. */
static rd_kafka_t *request_producer(ingest_node_t *n, lq_mode_t mode)
{
    if (mode == LQ_MODE_ASYNC)
        return n->async_producer ? n->async_producer : n->producer;
    /* the count includes reports not yet served, so under load it errs toward batching */
    if (n->eager_producer &&
        rd_kafka_outq_len(n->eager_producer) < (int)n->set.ingest.eager_inflight_max) {
        lq_metric_add(n->m_eager, 1);
        return n->eager_producer;
    }
    return n->producer;
}

ingest_step_t ingest_produce_request(req_ctx_t *c, const void *buf, size_t len)
{
    ingest_node_t *n = c->node;
    rd_kafka_resp_err_t kerr;
    rd_kafka_headers_t *hdrs;
    char key[96];
    size_t key_len = ingest_request_key(c, key, sizeof(key));

    /* from here on the answer comes from another thread: suspend first, so a resume can
     * never come before the suspend */
    ingest_ctx_suspend(c);
    if (c->mode != LQ_MODE_ASYNC && !wait_for_reply(c)) {
        ingest_ctx_set_internal_error(c);
        ingest_ctx_resume(c);
        return INGEST_STEP_SUSPENDED;
    }
    ingest_ctx_ref(c); /* held by the message in flight until its delivery report */
    hdrs = ingest_tracing_headers(c);
    /* the record's timestamp on the cluster's clock, as created_at_ms: the trace's hops
     * (workers/publish.c) compare the two */
    kerr = rd_kafka_producev(request_producer(n, c->mode), RD_KAFKA_V_TOPIC(n->topics->requests),
                             RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)buf, len),
                             RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_TIMESTAMP(lq_cluster_ms()), RD_KAFKA_V_OPAQUE(c),
                             RD_KAFKA_V_END);
    if (kerr) {
        if (hdrs) /* the message's only when it was taken */
            rd_kafka_headers_destroy(hdrs);
        atomic_fetch_sub(&c->refs, 1); /* no report will come; the connection still holds c */
        not_produced(c, kerr, len);
    }
    return INGEST_STEP_SUSPENDED;
}

/* An async job: the report is its answer. */
static void async_delivered(ingest_node_t *n, req_ctx_t *c, const rd_kafka_message_t *m)
{
    rd_kafka_resp_err_t err = m->err;

    if (err) {
        ingest_idempotency_settle(c, 0);
        LQ_WARN("job %s not stored in Kafka: %s", c->job_id, rd_kafka_err2str(err));
        lq_metric_add(n->m_enqueue_failed, 1);
        set_enqueue_failed(c, err, m->len, "The request could not be queued; retry later.");
        ingest_ctx_resume(c);
        return;
    }
    ingest_tracing_acked(c);
    lq_metric_add(n->m_enqueued, 1);
    c->conv_queued = 1;
    ingest_conversation_queued(c);
    ingest_recent_jobs_add(n->recent, c->job_id, c->id.tenant_id, c->model, c->created_ms);
    snprintf(c->location, sizeof(c->location), "/v1/jobs/%s", c->job_id);
    ingest_ctx_set_json(c, 202, ingest_job_queued(c->job_id, c->model, c->created_ms));
    /* with an Idempotency-Key, the 202 waits for the key to be marked queued: a retry after
     * it must get this job, not "still being queued" */
    if (!ingest_idempotency_settle_then_resume(c))
        ingest_ctx_resume(c);
}

/* A sync or streamed job answers from its reply; a failed report answers 503 unless the
 * reply or a timeout came first. */
static void waiting_delivered(ingest_node_t *n, req_ctx_t *c, const rd_kafka_message_t *m)
{
    rd_kafka_resp_err_t err = m->err;

    if (!err) {
        ingest_tracing_acked(c);
        lq_metric_add(n->m_enqueued, 1);
        c->conv_queued = 1;
        ingest_conversation_queued(c);
        return;
    }
    lq_metric_add(n->m_enqueue_failed, 1);
    if (!ingest_replies_cancel(n->replies, c->job_id))
        return;
    if (c->mode == LQ_MODE_STREAM)
        ingest_ctx_unref(c); /* the waiter's reference (c is still held by this report) */
    LQ_WARN("job %s not stored in Kafka: %s", c->job_id, rd_kafka_err2str(err));
    set_enqueue_failed(c, err, m->len, "The request could not be queued; retry later.");
    ingest_ctx_resume(c);
}

void ingest_produce_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    req_ctx_t *c = m->_private;

    (void)rk;
    if (!c)
        return; /* a cancellation */
    if (!m->err)
        lq_metric_observe_us(((ingest_node_t *)opaque)->m_enqueue_ack, rd_kafka_message_latency(m));
    if (c->mode == LQ_MODE_ASYNC)
        async_delivered(opaque, c, m);
    else
        waiting_delivered(opaque, c, m);
    ingest_ctx_unref(c); /* the reference the message held */
}

void ingest_produce_cancel(req_ctx_t *c, const char *reason)
{
    ingest_node_t *n = c->node;
    lq_codec_t *codec = lq_codec_thread();
    lq_job_cancel_t k;
    const void *buf;
    size_t len, key_len;
    char errstr[256], key[96];

    key_len = ingest_request_key(c, key, sizeof(key)); /* to the partition of its request */
    k.job_id = c->job_id;
    k.tenant_id = c->id.tenant_id;
    k.reason = (char *)reason;
    k.ts_ms = lq_cluster_ms();
    if (!codec || lq_encode_job_cancel(codec, &k, &buf, &len, errstr, sizeof(errstr)))
        return;
    if (rd_kafka_producev(n->producer, RD_KAFKA_V_TOPIC(n->topics->cancels),
                          RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)buf, len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR)
        lq_metric_add(n->m_cancels, 1);
}

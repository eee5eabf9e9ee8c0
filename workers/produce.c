/* Sending a job's outputs, and their delivery reports. */
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "workers/job.h"
#include "workers/produce.h"

static const char *job_name(const job_t *j)
{
    return j->req.job_id ? j->req.job_id : "-";
}

rd_kafka_resp_err_t produce(worker_t *w, job_t *j, const char *topic, const char *key,
                            const void *buf, size_t len)
{
    return produce_with_headers(w, j, topic, key, buf, len, NULL);
}

rd_kafka_resp_err_t produce_with_headers(worker_t *w, job_t *j, const char *topic, const char *key,
                                         const void *buf, size_t len, rd_kafka_headers_t *hdrs)
{
    rd_kafka_resp_err_t e;
    int tries = 0;

    j->pending++;
    for (;;) {
        /* timestamps on the cluster's clock, as every time llmq records */
        e = rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(topic),
                              RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)buf, len),
                              RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_TIMESTAMP(lq_cluster_ms()), RD_KAFKA_V_OPAQUE(j),
                              RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || ++tries > 1000)
            break;
        rd_kafka_poll(w->producer, 10); /* make room: serve delivery reports */
    }
    if (e && hdrs) /* the message's only when it was taken */
        rd_kafka_headers_destroy(hdrs);
    if (e) {
        LQ_ERROR("job %s: cannot produce to %s: %s", job_name(j), topic, rd_kafka_err2str(e));
        lq_metric_add(w->m_produce_failed, 1);
        j->pending--;
    }
    return e;
}

int produce_dead_letter(worker_t *w, job_t *j, const void *key, size_t key_len, const void *buf,
                        size_t len, rd_kafka_headers_t *hdrs)
{
    rd_kafka_resp_err_t e;

    j->pending++;
    e = rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(w->topics->dlq),
                          RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)buf, len),
                          RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_OPAQUE(j), RD_KAFKA_V_END);
    if (!e)
        return 0;
    rd_kafka_headers_destroy(hdrs);
    j->pending--;
    LQ_ERROR("job %s: cannot produce to %s: %s", job_name(j), w->topics->dlq, rd_kafka_err2str(e));
    return -1;
}

void produce_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    worker_t *w = opaque;
    job_t *j = m->_private;

    (void)rk;
    if (m->err) {
        /* Outputs are idempotent downstream (ids), so re-sending is always safe. */
        rd_kafka_resp_err_t e;
        rd_kafka_headers_t *hdrs = NULL, *copy;
        LQ_WARN("delivery to %s failed (%s); sending again", rd_kafka_topic_name(m->rkt),
                rd_kafka_err2str(m->err));
        /* a deferred copy keeps its trace context */
        copy = rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs
                   ? rd_kafka_headers_copy(hdrs)
                   : NULL;
        e = rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(rd_kafka_topic_name(m->rkt)),
                              RD_KAFKA_V_KEY(m->key, m->key_len),
                              RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_HEADERS(copy),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(j),
                              RD_KAFKA_V_END);
        if (!e)
            return;
        if (copy)
            rd_kafka_headers_destroy(copy);
        LQ_ERROR("cannot send again to %s: %s", rd_kafka_topic_name(m->rkt), rd_kafka_err2str(e));
        lq_metric_add(w->m_produce_failed, 1);
        if (j && j->deferring)
            j->generation = UINT64_MAX; /* its copy is not stored: the message is not done */
    }
    if (j)
        job_release(j);
}

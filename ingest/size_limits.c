#include "ingest/size_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

size_t ingest_record_limit(size_t producer_max, size_t topic_max)
{
    size_t m = producer_max;

    if (topic_max && (!m || topic_max < m))
        m = topic_max;
    return m > INGEST_RECORD_FRAMING ? m - INGEST_RECORD_FRAMING : 0;
}

size_t ingest_body_limit_for(size_t max_body, size_t record_limit)
{
    if (record_limit <= INGEST_RECORD_HEADROOM)
        return record_limit / 2;
    if (max_body + INGEST_RECORD_HEADROOM <= record_limit)
        return max_body;
    return record_limit - INGEST_RECORD_HEADROOM;
}

int ingest_kafka_err_too_large(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE;
}

static size_t producer_max(rd_kafka_t *rk)
{
    char v[32];
    size_t sz = sizeof(v);

    if (rd_kafka_conf_get(rd_kafka_conf(rk), "message.max.bytes", v, &sz) != RD_KAFKA_CONF_OK)
        return 0;
    return (size_t)strtoull(v, NULL, 10);
}

/* max.message.bytes of the topic in a DescribeConfigs result; 0 when absent. */
static size_t topic_max_in(rd_kafka_event_t *ev)
{
    const rd_kafka_DescribeConfigs_result_t *res = rd_kafka_event_DescribeConfigs_result(ev);
    const rd_kafka_ConfigResource_t **rs;
    const rd_kafka_ConfigEntry_t **es;
    size_t nr = 0, ne = 0, i;

    if (!res || rd_kafka_event_error(ev))
        return 0;
    rs = rd_kafka_DescribeConfigs_result_resources(res, &nr);
    if (nr != 1 || rd_kafka_ConfigResource_error(rs[0]))
        return 0;
    es = rd_kafka_ConfigResource_configs(rs[0], &ne);
    for (i = 0; i < ne; i++) {
        const char *v = rd_kafka_ConfigEntry_value(es[i]);
        if (v && strcmp(rd_kafka_ConfigEntry_name(es[i]), "max.message.bytes") == 0)
            return (size_t)strtoull(v, NULL, 10);
    }
    return 0;
}

/* The topic's max.message.bytes from the broker; 0 when it cannot be read in time. */
static size_t topic_max(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_ConfigResource_t *r = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_event_t *ev = NULL;
    size_t v = 0;
    char e[128];

    if (!q || !r || !o)
        goto out;
    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, e, sizeof(e));
    rd_kafka_DescribeConfigs(rk, &r, 1, o, q);
    ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    if (ev)
        v = topic_max_in(ev);
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (o)
        rd_kafka_AdminOptions_destroy(o);
    if (r)
        rd_kafka_ConfigResource_destroy(r);
    if (q)
        rd_kafka_queue_destroy(q);
    return v;
}

lq_err_t ingest_size_limits_apply(ingest_node_t *n, int timeout_ms, char *errstr,
                                  size_t errstr_size)
{
    size_t pmax = producer_max(n->producer);
    size_t tmax = topic_max(n->producer, n->topics->requests, timeout_ms);
    size_t body;

    n->max_record = ingest_record_limit(pmax, tmax);
    if (n->max_record == 0) {
        snprintf(errstr, errstr_size, "the producer's message.max.bytes (%zu) is too small", pmax);
        return LQ_ERR_CONFIG;
    }
    if (!tmax)
        LQ_INFO("the max.message.bytes of topic %s could not be read; the producer's "
                "message.max.bytes (%zu) bounds a request",
                n->topics->requests, pmax);
    body = ingest_body_limit_for(n->max_body, n->max_record);
    if (body < n->max_body)
        LQ_WARN("http.max_body_bytes (%zu) does not fit in one Kafka record (the producer's "
                "message.max.bytes %zu, topic %s max.message.bytes %zu): bodies are limited "
                "to %zu bytes; raise message.max.bytes (kafka.message.max.bytes and the "
                "topic's max.message.bytes) or lower http.max_body_bytes",
                n->max_body, pmax, n->topics->requests, tmax, body);
    n->max_body = body;
    return LQ_OK;
}

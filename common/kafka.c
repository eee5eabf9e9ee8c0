#include "common/kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

void lq_topics_from_config(lq_topics_t *t, const lq_config_t *cfg)
{
    snprintf(t->requests, sizeof(t->requests), "%s", lq_config_str(cfg, "topic.requests"));
    snprintf(t->responses, sizeof(t->responses), "%s", lq_config_str(cfg, "topic.responses"));
    snprintf(t->usage, sizeof(t->usage), "%s", lq_config_str(cfg, "topic.usage"));
    snprintf(t->traces, sizeof(t->traces), "%s", lq_config_str(cfg, "topic.traces"));
    snprintf(t->dlq, sizeof(t->dlq), "%s", lq_config_str(cfg, "topic.dlq"));
    snprintf(t->cancels, sizeof(t->cancels), "%s", lq_config_str(cfg, "topic.cancels"));
    snprintf(t->replies_prefix, sizeof(t->replies_prefix), "%s",
             lq_config_str(cfg, "topic.replies_prefix"));
}

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 3)
        LQ_ERROR("kafka %s: %s", fac, buf);
    else if (level <= 4)
        LQ_WARN("kafka %s: %s", fac, buf);
    else if (level <= 6)
        LQ_INFO("kafka %s: %s", fac, buf);
    else
        LQ_DEBUG("kafka %s: %s", fac, buf);
}

lq_err_t lq_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                           char *errstr, size_t errstr_size)
{
    char kerr[256];

    if (rd_kafka_conf_set(conf, key, value, kerr, sizeof(kerr)) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "kafka setting %s: %s", key, kerr);
        return LQ_ERR_CONFIG;
    }
    return LQ_OK;
}

rd_kafka_conf_t *lq_kafka_conf_new(const lq_config_t *cfg, const char *client_id,
                                   const char *const *defaults, char *errstr,
                                   size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    size_t i, n = lq_config_passthrough_count(cfg);

    if (lq_kafka_conf_set(conf, "bootstrap.servers", lq_config_str(cfg, "kafka.brokers"), errstr,
                          errstr_size) ||
        lq_kafka_conf_set(conf, "client.id", client_id, errstr, errstr_size))
        goto fail;
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    /* Requests are small and latency matters more than packet count: without this, Nagle's
     * algorithm and delayed ACKs add ~40 ms per hop at low request rates. */
    if (lq_kafka_conf_set(conf, "socket.nagle.disable", "true", errstr, errstr_size))
        goto fail;
    for (i = 0; defaults && defaults[i] && defaults[i + 1]; i += 2)
        if (lq_kafka_conf_set(conf, defaults[i], defaults[i + 1], errstr, errstr_size))
            goto fail;
    for (i = 0; i < n; i++) {
        const char *k, *v;
        lq_config_passthrough_get(cfg, i, &k, &v);
        if (lq_kafka_conf_set(conf, k, v, errstr, errstr_size))
            goto fail;
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

lq_err_t lq_kafka_create_topics(rd_kafka_t *rk, const char *const *names, const int *partitions,
                                size_t n, const char *const *configs, int timeout_ms, char *errstr,
                                size_t errstr_size)
{
    rd_kafka_NewTopic_t **topics = calloc(n, sizeof(*topics));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_event_t *ev = NULL;
    lq_err_t err = LQ_ERR_KAFKA;
    size_t i;
    char kerr[256];

    if (!topics || !q || !opts) {
        err = LQ_ERR_NOMEM;
        goto out;
    }
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, kerr, sizeof(kerr));
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, kerr, sizeof(kerr));
    for (i = 0; i < n; i++) {
        topics[i] = rd_kafka_NewTopic_new(names[i], partitions[i], -1, kerr, sizeof(kerr));
        if (!topics[i]) {
            snprintf(errstr, errstr_size, "topic %s: %s", names[i], kerr);
            goto out;
        }
        {
            size_t c;
            for (c = 0; configs && configs[c] && configs[c + 1]; c += 2)
                rd_kafka_NewTopic_set_config(topics[i], configs[c], configs[c + 1]);
        }
    }
    rd_kafka_CreateTopics(rk, topics, n, opts, q);
    ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
    if (!ev) {
        snprintf(errstr, errstr_size, "create topics: no answer within %d ms", timeout_ms);
        err = LQ_ERR_TIMEOUT;
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        snprintf(errstr, errstr_size, "create topics: %s", rd_kafka_event_error_string(ev));
        goto out;
    } else {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t cnt = 0;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
        for (i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(errstr, errstr_size, "create topic %s: %s",
                         rd_kafka_topic_result_name(tr[i]),
                         rd_kafka_topic_result_error_string(tr[i])
                             ? rd_kafka_topic_result_error_string(tr[i])
                             : rd_kafka_err2str(e));
                goto out;
            }
        }
    }
    err = LQ_OK;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    for (i = 0; topics && i < n; i++)
        if (topics[i])
            rd_kafka_NewTopic_destroy(topics[i]);
    free(topics);
    if (opts)
        rd_kafka_AdminOptions_destroy(opts);
    if (q)
        rd_kafka_queue_destroy(q);
    return err;
}

int lq_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    struct timespec start, now;
    int count = -1;

    if (!rkt)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        long elapsed;
        if (rd_kafka_metadata(rk, 0, rkt, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR && md) {
            if (md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0)
                count = md->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(md);
        }
        if (count > 0)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed > timeout_ms)
            break;
        nanosleep(&(struct timespec){0, 200 * 1000000}, NULL);
    }
    rd_kafka_topic_destroy(rkt);
    return count;
}

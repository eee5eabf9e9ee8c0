#include "common/kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

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

static lq_err_t conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                         size_t errstr_size)
{
    char kerr[256];

    if (rd_kafka_conf_set(conf, key, value, kerr, sizeof(kerr)) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "kafka setting %s: %s", key, kerr);
        return LQ_ERR_CONFIG;
    }
    return LQ_OK;
}

static lq_err_t conf_set_list(rd_kafka_conf_t *conf, const char *const *kv, char *errstr,
                              size_t errstr_size)
{
    size_t i;

    for (i = 0; kv && kv[i] && kv[i + 1]; i += 2)
        if (conf_set(conf, kv[i], kv[i + 1], errstr, errstr_size))
            return LQ_ERR_CONFIG;
    return LQ_OK;
}

/* Settings every client of a role must have (see lq_kafka_role_t). */
static lq_err_t conf_role(rd_kafka_conf_t *conf, const lq_kafka_spec_t *sp, char *errstr,
                          size_t errstr_size)
{
    /* No compression by default: llmq's batches are small, and LZ4's per-batch set-up cost
     * was the largest CPU item of the producers. A linger of 0.5 ms: a request waits for
     * little, and under load the batches still fill while a produce request is in flight
     * (docs/benchmarks.md: 2 ms cost 1.2 ms of sync p50, 0 cost 30 % more CPU). */
    const char *compression = sp->compression && *sp->compression ? sp->compression : "none";
    const char *const producer[] = {"enable.idempotence", "true",           "acks",      "all",
                                    "partitioner",        "murmur2_random", "linger.ms", "0.5",
                                    "compression.type",   compression,      NULL};
    const char *const consumer[] = {"auto.offset.reset", "earliest", NULL};

    if (sp->role == LQ_KAFKA_PRODUCER)
        return conf_set_list(conf, producer, errstr, errstr_size);
    if (sp->role != LQ_KAFKA_CONSUMER)
        return LQ_OK;
    if (!sp->group_id) {
        snprintf(errstr, errstr_size, "kafka consumer %s: no consumer group", sp->client_id);
        return LQ_ERR_CONFIG;
    }
    if (conf_set(conf, "group.id", sp->group_id, errstr, errstr_size))
        return LQ_ERR_CONFIG;
    return conf_set_list(conf, consumer, errstr, errstr_size);
}

static lq_err_t conf_passthrough(rd_kafka_conf_t *conf, const lq_config_t *cfg, char *errstr,
                                 size_t errstr_size)
{
    size_t i, n = cfg ? lq_config_passthrough_count(cfg) : 0;

    for (i = 0; i < n; i++) {
        const char *k, *v;
        lq_config_passthrough_get(cfg, i, &k, &v);
        if (conf_set(conf, k, v, errstr, errstr_size))
            return LQ_ERR_CONFIG;
    }
    return LQ_OK;
}

static rd_kafka_conf_t *conf_build(const lq_kafka_spec_t *sp, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    /* Requests are small and latency matters more than packet count: without Nagle off,
     * Nagle's algorithm and delayed ACKs add ~40 ms per hop at low request rates. */
    if (conf_set(conf, "bootstrap.servers", sp->brokers, errstr, errstr_size) ||
        conf_set(conf, "client.id", sp->client_id, errstr, errstr_size) ||
        conf_set(conf, "socket.nagle.disable", "true", errstr, errstr_size) ||
        conf_role(conf, sp, errstr, errstr_size) ||
        conf_set_list(conf, sp->settings, errstr, errstr_size) ||
        conf_passthrough(conf, sp->cfg, errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    if (sp->on_delivery)
        rd_kafka_conf_set_dr_msg_cb(conf, sp->on_delivery);
    if (sp->on_rebalance)
        rd_kafka_conf_set_rebalance_cb(conf, sp->on_rebalance);
    rd_kafka_conf_set_opaque(conf, sp->opaque);
    return conf;
}

lq_kafka_spec_t lq_kafka_spec(const lq_common_settings_t *set, lq_kafka_role_t role,
                              const char *client_id)
{
    lq_kafka_spec_t sp;

    memset(&sp, 0, sizeof(sp));
    sp.role = role;
    sp.brokers = set->kafka.brokers;
    sp.client_id = client_id;
    sp.compression = set->kafka.compression;
    sp.cfg = set->source;
    return sp;
}

rd_kafka_t *lq_kafka_new(const lq_kafka_spec_t *sp, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    char kerr[256];

    if (!sp->brokers || !sp->client_id) {
        snprintf(errstr, errstr_size, "kafka client: no brokers or client id");
        return NULL;
    }
    conf = conf_build(sp, errstr, errstr_size);
    if (!conf)
        return NULL;
    rk = rd_kafka_new(sp->role == LQ_KAFKA_CONSUMER ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf,
                      kerr, sizeof(kerr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "kafka %s: %s", sp->client_id, kerr);
        return NULL;
    }
    return rk;
}

int32_t lq_kafka_partition_of(const char *key, size_t key_len, int32_t partition_cnt)
{
    /* librdkafka's murmur2 partitioner uses neither the topic nor the opaques */
    return rd_kafka_msg_partitioner_murmur2(NULL, key, key_len, partition_cnt, NULL, NULL);
}

lq_err_t lq_kafka_create_topics(rd_kafka_t *rk, const char *const *names, const int *partitions,
                                size_t n, const char *const *configs, int timeout_ms, char *errstr,
                                size_t errstr_size)
{
    return lq_kafka_create_topics_replicated(rk, names, partitions, n, -1, configs, timeout_ms,
                                             errstr, errstr_size);
}

lq_err_t lq_kafka_create_topics_replicated(rd_kafka_t *rk, const char *const *names,
                                           const int *partitions, size_t n, int replication,
                                           const char *const *configs, int timeout_ms, char *errstr,
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
        topics[i] = rd_kafka_NewTopic_new(names[i], partitions[i], replication, kerr, sizeof(kerr));
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

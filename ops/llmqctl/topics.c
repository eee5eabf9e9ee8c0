#include "ops/llmqctl/topics.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/kafka.h"

/* llmq's topics, P.<suffix>. The dead letters have one partition: they are read rarely and in
 * order. cancels and requests.deferred have as many as requests: the worker that owns a
 * tenant's partition of one owns it in the others (range assignment), so it sees that
 * tenant's cancellations, the requests it set aside and its batch jobs. */
static const struct {
    const char *suffix;
    int single;
} topics[] = {{"requests", 0},
              {"responses", 0},
              {"usage", 0},
              {"traces", 0},
              {"requests.dlq", 1},
              {"cancels", 0},
              {"requests.deferred", 0},
              {"requests.batch", 0}};

#define N_TOPICS (sizeof(topics) / sizeof(topics[0]))

/* Copies of each partition when --replication-factor is not given: one on every broker the
 * cluster reports, up to this many. */
#define MAX_REPLICAS 3
/* Kafka's own default max.message.bytes (1 MiB + 12). It must hold a record of ingest's
 * largest body (http.max_body_bytes, 960 KiB by default) plus what ingest adds; the
 * producers' message.max.bytes (librdkafka: 1000000) is the tighter bound. Set on every
 * topic so that a dead letter or a deferred request fits wherever its request did, whatever
 * the brokers' message.max.bytes. */
#define MAX_MESSAGE_BYTES 1048588

typedef struct topic_settings {
    int partitions, replicas, min_insync;
    long long max_message_bytes;
    char min_insync_s[16], max_message_s[24];
} topic_settings_t;

/* An integer option in [min, max] into *out, or dflt when it was not given; 2 after saying
 * what is wrong with it. */
static int int_opt(const ctl_call_t *c, const char *name, long long dflt, long long min,
                   long long max, long long *out)
{
    const char *v = ctl_opt(c, name);
    char *end;

    *out = dflt;
    if (!v)
        return 0;
    *out = strtoll(v, &end, 10);
    if (end == v || *end || *out < min || *out > max)
        return ctl_fail(2, "%s must be a number from %lld to %lld", name, min, max);
    return 0;
}

/* The number of brokers the cluster reports, up to MAX_REPLICAS; -1 when it does not answer. */
static int cluster_replicas(rd_kafka_t *rk)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, NULL, &md, 15000);
    int n;

    if (e != RD_KAFKA_RESP_ERR_NO_ERROR || !md) {
        ctl_fail(1, "cluster metadata: %s", rd_kafka_err2str(e));
        return -1;
    }
    n = md->broker_cnt < MAX_REPLICAS ? md->broker_cnt : MAX_REPLICAS;
    rd_kafka_metadata_destroy(md);
    return n;
}

/* The options, and the replication the cluster allows where they do not say; 0 or the exit
 * status. A write needs min.insync.replicas copies: 2 of 3 lets a broker fail without losing
 * an acknowledged record or refusing writes. */
static int read_settings(const ctl_call_t *c, rd_kafka_t *rk, topic_settings_t *t)
{
    long long parts, rf, isr, mmb;

    if (int_opt(c, "--partitions", 8, 1, 100000, &parts) ||
        int_opt(c, "--replication-factor", 0, 1, 32767, &rf) ||
        int_opt(c, "--min-insync-replicas", 0, 1, 32767, &isr) ||
        int_opt(c, "--max-message-bytes", MAX_MESSAGE_BYTES, 65536, 1073741824, &mmb))
        return 2;
    if (rf == 0)
        rf = cluster_replicas(rk);
    if (rf < 0)
        return 1;
    if (isr == 0)
        isr = rf >= 3 ? 2 : 1;
    if (isr > rf)
        return ctl_fail(2, "--min-insync-replicas (%lld) is more than the replicas (%lld)", isr,
                        rf);
    t->partitions = (int)parts;
    t->replicas = (int)rf;
    t->min_insync = (int)isr;
    t->max_message_bytes = mmb;
    snprintf(t->min_insync_s, sizeof(t->min_insync_s), "%d", t->min_insync);
    snprintf(t->max_message_s, sizeof(t->max_message_s), "%lld", mmb);
    return 0;
}

int ctl_topics_create(const ctl_call_t *c)
{
    lq_kafka_spec_t spec = {.role = LQ_KAFKA_ADMIN, .brokers = c->brokers, .client_id = "llmqctl"};
    topic_settings_t t;
    const char *configs[] = {"min.insync.replicas", t.min_insync_s, "max.message.bytes",
                             t.max_message_s, NULL};
    int partitions[N_TOPICS];
    char n[N_TOPICS][256], errstr[512];
    const char *names[N_TOPICS];
    rd_kafka_t *rk;
    size_t k;
    int rc;

    rk = lq_kafka_new(&spec, errstr, sizeof(errstr));
    if (!rk)
        return ctl_fail(1, "%s", errstr);
    rc = read_settings(c, rk, &t);
    if (rc)
        goto out;
    for (k = 0; k < N_TOPICS; k++) {
        snprintf(n[k], sizeof(n[k]), "%s.%s", ctl_opt_or(c, "--prefix", "llmq"), topics[k].suffix);
        names[k] = n[k];
        partitions[k] = topics[k].single ? 1 : t.partitions;
    }
    if (lq_kafka_create_topics_replicated(rk, names, partitions, N_TOPICS, t.replicas, configs,
                                          15000, errstr, sizeof(errstr)))
        rc = ctl_fail(1, "%s", errstr);
    else
        printf("topics ready: %s, %s, %s, %s, %s, %s (%d partitions), %s; replication factor "
               "%d, min.insync.replicas %d, max.message.bytes %lld\n",
               n[0], n[5], n[6], n[1], n[2], n[3], t.partitions, n[4], t.replicas, t.min_insync,
               t.max_message_bytes);
out:
    rd_kafka_destroy(rk);
    return rc;
}

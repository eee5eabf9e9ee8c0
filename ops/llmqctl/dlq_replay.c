#include "ops/llmqctl/dlq_replay.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/kafka.h"
#include "schemas/codec.h"

#define REPLAY_GROUP   "llmq-dlq-replay"
#define FIRST_WAIT_MS  15000 /* joining the consumer group takes seconds */
#define QUIET_MS       3000  /* then the topic is read until it has been quiet this long */
#define FLUSH_MS       30000
#define MAX_PARTITIONS 1024 /* of the dead-letter topic */

typedef struct replay {
    rd_kafka_t *consumer, *producer;
    lq_codec_t *codec;
    char dlq[256], requests[256];
    int dry_run;
    long max; /* < 0: no limit */
    long replayed, skipped, failed;
    /* per partition: its end when the replay first read it (-1 = not read yet), and the
     * offset after the last record handled (0 = none). Records past that end are the ones
     * dead-lettered while the replay runs — perhaps its own copies failing again — and wait
     * for the next replay, so a replay always ends. */
    int64_t end[MAX_PARTITIONS], next[MAX_PARTITIONS];
} replay_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    replay_t *r = opaque;

    (void)rk;
    if (m->err) {
        fprintf(stderr, "llmqctl: %s\n", rd_kafka_err2str(m->err));
        r->failed++;
    }
}

static int replay_open(replay_t *r, const ctl_call_t *c)
{
    /* offsets are committed by hand, once the copies are acknowledged */
    static const char *const consumer_settings[] = {"enable.auto.commit", "false", NULL};
    const lq_kafka_spec_t cs = {.role = LQ_KAFKA_CONSUMER,
                                .brokers = c->brokers,
                                .client_id = "llmqctl",
                                .group_id = ctl_opt_or(c, "--group", REPLAY_GROUP),
                                .settings = consumer_settings};
    const lq_kafka_spec_t ps = {.role = LQ_KAFKA_PRODUCER,
                                .brokers = c->brokers,
                                .client_id = "llmqctl",
                                .on_delivery = on_delivery,
                                .opaque = r};
    rd_kafka_topic_partition_list_t *subs;
    rd_kafka_resp_err_t e;
    char errstr[512];

    if (lq_codec_create(&r->codec, errstr, sizeof(errstr)))
        return ctl_fail(1, "%s", errstr);
    r->consumer = lq_kafka_new(&cs, errstr, sizeof(errstr));
    if (r->consumer)
        r->producer = lq_kafka_new(&ps, errstr, sizeof(errstr));
    if (!r->producer)
        return ctl_fail(1, "%s", errstr);
    rd_kafka_poll_set_consumer(r->consumer);
    subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, r->dlq, RD_KAFKA_PARTITION_UA);
    e = rd_kafka_subscribe(r->consumer, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e)
        return ctl_fail(1, "subscribe to %s: %s", r->dlq, rd_kafka_err2str(e));
    return 0;
}

static void replay_send(replay_t *r, const lq_chat_request_t *req)
{
    char errstr[512];
    const void *buf;
    size_t len;

    if (lq_encode_chat_request(r->codec, req, &buf, &len, errstr, sizeof(errstr)) ||
        rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(r->requests),
                          RD_KAFKA_V_KEY(req->tenant_id, strlen(req->tenant_id)),
                          RD_KAFKA_V_VALUE((void *)buf, len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) {
        fprintf(stderr, "llmqctl: cannot replay %s\n", req->job_id);
        r->failed++;
    }
}

static void replay_one(replay_t *r, const rd_kafka_message_t *m)
{
    lq_chat_request_t req;
    char errstr[512];

    if (lq_decode_chat_request(r->codec, m->payload, m->len, &req, errstr, sizeof(errstr))) {
        fprintf(stderr, "skip p%d@%lld: not a request llmq can read (%s)\n", m->partition,
                (long long)m->offset, errstr);
        r->skipped++;
        return;
    }
    /* the original caller of a sync or streaming request is gone: it runs as a job */
    req.attempt++;
    req.mode = LQ_MODE_ASYNC;
    free(req.reply_topic);
    req.reply_topic = NULL;
    req.deadline_ms = 0;
    printf("%s %s tenant %s model %s (replay %d)\n", r->dry_run ? "would replay" : "replay",
           req.job_id, req.tenant_id, req.model, req.attempt);
    if (!r->dry_run)
        replay_send(r, &req);
    r->replayed++;
    lq_chat_request_clear(&req);
}

/* Is m past the end its partition had when the replay first read it? Such a partition is
 * paused: the replay is done with it. */
static int past_end(replay_t *r, const rd_kafka_message_t *m)
{
    int32_t p = m->partition;
    int64_t lo = 0, hi = 0;
    const char *topic = rd_kafka_topic_name(m->rkt);

    if (p < 0 || p >= MAX_PARTITIONS)
        return 0;
    if (r->end[p] < 0) {
        r->end[p] = INT64_MAX;
        if (rd_kafka_query_watermark_offsets(r->consumer, topic, p, &lo, &hi, 5000) == 0)
            r->end[p] = hi;
    }
    if (m->offset < r->end[p])
        return 0;
    {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, p);
        rd_kafka_pause_partitions(r->consumer, l);
        rd_kafka_topic_partition_list_destroy(l);
    }
    return 1;
}

static void replay_read(replay_t *r)
{
    int64_t idle_until = lq_mono_ms() + FIRST_WAIT_MS;

    while (lq_mono_ms() < idle_until && (r->max < 0 || r->replayed + r->skipped < r->max)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->consumer, 200);
        if (!m)
            continue;
        if (!m->err && !past_end(r, m)) {
            idle_until = lq_mono_ms() + QUIET_MS;
            replay_one(r, m);
            if (m->partition >= 0 && m->partition < MAX_PARTITIONS)
                r->next[m->partition] = m->offset + 1;
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            fprintf(stderr, "llmqctl: %s\n", rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
}

/* Commit what was handled, not the consumer's position: a record read past a partition's
 * end was not replayed. */
static rd_kafka_resp_err_t replay_commit(replay_t *r)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t e;
    int32_t p;

    for (p = 0; p < MAX_PARTITIONS; p++)
        if (r->next[p] > 0)
            rd_kafka_topic_partition_list_add(l, r->dlq, p)->offset = r->next[p];
    e = l->cnt ? rd_kafka_commit(r->consumer, l, 0) : RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_destroy(l);
    return e;
}

static int replay_finish(replay_t *r)
{
    rd_kafka_resp_err_t e;

    if (r->dry_run) {
        printf("%ld request(s) would be replayed, %ld unreadable; nothing changed\n", r->replayed,
               r->skipped);
        return 0;
    }
    if (rd_kafka_flush(r->producer, FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR || r->failed)
        return ctl_fail(1, "not every replay reached Kafka; offsets not committed (run again)");
    if (r->replayed + r->skipped > 0) {
        e = replay_commit(r);
        if (e)
            return ctl_fail(1, "commit: %s", rd_kafka_err2str(e));
    }
    printf("replayed %ld request(s) from %s to %s; %ld unreadable skipped\n", r->replayed, r->dlq,
           r->requests, r->skipped);
    return 0;
}

static void replay_close(replay_t *r)
{
    if (r->consumer) {
        rd_kafka_consumer_close(r->consumer);
        rd_kafka_destroy(r->consumer);
    }
    if (r->producer)
        rd_kafka_destroy(r->producer);
    lq_codec_destroy(r->codec);
}

int ctl_dlq_replay(const ctl_call_t *c)
{
    const char *prefix = ctl_opt_or(c, "--prefix", "llmq");
    replay_t r;
    int rc;

    memset(&r, 0, sizeof(r));
    for (rc = 0; rc < MAX_PARTITIONS; rc++)
        r.end[rc] = -1;
    r.dry_run = ctl_opt(c, "--dry-run") != NULL;
    r.max = atol(ctl_opt_or(c, "--max", "-1"));
    snprintf(r.dlq, sizeof(r.dlq), "%s.requests.dlq", prefix);
    snprintf(r.requests, sizeof(r.requests), "%s.requests", prefix);
    rc = replay_open(&r, c);
    if (rc == 0) {
        replay_read(&r);
        rc = replay_finish(&r);
    }
    replay_close(&r);
    return rc;
}

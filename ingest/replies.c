#include "ingest/replies.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "common/clock.h"
#include "common/hashmap.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "schemas/codec.h"

typedef struct waiter_entry {
    void *waiter;
    int64_t deadline_ms;
    int64_t idle_ms; /* streams: each chunk moves the deadline to now + idle_ms */
} waiter_entry_t;

struct ingest_replies {
    rd_kafka_t *rk;
    pthread_t consumer_thread, sweeper_thread;
    int consumer_started, sweeper_started;
    atomic_int stopping;
    pthread_mutex_t mu;
    lq_hashmap_t *waiters;
    ingest_reply_cb on_reply;
    ingest_chunk_cb on_chunk;
    ingest_timeout_cb on_timeout;
    lq_metric_t *m_unmatched;
};

/* A piece of a streamed answer (a ChatChunk of len bytes, from the reply topic or a worker's
 * direct reply): the waiter stays registered. The callback runs under the lock, so a
 * concurrent cancel cannot free the waiter meanwhile. 0, or -1 when it does not decode. */
static int hand_chunk(ingest_replies_t *r, lq_codec_t *codec, const void *buf, size_t len,
                      const char *from)
{
    lq_chat_chunk_t chunk;
    waiter_entry_t *w;
    char errstr[256];

    if (lq_decode_chat_chunk(codec, buf, len, &chunk, errstr, sizeof(errstr))) {
        LQ_WARN("%s: undecodable chunk: %s", from, errstr);
        return -1;
    }
    pthread_mutex_lock(&r->mu);
    w = lq_hashmap_get(r->waiters, chunk.job_id);
    if (w) {
        if (w->idle_ms)
            w->deadline_ms = lq_mono_ms() + w->idle_ms;
        if (r->on_chunk)
            r->on_chunk(w->waiter, &chunk);
    }
    pthread_mutex_unlock(&r->mu);
    if (!w)
        lq_metric_add(r->m_unmatched, 1);
    lq_chat_chunk_clear(&chunk);
    return 0;
}

/* A job's result (a ChatResponse of len bytes, from the reply topic or a worker's direct
 * reply): its waiter leaves the table, then gets it. 0, or -1 when it does not decode. */
static int hand_reply(ingest_replies_t *r, lq_codec_t *codec, const void *buf, size_t len,
                      const char *from)
{
    lq_chat_response_t resp;
    waiter_entry_t *w;
    char errstr[256];

    if (!codec || lq_decode_chat_response(codec, buf, len, &resp, errstr, sizeof(errstr))) {
        LQ_WARN("%s: undecodable reply: %s", from, codec ? errstr : "no codec");
        return -1;
    }
    pthread_mutex_lock(&r->mu);
    w = lq_hashmap_remove(r->waiters, resp.job_id);
    pthread_mutex_unlock(&r->mu);
    if (w) {
        r->on_reply(w->waiter, &resp);
        free(w);
    } else {
        lq_metric_add(r->m_unmatched, 1); /* timed out, answered already, or an earlier run */
    }
    lq_chat_response_clear(&resp);
    return 0;
}

/* A piece of a job's reply, a chunk or the result, by its fingerprint. */
static int hand(ingest_replies_t *r, const void *buf, size_t len, const char *from)
{
    lq_codec_t *codec = lq_codec_thread();

    if (codec && lq_codec_identify(codec, buf, len) == LQ_SCHEMA_CHAT_CHUNK)
        return hand_chunk(r, codec, buf, len, from);
    return hand_reply(r, codec, buf, len, from);
}

int ingest_replies_deliver(ingest_replies_t *r, const void *buf, size_t len)
{
    return hand(r, buf, len, "direct reply");
}

static void *consumer_main(void *arg)
{
    ingest_replies_t *r = arg;

    while (!atomic_load(&r->stopping)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 100);

        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                LQ_WARN("reply topic: %s", rd_kafka_message_errstr(m));
        } else {
            hand(r, m->payload, m->len, "reply topic");
        }
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

typedef struct sweep {
    int64_t now;
    char **expired;
    size_t n, cap;
} sweep_t;

static void collect_expired(const char *key, void *value, void *arg)
{
    sweep_t *s = arg;
    waiter_entry_t *w = value;

    if (w->deadline_ms > s->now)
        return;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        char **np = realloc(s->expired, ncap * sizeof(char *));
        if (!np)
            return;
        s->expired = np;
        s->cap = ncap;
    }
    s->expired[s->n] = strdup(key);
    if (s->expired[s->n])
        s->n++;
}

static void sweep_once(ingest_replies_t *r, int64_t now)
{
    sweep_t s = {now, NULL, 0, 0};
    size_t i;

    pthread_mutex_lock(&r->mu);
    lq_hashmap_foreach(r->waiters, collect_expired, &s);
    for (i = 0; i < s.n; i++) {
        waiter_entry_t *w = lq_hashmap_remove(r->waiters, s.expired[i]);
        free(s.expired[i]);
        s.expired[i] = (char *)w; /* reuse the slot for the entry */
    }
    pthread_mutex_unlock(&r->mu);
    for (i = 0; i < s.n; i++) {
        waiter_entry_t *w = (waiter_entry_t *)s.expired[i];
        if (w) {
            r->on_timeout(w->waiter);
            free(w);
        }
    }
    free(s.expired);
}

static void *sweeper_main(void *arg)
{
    ingest_replies_t *r = arg;

    while (!atomic_load(&r->stopping)) {
        nanosleep(&(struct timespec){0, 50 * 1000000}, NULL);
        sweep_once(r, lq_mono_ms());
    }
    sweep_once(r, INT64_MAX);
    return NULL;
}

/* Replies matter for seconds: the topic keeps an hour, so it never grows without bound. */
static void create_topic(rd_kafka_t *rk, const char *topic)
{
    static const char *const configs[] = {"retention.ms", "3600000", NULL};
    const char *names[1] = {topic};
    int partitions[1] = {1};
    char cerr[256];

    if (lq_kafka_create_topics(rk, names, partitions, 1, configs, 5000, cerr, sizeof(cerr)))
        LQ_DEBUG("reply topic %s not created through the admin API (%s); relying on "
                 "auto-creation",
                 topic, cerr);
}

static int leader_pending(rd_kafka_resp_err_t e)
{
    /* __UNKNOWN_PARTITION: on a cluster, a broker that has not heard of the topic yet */
    return e == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
           e == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
           e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e == RD_KAFKA_RESP_ERR__TIMED_OUT ||
           e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
}

/* The end offset of a partition. A topic created a moment ago may not have its leader yet:
 * wait for it. */
static rd_kafka_resp_err_t partition_end(rd_kafka_t *rk, const char *topic, int partition,
                                         int64_t *hi)
{
    int64_t lo = 0, give_up = lq_mono_ms() + 15000;
    rd_kafka_resp_err_t e;

    for (;;) {
        e = rd_kafka_query_watermark_offsets(rk, topic, partition, &lo, hi, 5000);
        if (!e || !leader_pending(e) || lq_mono_ms() >= give_up)
            return e;
        nanosleep(&(struct timespec){0, 200 * 1000000}, NULL);
    }
}

/* Watch every partition of topic from its current end: replies only ever concern requests
 * made from now on. The offsets are resolved now, so none is missed while resolving later. */
static lq_err_t assign_from_end(rd_kafka_t *rk, const char *topic, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *parts;
    lq_err_t err = LQ_ERR_KAFKA;
    int np, i;

    create_topic(rk, topic);
    np = lq_kafka_partition_count(rk, topic, 15000);
    if (np <= 0) {
        snprintf(errstr, errstr_size, "reply topic %s: not available from the brokers", topic);
        return LQ_ERR_KAFKA;
    }
    parts = rd_kafka_topic_partition_list_new(np);
    for (i = 0; i < np; i++) {
        int64_t hi = 0;
        rd_kafka_resp_err_t e = partition_end(rk, topic, i, &hi);
        if (e) {
            snprintf(errstr, errstr_size, "reply topic %s: %s", topic, rd_kafka_err2str(e));
            goto out;
        }
        rd_kafka_topic_partition_list_add(parts, topic, i)->offset = hi;
    }
    if (rd_kafka_assign(rk, parts)) {
        snprintf(errstr, errstr_size, "reply topic %s: cannot assign", topic);
        goto out;
    }
    err = LQ_OK;
out:
    rd_kafka_topic_partition_list_destroy(parts);
    return err;
}

lq_err_t ingest_replies_create(ingest_replies_t **out, const lq_common_settings_t *set,
                               const char *topic, long long fetch_wait_ms, ingest_reply_cb on_reply,
                               ingest_chunk_cb on_chunk, ingest_timeout_cb on_timeout, char *errstr,
                               size_t errstr_size)
{
    char fetch_wait[24];
    const char *const settings[] = {"enable.partition.eof",
                                    "false",
                                    "fetch.wait.max.ms",
                                    fetch_wait,
                                    "fetch.error.backoff.ms",
                                    "50",
                                    "allow.auto.create.topics",
                                    "true",
                                    "enable.auto.commit",
                                    "false",
                                    NULL};
    lq_kafka_spec_t spec = lq_kafka_spec(set, LQ_KAFKA_CONSUMER, "llmq-ingest-replies");
    ingest_replies_t *r = calloc(1, sizeof(*r));
    lq_err_t err = LQ_ERR_NOMEM;

    *out = NULL;
    if (!r)
        return LQ_ERR_NOMEM;
    snprintf(fetch_wait, sizeof(fetch_wait), "%lld", fetch_wait_ms);
    pthread_mutex_init(&r->mu, NULL);
    r->on_reply = on_reply;
    r->on_chunk = on_chunk;
    r->on_timeout = on_timeout;
    r->waiters = lq_hashmap_create(1024);
    r->m_unmatched = lq_metrics_counter("llmq_ingest_replies_unmatched_total",
                                        "replies that arrived after their request gave up", NULL);
    if (!r->waiters)
        goto fail;
    spec.group_id = "llmq-ingest-replies"; /* never joins: partitions are assigned */
    spec.settings = settings;
    r->rk = lq_kafka_new(&spec, errstr, errstr_size);
    if (!r->rk) {
        err = LQ_ERR_KAFKA;
        goto fail;
    }
    err = assign_from_end(r->rk, topic, errstr, errstr_size);
    if (err)
        goto fail;
    err = LQ_ERR_NOMEM;
    if (pthread_create(&r->consumer_thread, NULL, consumer_main, r) != 0)
        goto fail;
    r->consumer_started = 1;
    if (pthread_create(&r->sweeper_thread, NULL, sweeper_main, r) != 0)
        goto fail;
    r->sweeper_started = 1;
    *out = r;
    return LQ_OK;
fail:
    ingest_replies_destroy(r);
    return err;
}

void ingest_replies_destroy(ingest_replies_t *r)
{
    if (!r)
        return;
    atomic_store(&r->stopping, 1);
    if (r->consumer_started)
        pthread_join(r->consumer_thread, NULL);
    if (r->sweeper_started)
        pthread_join(r->sweeper_thread, NULL);
    if (r->rk) {
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
    }
    if (r->waiters)
        lq_hashmap_destroy(r->waiters);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

lq_err_t ingest_replies_wait(ingest_replies_t *r, const char *job_id, void *waiter,
                             int64_t deadline_mono_ms, int64_t idle_ms)
{
    waiter_entry_t *w = malloc(sizeof(*w));
    lq_err_t err;

    if (!w)
        return LQ_ERR_NOMEM;
    w->waiter = waiter;
    w->deadline_ms = deadline_mono_ms;
    w->idle_ms = idle_ms;
    pthread_mutex_lock(&r->mu);
    err = lq_hashmap_put(r->waiters, job_id, w);
    pthread_mutex_unlock(&r->mu);
    if (err)
        free(w);
    return err;
}

void *ingest_replies_cancel(ingest_replies_t *r, const char *job_id)
{
    waiter_entry_t *w;
    void *waiter = NULL;

    pthread_mutex_lock(&r->mu);
    w = lq_hashmap_remove(r->waiters, job_id);
    pthread_mutex_unlock(&r->mu);
    if (w) {
        waiter = w->waiter;
        free(w);
    }
    return waiter;
}

size_t ingest_replies_pending(ingest_replies_t *r)
{
    size_t n;

    pthread_mutex_lock(&r->mu);
    n = lq_hashmap_size(r->waiters);
    pthread_mutex_unlock(&r->mu);
    return n;
}

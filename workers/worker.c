/* A worker's lifecycle: create (settings, tables, metrics, Kafka clients, admin endpoint),
 * run (the event loop until stopped, then the drain), destroy. The steps of a request are in
 * the files named for them: consumer.c, queueing.c, batches.c, attempts.c, http_call.c,
 * mock_call.c, publish.c, produce.c, partitions.c, cancels.c, timers.c, event_loop.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/kafka_lag.h"
#include "common/log.h"
#include "schemas/codec.h"
#include "workers/batches.h"
#include "workers/cancels.h"
#include "workers/consumer.h"
#include "workers/event_loop.h"
#include "workers/host_slots.h"
#include "workers/limits_gate.h"
#include "workers/status.h"
#include "workers/model_catalogue.h"
#include "workers/partitions.h"
#include "workers/produce.h"
#include "workers/provider_metrics.h"
#include "workers/queueing.h"
#include "workers/tracing.h"
#include "workers/worker_internal.h"

/* ---- settings and tables ---- */

static void read_settings(worker_t *w, const worker_settings_t *set)
{
    char host[64] = "worker";

    w->set = *set;
    w->topics = &w->set.common.topic;
    if (*set->worker.id) {
        snprintf(w->id, sizeof(w->id), "%s", set->worker.id);
    } else {
        gethostname(host, sizeof(host) - 1);
        snprintf(w->id, sizeof(w->id), "%s-%d", host, (int)getpid());
    }
    w->max_inflight = (size_t)set->worker.max_inflight;
    w->mock_latency_us = set->mock.latency_ms * 1000;
    w->mock_interval_us = set->mock.token_interval_ms * 1000;
    w->mock_tokens = (int)set->mock.completion_tokens;
    w->max_attempts = (int)set->provider.max_attempts;
    w->connect_timeout_ms = (long)set->provider.connect_timeout_ms;
    w->timeout_ms = (long)set->provider.timeout_ms;
    w->first_byte_timeout_ms = (long)set->provider.first_byte_timeout_ms;
    w->max_response = (size_t)set->provider.max_response_bytes;
}

static char *read_text_file(const char *path, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f) {
        snprintf(errstr, errstr_size, "%s: cannot open", path);
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < 16 * 1024 * 1024 &&
        fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
        fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = '\0';
    } else {
        free(buf);
        buf = NULL;
        snprintf(errstr, errstr_size, "%s: cannot read (or larger than 16 MiB)", path);
    }
    fclose(f);
    return buf;
}

/* The routing table, the price table, and per-endpoint state. */
static int load_tables(worker_t *w, char *errstr, size_t errstr_size)
{
    const char *rpath = w->set.routing.file, *ppath = w->set.pricing.file;
    char *text = NULL, sub_err[300];
    size_t n, i;

    if (*rpath && !(text = read_text_file(rpath, errstr, errstr_size)))
        return -1;
    w->routing = routing_load(text, &w->set, sub_err, sizeof(sub_err));
    free(text);
    if (!w->routing) {
        snprintf(errstr, errstr_size, "routing%s%s: %s", *rpath ? " file " : "", rpath, sub_err);
        return -1;
    }
    text = NULL;
    if (*ppath && !(text = read_text_file(ppath, errstr, errstr_size)))
        return -1;
    w->pricing = pricing_load(text, sub_err, sizeof(sub_err));
    free(text);
    if (!w->pricing) {
        snprintf(errstr, errstr_size, "pricing: %s", sub_err);
        return -1;
    }
    n = routing_endpoint_count(w->routing);
    w->breakers = calloc(n, sizeof(*w->breakers));
    w->key_next = calloc(n, sizeof(*w->key_next));
    w->jobs = lq_hashmap_create(1024);
    w->cancelled = lq_hashmap_create(1024);
    if (!w->breakers || !w->key_next || !w->jobs || !w->cancelled || host_slots_init(w)) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    for (i = 0; i < n; i++)
        breaker_init(&w->breakers[i], (int)w->set.breaker.failures, w->set.breaker.open_ms);
    return 0;
}

static void register_metrics(worker_t *w)
{
    size_t i;

    w->m_inflight = lq_metrics_gauge("llmq_worker_inflight_jobs", "jobs in flight", NULL);
    w->m_succeeded = lq_metrics_counter("llmq_worker_jobs_total", "finished jobs by status",
                                        "status=\"succeeded\"");
    w->m_failed = lq_metrics_counter("llmq_worker_jobs_total", "finished jobs by status",
                                     "status=\"failed\"");
    w->m_cancelled = lq_metrics_counter("llmq_worker_jobs_total", "finished jobs by status",
                                        "status=\"cancelled\"");
    w->m_retries = lq_metrics_counter("llmq_worker_retries_total", "provider calls retried", NULL);
    w->m_fallbacks = lq_metrics_counter("llmq_worker_fallbacks_total",
                                        "jobs moved to their next candidate endpoint", NULL);
    w->m_output_redacted = lq_metrics_counter("llmq_worker_output_secrets_redacted_total",
                                              "credentials masked in providers' answers", NULL);
    w->m_direct = lq_metrics_counter("llmq_worker_direct_replies_total",
                                     "results handed to the waiting ingest node directly", NULL);
    w->m_direct_fallback =
        lq_metrics_counter("llmq_worker_direct_reply_fallbacks_total",
                           "direct replies the node did not take, sent to its reply topic", NULL);
    w->m_chunks = lq_metrics_counter("llmq_worker_stream_chunks_total",
                                     "streamed pieces of answers sent to reply topics", NULL);
    w->m_dead = lq_metrics_counter("llmq_worker_dead_letters_total",
                                   "requests copied to the dead-letter topic", NULL);
    w->m_produce_failed =
        lq_metrics_counter("llmq_worker_produce_failed_total", "results Kafka did not take", NULL);
    for (i = 0; i < SRC_COUNT; i++) {
        char topic[256], labels[280];
        if (lq_metrics_label_escape(topic, sizeof(topic), partitions_topic(w, (job_source_t)i)))
            continue;
        snprintf(labels, sizeof(labels), "topic=\"%s\"", topic);
        w->m_paused[i] = lq_metrics_gauge("llmq_worker_paused_partitions",
                                          "partitions this worker paused, by topic", labels);
    }
}

/* ---- Kafka clients ---- */

static lq_err_t producer_create(worker_t *w, char *errstr, size_t errstr_size)
{
    /* the worker's records wait on no caller (worker.linger_ms): batched longer than the
     * ingest node's, whose records a caller waits for */
    char linger[24];
    const char *const settings[] = {"message.timeout.ms", "60000", "linger.ms", linger, NULL};
    lq_kafka_spec_t spec = lq_kafka_spec(&w->set.common, LQ_KAFKA_PRODUCER, "llmq-worker");

    snprintf(linger, sizeof(linger), "%lld", w->set.worker.linger_ms);
    spec.settings = settings;
    spec.on_delivery = produce_delivered;
    spec.opaque = w;
    w->producer = lq_kafka_new(&spec, errstr, errstr_size);
    return w->producer ? LQ_OK : LQ_ERR_KAFKA;
}

static lq_err_t consumer_create(worker_t *w, char *errstr, size_t errstr_size)
{
    /* offsets are stored by the worker as jobs finish (out-of-order completion, in-order
     * commit) and committed in the background */
    char fetch_wait[24];
    const char *const settings[] = {"enable.auto.commit",
                                    "true",
                                    "enable.auto.offset.store",
                                    "false",
                                    "auto.commit.interval.ms",
                                    "1000",
                                    "partition.assignment.strategy",
                                    "range",
                                    "fetch.wait.max.ms",
                                    fetch_wait,
                                    "queued.max.messages.kbytes",
                                    "16384",
                                    "session.timeout.ms",
                                    "10000",
                                    "heartbeat.interval.ms",
                                    "1000",
                                    NULL};
    lq_kafka_spec_t spec = lq_kafka_spec(&w->set.common, LQ_KAFKA_CONSUMER, "llmq-worker");

    snprintf(fetch_wait, sizeof(fetch_wait), "%lld", w->set.worker.fetch_wait_ms);
    spec.group_id = w->set.worker.group;
    spec.settings = settings;
    spec.on_rebalance = consumer_rebalance;
    spec.opaque = w;
    w->consumer = lq_kafka_new(&spec, errstr, errstr_size);
    if (!w->consumer)
        return LQ_ERR_KAFKA;
    rd_kafka_poll_set_consumer(w->consumer);
    w->lag = lq_kafka_lag_new(w->consumer, w->set.worker.group);
    return LQ_OK;
}

/* The partition count of topic in md: -1 when the topic is not there. */
static int partition_count(const struct rd_kafka_metadata *md, const char *topic)
{
    int i;

    for (i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0)
            return md->topics[i].err ? -1 : md->topics[i].partition_cnt;
    return -1;
}

/* The topics that must be co-partitioned: requests, cancellations, deferred requests, batch
 * jobs (range assignment gives partition i of each to the same worker). */
#define N_COPARTITIONED 4

/* The partition counts of names into n (-1: not there); 0, or -1 when the cluster did not
 * answer. */
static int read_counts(worker_t *w, const char *const names[N_COPARTITIONED],
                       int n[N_COPARTITIONED])
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(w->consumer, 1, NULL, &md, 5000);
    int i;

    if (e) {
        LQ_WARN("topic metadata: %s", rd_kafka_err2str(e));
        return -1;
    }
    for (i = 0; i < N_COPARTITIONED; i++)
        n[i] = partition_count(md, names[i]);
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* The first of n that is not there (-1: none). */
static int missing_topic(const int n[N_COPARTITIONED])
{
    int i;

    for (i = 0; i < N_COPARTITIONED; i++)
        if (n[i] < 0)
            return i;
    return -1;
}

/* The co-partitioned topics must have as many partitions each: refuse to start otherwise. A
 * topic just made may take a moment to show; a cluster that does not answer is not refused
 * here (the consumer waits for it). */
static lq_err_t check_partitions(worker_t *w, char *errstr, size_t errstr_size)
{
    const char *const names[N_COPARTITIONED] = {w->topics->requests, w->topics->cancels,
                                                w->set.topic.deferred, w->topics->batch};
    int n[N_COPARTITIONED], tries = 0, i;

    do {
        if (tries && usleep(200000) != 0)
            break;
        if (read_counts(w, names, n))
            return LQ_OK;
    } while (missing_topic(n) >= 0 && ++tries < 50);
    if ((i = missing_topic(n)) >= 0) {
        snprintf(errstr, errstr_size,
                 "topic %s does not exist (llmqctl topics create makes llmq's topics)", names[i]);
        return LQ_ERR_CONFIG;
    }
    if (n[0] == n[1] && n[0] == n[2] && n[0] == n[3])
        return LQ_OK;
    snprintf(errstr, errstr_size,
             "topics %s (%d partitions), %s (%d), %s (%d) and %s (%d) must have the same number "
             "of partitions: a tenant's requests, cancellations, deferred requests and batch jobs "
             "must reach the same worker",
             names[0], n[0], names[1], n[1], names[2], n[2], names[3], n[3]);
    return LQ_ERR_CONFIG;
}

/* Requests, cancellations, deferred requests and batch jobs, co-partitioned. */
static lq_err_t subscribe(worker_t *w, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(N_COPARTITIONED);
    rd_kafka_resp_err_t e;

    rd_kafka_topic_partition_list_add(subs, w->topics->requests, RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(subs, w->topics->cancels, RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(subs, w->set.topic.deferred, RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(subs, w->topics->batch, RD_KAFKA_PARTITION_UA);
    e = rd_kafka_subscribe(w->consumer, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (!e)
        return LQ_OK;
    snprintf(errstr, errstr_size, "subscribe %s: %s", w->topics->requests, rd_kafka_err2str(e));
    return LQ_ERR_KAFKA;
}

/* ---- lifecycle ---- */

static int ready_fn(void *arg, char *why, size_t why_size)
{
    worker_t *w = arg;

    if (!atomic_load(&w->joined)) {
        snprintf(why, why_size, "not yet in the consumer group");
        return 0;
    }
    return 1;
}

static void log_start(worker_t *w)
{
    char eps[512];
    size_t o = 0, i;

    eps[0] = '\0';
    for (i = 0; i < routing_endpoint_count(w->routing) && o < sizeof(eps); i++)
        o += (size_t)snprintf(eps + o, sizeof(eps) - o, "%s%s", i ? ", " : "",
                              worker_endpoint_name(w, (int)i));
    LQ_INFO("worker %s consuming %s and %s (group %s, up to %zu in flight, %zu batch jobs held, "
            "endpoints: %s; prices %s)",
            w->id, w->topics->requests, w->topics->batch, w->set.worker.group, w->max_inflight,
            w->batch_max, eps, pricing_version(w->pricing));
}

/* Tables, tenants' keys, metrics: what the worker needs before it talks to anyone. */
static lq_err_t prepare(worker_t *w, const worker_settings_t *set, char *errstr, size_t errstr_size)
{
    int fatal = 0;

    read_settings(w, set);
    if (load_tables(w, errstr, errstr_size))
        return LQ_ERR_CONFIG;
    w->byok = worker_byok_start(&w->set.common, &fatal, errstr, errstr_size);
    if (!w->byok && fatal)
        return LQ_ERR_CONFIG;
    register_metrics(w);
    if (worker_tracing_start(w, errstr, errstr_size))
        return LQ_ERR_CONFIG;
    if (provider_metrics_init(w, errstr, errstr_size))
        return LQ_ERR_NOMEM;
    batches_init(w);
    if (cancels_init(w, errstr, errstr_size))
        return LQ_ERR_NOMEM;
    if (limits_gate_init(w, errstr, errstr_size))
        return LQ_ERR_CONFIG;
    return queueing_init(w, errstr, errstr_size);
}

/* The event loop, the Kafka clients, the subscription and the admin endpoint. */
static lq_err_t connect_all(worker_t *w, char *errstr, size_t errstr_size)
{
    lq_err_t err = event_loop_init(w, errstr, errstr_size);

    if (err)
        return err;
    err = producer_create(w, errstr, errstr_size);
    if (err)
        return err;
    err = consumer_create(w, errstr, errstr_size);
    if (err)
        return err;
    event_loop_watch_queues(w);
    err = check_partitions(w, errstr, errstr_size);
    if (err)
        return err;
    err = subscribe(w, errstr, errstr_size);
    if (err)
        return err;
    return lq_http_admin_start(&w->admin, w->set.admin.bind, (int)w->set.admin.port, ready_fn, w,
                               errstr, errstr_size);
}

lq_err_t worker_create(worker_t **out, const worker_settings_t *set, char *errstr,
                       size_t errstr_size)
{
    worker_t *w = calloc(1, sizeof(*w));
    lq_err_t err;

    *out = NULL;
    if (!w)
        return LQ_ERR_NOMEM;
    w->wake_fds[0] = w->wake_fds[1] = -1;
    w->curl_epfd = -1;
    err = prepare(w, set, errstr, errstr_size);
    if (err)
        goto fail;
    err = connect_all(w, errstr, errstr_size);
    if (err)
        goto fail;
    log_start(w);
    model_catalogue_publish(w);
    if (worker_status_start(w) != LQ_OK)
        LQ_WARN("the worker's status will not be written (out of memory)");
    *out = w;
    return LQ_OK;
fail:
    worker_destroy(w);
    return err;
}

/* Stopped: let the outputs of the jobs that finished reach Kafka, and commit their offsets. */
static void flush_and_commit(worker_t *w)
{
    rd_kafka_resp_err_t e;

    LQ_INFO("drained (%zu left); flushing results", w->inflight);
    rd_kafka_flush(w->producer, 30000);
    e = rd_kafka_commit(w->consumer, NULL, 0);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        LQ_WARN("final commit: %s", rd_kafka_err2str(e));
}

lq_err_t worker_run(worker_t *w, int (*stop_flag)(void))
{
    int stopping = 0;
    int64_t drain_deadline = 0;

    /* this thread's codec made now (a few ms), not when the first request arrives */
    if (!lq_codec_thread())
        return LQ_ERR_INVALID;

    for (;;) {
        if (!stopping && stop_flag()) {
            stopping = 1;
            drain_deadline = lq_mono_ms() + w->set.worker.drain_timeout_ms;
            consumer_pause(w, 1);
            LQ_INFO("draining %zu job(s) in flight; %zu queued left for redelivery", w->inflight,
                    w->queued);
            queueing_drop(w);
        }
        if (stopping && (w->inflight == 0 || lq_mono_ms() > drain_deadline))
            break;
        event_loop_turn(w, stopping);
    }
    flush_and_commit(w);
    return LQ_OK;
}

void worker_destroy(worker_t *w)
{
    if (!w)
        return;
    lq_http_admin_stop(w->admin);
    worker_status_stop(w);
    worker_tracing_stop(w); /* the spans of the jobs that ended */
    limits_gate_free(w);
    worker_byok_stop(w->byok);
    event_loop_unwatch_queues(w);
    if (w->consumer) {
        rd_kafka_consumer_close(w->consumer);
        rd_kafka_destroy(w->consumer);
    }
    lq_kafka_lag_free(w->lag);
    if (w->producer) {
        rd_kafka_flush(w->producer, 5000);
        rd_kafka_destroy(w->producer);
    }
    queueing_free(w);
    event_loop_free(w);
    partitions_free(w);
    free(w->heap);
    routing_free(w->routing);
    pricing_free(w->pricing);
    free(w->breakers);
    free(w->key_next);
    host_slots_free(w);
    provider_metrics_free(w);
    lq_hashmap_destroy(w->jobs);
    lq_hashmap_destroy(w->cancelled);
    cancels_free(w);
    free(w);
}

#include "sinks/sink.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "common/clock.h"
#include "common/daemon.h"
#include "common/http_admin.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/kafka_lag.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "sinks/writers.h"

struct sink {
    sink_settings_t set;
    unsigned writers; /* the tables written (sink.writers): SINK_* */
    rd_kafka_t *consumer;
    lq_kafka_lag_t *lag;
    PGconn *conn;
    atomic_int pg_ok;
    lq_http_admin_t *admin;
    lq_metric_t *m_rows, *m_batches, *m_failures, *m_batch_latency;
};

static int ready_fn(void *arg, char *why, size_t why_size)
{
    sink_t *s = arg;

    if (!atomic_load(&s->pg_ok)) {
        snprintf(why, why_size, "PostgreSQL unreachable");
        return 0;
    }
    return 1;
}

static int has_writer(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;

    while ((p = strstr(p, name))) {
        if ((p == list || p[-1] == ',' || p[-1] == ' ') &&
            (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
            return 1;
        p += n;
    }
    return 0;
}

/* The consumer of the topics the writers need. */
static lq_err_t open_consumer(sink_t *s, char *errstr, size_t errstr_size)
{
    /* sinks are not latency-critical: fewer, fuller fetches spare the brokers */
    static const char *const settings[] = {"enable.auto.commit",
                                           "false",
                                           "partition.assignment.strategy",
                                           "range",
                                           "fetch.wait.max.ms",
                                           "100",
                                           "fetch.min.bytes",
                                           "65536",
                                           "session.timeout.ms",
                                           "10000",
                                           "heartbeat.interval.ms",
                                           "1000",
                                           NULL};
    lq_kafka_spec_t spec = lq_kafka_spec(&s->set.common, LQ_KAFKA_CONSUMER, "llmq-sink");
    const char *topics[4];
    rd_kafka_topic_partition_list_t *subs;
    rd_kafka_resp_err_t e;
    size_t n = 0, i;

    spec.group_id = s->set.sink.group;
    spec.settings = settings;
    s->consumer = lq_kafka_new(&spec, errstr, errstr_size);
    if (!s->consumer)
        return LQ_ERR_KAFKA;
    rd_kafka_poll_set_consumer(s->consumer);
    s->lag = lq_kafka_lag_new(s->consumer, s->set.sink.group);
    /* a job's final response carries its usage and trace; their own topics are still read,
     * for workers that write them there (worker.event_topics, or a version before 3 of
     * ChatResponse): each row has a unique id, so one read twice is written once */
    if (s->writers & SINK_JOBS)
        topics[n++] = s->set.common.topic.requests;
    topics[n++] = s->set.common.topic.responses;
    if (s->writers & SINK_USAGE)
        topics[n++] = s->set.common.topic.usage;
    if (s->writers & SINK_TRACES)
        topics[n++] = s->set.common.topic.traces;
    subs = rd_kafka_topic_partition_list_new((int)n);
    for (i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    e = rd_kafka_subscribe(s->consumer, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e) {
        snprintf(errstr, errstr_size, "subscribe: %s", rd_kafka_err2str(e));
        return LQ_ERR_KAFKA;
    }
    return LQ_OK;
}

static lq_err_t open_database(sink_t *s, char *errstr, size_t errstr_size)
{
    int applied = 0;
    lq_err_t err = lq_pg_connect(s->set.common.pg.url, "llmq-sink", &s->conn, errstr, errstr_size);

    if (err)
        return err;
    atomic_store(&s->pg_ok, 1);
    return s->set.sink.migrate ? lq_migrations_apply(s->conn, &applied, errstr, errstr_size)
                               : LQ_OK;
}

static void register_metrics(sink_t *s)
{
    s->m_rows =
        lq_metrics_counter("llmq_sink_rows_total", "rows written (before deduplication)", NULL);
    s->m_batches = lq_metrics_counter("llmq_sink_batches_total", "batches committed", NULL);
    s->m_failures = lq_metrics_counter("llmq_sink_write_failures_total",
                                       "batch writes that failed and were retried", NULL);
    s->m_batch_latency =
        lq_metrics_histogram("llmq_sink_batch_write_seconds", "time to write one batch", NULL);
}

lq_err_t sink_create(sink_t **out, const sink_settings_t *set, char *errstr, size_t errstr_size)
{
    sink_t *s = calloc(1, sizeof(*s));
    const char *writers = set->sink.writers;
    lq_err_t err;

    *out = NULL;
    if (!s)
        return LQ_ERR_NOMEM;
    s->set = *set;
    s->writers = (has_writer(writers, "jobs") ? SINK_JOBS : 0) |
                 (has_writer(writers, "usage") ? SINK_USAGE : 0) |
                 (has_writer(writers, "traces") ? SINK_TRACES : 0);
    if (!s->writers) {
        snprintf(errstr, errstr_size,
                 "setting sink.writers: \"%s\" names none of jobs, usage, traces", writers);
        free(s);
        return LQ_ERR_CONFIG;
    }
    register_metrics(s);
    err = open_database(s, errstr, errstr_size);
    if (!err)
        err = open_consumer(s, errstr, errstr_size);
    if (!err)
        err = lq_http_admin_start(&s->admin, set->admin.bind, (int)set->admin.port, ready_fn, s,
                                  errstr, errstr_size);
    if (err)
        goto fail;
    LQ_INFO("sink writing %s%s%s(group %s)", s->writers & SINK_JOBS ? "jobs " : "",
            s->writers & SINK_USAGE ? "usage " : "", s->writers & SINK_TRACES ? "traces " : "",
            set->sink.group);
    *out = s;
    return LQ_OK;
fail:
    sink_destroy(s);
    return err;
}

static void add_message(sink_t *s, sink_batch_t *b, lq_codec_t *c, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);

    if (s->writers & SINK_JOBS && strcmp(topic, s->set.common.topic.requests) == 0)
        sink_add_request(b, c, m->payload, m->len, topic, m->partition, m->offset);
    else if (strcmp(topic, s->set.common.topic.responses) == 0)
        sink_add_response(b, c, m->payload, m->len, topic, m->partition, m->offset, s->writers);
    else if (s->writers & SINK_USAGE && strcmp(topic, s->set.common.topic.usage) == 0)
        sink_add_usage(b, c, m->payload, m->len, topic, m->partition, m->offset);
    else if (s->writers & SINK_TRACES && strcmp(topic, s->set.common.topic.traces) == 0)
        sink_add_trace(b, c, m->payload, m->len, topic, m->partition, m->offset);
}

/* Write the batch, retrying (with a fresh connection) until it is stored or we are told
 * to stop; returns 1 when stored. */
static int write_batch(sink_t *s, sink_batch_t *b, int (*stop_flag)(void))
{
    char errstr[512];
    int attempt = 0;

    for (;;) {
        int64_t t0 = lq_mono_us();
        if (s->conn && PQstatus(s->conn) == CONNECTION_OK &&
            sink_batch_write(s->conn, b, errstr, sizeof(errstr)) == LQ_OK) {
            lq_metric_observe_us(s->m_batch_latency, lq_mono_us() - t0);
            atomic_store(&s->pg_ok, 1);
            return 1;
        }
        lq_metric_add(s->m_failures, 1);
        if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
            LQ_ERROR("batch write failed: %s", errstr);
        if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
            atomic_store(&s->pg_ok, 0);
            if (s->conn)
                PQfinish(s->conn);
            s->conn = NULL;
            if (lq_pg_connect(s->set.common.pg.url, "llmq-sink", &s->conn, errstr, sizeof(errstr)))
                LQ_WARN("%s", errstr);
        }
        if (stop_flag())
            return 0;
        attempt++;
        nanosleep(&(struct timespec){attempt < 5 ? 0 : 1, attempt < 5 ? 200000000L : 0}, NULL);
    }
}

/* Run one retention statement (answering a count) and say what it deleted. */
static void purge_one(sink_t *s, const char *sql, const char *what)
{
    PGresult *res = PQexec(s->conn, sql);

    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        LQ_WARN("%s retention: %s", what, PQresultErrorMessage(res));
    else if (atoi(PQgetvalue(res, 0, 0)) > 0)
        LQ_INFO("%s retention: %s deleted", what, PQgetvalue(res, 0, 0));
    PQclear(res);
}

/* Retention, hourly (a minute after the start first): the tenants' old conversations, files
 * past their expiry (and uploads never finished), and the analytics rollups' old months (and
 * the partitions of this month and the next made ahead). */
static void purge_due(sink_t *s, int64_t *next_ms)
{
    char sql[96];

    if (lq_mono_ms() < *next_ms)
        return;
    *next_ms = lq_mono_ms() + 3600 * 1000;
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK)
        return;
    purge_one(s, "SELECT conversations_purge_due()", "conversation");
    purge_one(s, "SELECT files_purge_due()", "file");
    snprintf(sql, sizeof(sql), "SELECT analytics_maintain(%lld)", s->set.analytics.retention_days);
    purge_one(s, sql, "analytics partition");
}

/* Conversation turns whose busy mark ran out (their ingest node died before Kafka had the
 * request) are undone every 5 s (ops/migrations/0014_turn_leases.sql); the lag gauges are
 * updated. Cheap when nothing is due: called while waiting for records too. */
static void housekeeping(sink_t *s, int64_t *next_turns_ms)
{
    PGresult *res;

    lq_kafka_lag_tick(s->lag, lq_mono_ms());
    lq_daemon_release_memory(lq_mono_ms());
    if (lq_mono_ms() < *next_turns_ms)
        return;
    *next_turns_ms = lq_mono_ms() + 5000;
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK)
        return;
    res = PQexec(s->conn, "SELECT conversation_turns_expire()");
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        LQ_WARN("conversation turns: %s", PQresultErrorMessage(res));
    else if (atoi(PQgetvalue(res, 0, 0)) > 0)
        LQ_INFO("conversation turns undone (their request never reached Kafka): %s",
                PQgetvalue(res, 0, 0));
    PQclear(res);
}

lq_err_t sink_run(sink_t *s, int (*stop_flag)(void))
{
    int64_t next_purge_ms = lq_mono_ms() + 60 * 1000, next_turns_ms = 0;
    size_t batch_max = (size_t)s->set.sink.batch_max;
    int64_t batch_ms = s->set.sink.batch_ms;
    lq_codec_t *codec = lq_codec_thread();
    sink_batch_t b;

    if (!codec)
        return LQ_ERR_AVRO;
    if (sink_batch_init(&b))
        return LQ_ERR_NOMEM;
    while (!stop_flag()) {
        size_t n = 0;
        int64_t first_ms = 0;

        purge_due(s, &next_purge_ms);

        for (;;) {
            int64_t wait = 100;
            rd_kafka_message_t *m;
            housekeeping(s, &next_turns_ms); /* idle too: the lag gauge falls to 0 */
            if (n > 0) {
                wait = first_ms + batch_ms - lq_mono_ms();
                if (wait <= 0)
                    break;
            }
            m = rd_kafka_consumer_poll(s->consumer, (int)wait);
            if (!m) {
                if (n == 0 && stop_flag())
                    break;
                continue;
            }
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    LQ_WARN("consumer: %s", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                continue;
            }
            if (n == 0)
                first_ms = lq_mono_ms();
            add_message(s, &b, codec, m);
            rd_kafka_message_destroy(m);
            if (++n >= batch_max)
                break;
        }
        if (n == 0)
            continue;
        if (!write_batch(s, &b, stop_flag))
            break; /* stopping with an unwritten batch: it is redelivered, never committed */
        lq_metric_add(s->m_rows, (int64_t)sink_batch_rows(&b));
        lq_metric_add(s->m_batches, 1);
        {
            rd_kafka_resp_err_t e = rd_kafka_commit(s->consumer, NULL, 0);
            if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
                LQ_WARN("commit: %s (the batch will be delivered again and ignored)",
                        rd_kafka_err2str(e));
        }
        sink_batch_reset(&b);
    }
    sink_batch_clear(&b);
    return LQ_OK;
}

void sink_destroy(sink_t *s)
{
    if (!s)
        return;
    lq_http_admin_stop(s->admin);
    if (s->consumer) {
        rd_kafka_consumer_close(s->consumer);
        rd_kafka_destroy(s->consumer);
        lq_kafka_lag_free(s->lag);
    }
    if (s->conn)
        PQfinish(s->conn);
    free(s);
}

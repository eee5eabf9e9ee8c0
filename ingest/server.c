/* The ingest node's lifecycle: its clients, caches and threads are made at start and
 * released at stop. What happens to a request is in the step files (see http.h). */
#include "ingest/batch_runner.h"
#include "ingest/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <microhttpd.h>

#include "common/clock.h"
#include "common/daemon.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "ingest/direct_replies.h"
#include "ingest/http.h"
#include "ingest/jobs_poll.h"
#include "ingest/node.h"
#include "ingest/produce.h"
#include "ingest/reply_answer.h"
#include "ingest/size_limits.h"
#include "ingest/sse_out.h"
#include "ingest/tracing.h"
#include "schemas/codec.h"

/* the node's producers of requests (node.h), each with a slot in ingest_server.pollers */
enum { BATCHED_PRODUCER, EAGER_PRODUCER, ASYNC_PRODUCER, N_PRODUCERS };

struct ingest_server {
    ingest_node_t node;
    lq_master_key_t master;
    ingest_http_t *http;
    struct MHD_Daemon *d;
    int port;
    pthread_t health, auth_listener;
    int health_started, auth_listener_started;
    /* each producer of requests (node.h) with its delivery-report thread and its requests
     * topic, held so the topic's partitions stay known */
    struct poller {
        pthread_t thread;
        int started;
        rd_kafka_t *producer;
        rd_kafka_topic_t *topic;
        const atomic_int *stopping;
    } pollers[N_PRODUCERS];
    atomic_int stopping;
    ingest_batch_runner_t *batches; /* NULL when batches.runner is off */
};

/* ---------- threads ---------- */

/* Delivery reports are served here (produce.c), one thread per producer. */
static void *poller_main(void *arg)
{
    struct poller *p = arg;

    while (!atomic_load(p->stopping))
        rd_kafka_poll(p->producer, 50);
    return NULL;
}

static lq_err_t start_poller(ingest_server_t *s, struct poller *p, rd_kafka_t *producer)
{
    p->producer = producer;
    p->stopping = &s->stopping;
    if (pthread_create(&p->thread, NULL, poller_main, p) != 0)
        return LQ_ERR_NOMEM;
    p->started = 1;
    return LQ_OK;
}

/* Changes of keys, tenants, projects or users reach this node within a second: the
 * database notifies llmq_auth (triggers of migration 0002) and the cached answers go. */
static void *auth_listener_main(void *arg)
{
    ingest_server_t *s = arg;
    PGconn *conn = NULL;

    while (!atomic_load(&s->stopping))
        if (lq_pg_listen_poll(&conn, s->node.set.common.pg.url, "llmq-ingest-listen", "llmq_auth",
                              500) > 0)
            ingest_auth_flush(
                s->node.auth); /* a change, or a reconnection that may have missed one */
    if (conn)
        PQfinish(conn);
    return NULL;
}

/* Whether the brokers answer, for /readyz; the memory freed after a busy moment goes back. */
static void *health_main(void *arg)
{
    ingest_server_t *s = arg;
    int tick = 0;

    while (!atomic_load(&s->stopping)) {
        if (tick++ % 40 == 0) { /* every 2 s */
            const struct rd_kafka_metadata *md = NULL;
            rd_kafka_resp_err_t e = rd_kafka_metadata(s->node.producer, 0, NULL, &md, 2000);
            atomic_store(&s->node.kafka_ok,
                         e == RD_KAFKA_RESP_ERR_NO_ERROR && md && md->broker_cnt > 0);
            if (md)
                rd_kafka_metadata_destroy(md);
        }
        lq_daemon_release_memory(lq_mono_ms());
        nanosleep(&(struct timespec){0, 50 * 1000000}, NULL);
    }
    return NULL;
}

/* ---------- start ---------- */

static void read_limits(ingest_node_t *n, const ingest_settings_t *set)
{
    n->set = *set;
    n->topics = &n->set.common.topic;
    n->max_body = (size_t)set->http.max_body_bytes;
    n->max_url = (size_t)set->http.max_url_bytes;
    n->max_headers = (size_t)set->http.max_header_bytes;
    n->sync_timeout_ms = set->ingest.sync_timeout_ms;
    n->limits.max_messages = (size_t)set->ingest.max_messages;
    n->limits.max_model_len = (size_t)set->ingest.max_model_len;
    n->limits.max_stop = 4;
    n->limits.max_depth = (size_t)set->ingest.max_json_depth;
}

static void make_metrics(ingest_node_t *n)
{
    n->m_inflight =
        lq_metrics_gauge("llmq_ingest_inflight_requests", "requests being handled", NULL);
    n->m_enqueued =
        lq_metrics_counter("llmq_ingest_enqueued_total", "requests acknowledged by Kafka", NULL);
    n->m_enqueue_ack = lq_metrics_histogram(
        "llmq_ingest_enqueue_ack_seconds",
        "time from handing a request to the producer to Kafka's acknowledgement", NULL);
    n->m_reply_delay = lq_metrics_histogram(
        "llmq_ingest_reply_delay_seconds",
        "time from a worker finishing a request to its final response reaching this node "
        "(cluster clocks, millisecond resolution)",
        NULL);
    n->m_enqueue_failed = lq_metrics_counter("llmq_ingest_enqueue_failed_total",
                                             "requests Kafka did not take (answered 503)", NULL);
    n->m_policy_blocked = lq_metrics_counter("llmq_ingest_policy_blocked_total",
                                             "requests refused by the prompt policy", NULL);
    n->m_policy_redacted = lq_metrics_counter("llmq_ingest_policy_redacted_total",
                                              "secrets masked in prompts before queueing", NULL);
    n->m_limited = lq_metrics_counter("llmq_ingest_limited_total",
                                      "requests refused by a limit (answered 429)", NULL);
    n->m_eager = lq_metrics_counter("llmq_ingest_eager_produced_total",
                                    "sync and streamed requests sent to Kafka at once, with no "
                                    "linger (ingest.eager_inflight_max)",
                                    NULL);
    n->m_cancels =
        lq_metrics_counter("llmq_ingest_cancels_total",
                           "jobs cancelled because their stream's client went away", NULL);
    n->m_tenant_requests = lq_metrics_capped_counters(
        "llmq_ingest_tenant_requests_total", "authenticated API requests by tenant", "tenant", NULL,
        0, (size_t)n->set.common.metrics.max_tenants);
}

/* The master key is optional: without it, tenants cannot store provider keys here. */
static lq_err_t load_master_key(ingest_server_t *s, char *errstr, size_t errstr_size)
{
    char merr[200];
    lq_err_t ke = lq_master_key_load(s->node.set.common.secrets.master_key_file, &s->master, merr,
                                     sizeof(merr));

    if (ke == LQ_OK) {
        s->node.master = &s->master;
    } else if (ke != LQ_ERR_NOT_FOUND) {
        snprintf(errstr, errstr_size, "%s", merr);
        return LQ_ERR_CONFIG;
    }
    return LQ_OK;
}

/* Caches and the PostgreSQL pool (auth, polling, the admin API). */
static lq_err_t open_state(ingest_server_t *s, char *errstr, size_t errstr_size)
{
    ingest_node_t *n = &s->node;
    const ingest_settings_t *set = &n->set;

    n->recent = ingest_recent_jobs_create((size_t)set->ingest.recent_jobs);
    n->auth = ingest_auth_create(set->auth.cache_ttl_ms, set->auth.negative_ttl_ms,
                                 (size_t)set->auth.cache_max);
    s->http = ingest_http_create(n);
    if (!n->recent || !n->auth || !s->http)
        return LQ_ERR_NOMEM;
    return ingest_pg_create(&n->pg, set->common.pg.url, (int)set->pg.pool_size,
                            (size_t)set->pg.max_queue, INGEST_AUTH_SQL, errstr, errstr_size);
}

/* The producer learns a topic's partitions on its first record to it, a metadata round trip
 * the first request would wait for: learn them at start and hold the topic. A broker that
 * does not answer yet is no error here (the first request then waits as before). */
static rd_kafka_topic_t *warm_requests_topic(ingest_node_t *n, rd_kafka_t *rk)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, n->topics->requests, NULL);

    if (t && rd_kafka_metadata(rk, 0, t, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    return t;
}

/* A producer of requests: linger NULL keeps kafka.linger.ms (common/kafka.c). */
static rd_kafka_t *new_producer(ingest_server_t *s, const char *client_id, const char *linger,
                                char *errstr, size_t errstr_size)
{
    char timeout[32];
    /* a request Kafka did not acknowledge in time is answered 503, never 202 */
    const char *settings[] = {"message.timeout.ms", timeout, "linger.ms", linger, NULL};
    lq_kafka_spec_t spec = lq_kafka_spec(&s->node.set.common, LQ_KAFKA_PRODUCER, client_id);

    snprintf(timeout, sizeof(timeout), "%lld", s->node.set.ingest.enqueue_timeout_ms);
    if (!linger)
        settings[2] = NULL;
    spec.settings = settings;
    spec.on_delivery = ingest_produce_delivered;
    spec.opaque = &s->node;
    return lq_kafka_new(&spec, errstr, errstr_size);
}

/* A producer with its delivery-report thread and its warmed requests topic. */
static lq_err_t open_producer(ingest_server_t *s, struct poller *p, const char *client_id,
                              const char *linger, rd_kafka_t **rk, char *errstr, size_t errstr_size)
{
    *rk = new_producer(s, client_id, linger, errstr, errstr_size);
    if (!*rk)
        return LQ_ERR_KAFKA;
    if (start_poller(s, p, *rk))
        return LQ_ERR_NOMEM;
    p->topic = warm_requests_topic(&s->node, *rk);
    return LQ_OK;
}

static lq_err_t start_producer(ingest_server_t *s, char *errstr, size_t errstr_size)
{
    ingest_node_t *n = &s->node;
    char linger[24];
    lq_err_t err = open_producer(s, &s->pollers[BATCHED_PRODUCER], "llmq-ingest", NULL,
                                 &n->producer, errstr, errstr_size);

    /* librdkafka fixes a producer's linger when it is made: a second one that does not wait */
    if (!err && n->set.ingest.eager_inflight_max > 0)
        err = open_producer(s, &s->pollers[EAGER_PRODUCER], "llmq-ingest-eager", "0",
                            &n->eager_producer, errstr, errstr_size);
    if (!err && n->set.ingest.async_linger_ms >= 0) {
        snprintf(linger, sizeof(linger), "%lld", n->set.ingest.async_linger_ms);
        err = open_producer(s, &s->pollers[ASYNC_PRODUCER], "llmq-ingest-async", linger,
                            &n->async_producer, errstr, errstr_size);
    }
    if (err)
        return err;
    return ingest_size_limits_apply(&s->node, 5000, errstr, errstr_size);
}

/* The most a post to the direct-reply listener may carry: a reply is one Kafka record, far
 * smaller; this bounds what anyone can make the node read. */
#define DIRECT_REPLY_MAX ((size_t)16 << 20)

/* libmicrohttpd answers a request line or headers that overflow a connection's memory with
 * its own HTML page: the memory holds twice what the node accepts, so the node's checks
 * (http.c) answer first, in the API's shape. */
static size_t connection_memory(const ingest_settings_t *set)
{
    size_t want = 2 * (size_t)(set->http.max_url_bytes + set->http.max_header_bytes) + 16384;
    size_t have = (size_t)set->http.connection_memory_bytes;

    return have > want ? have : want;
}

static lq_err_t start_http(ingest_server_t *s, char *errstr, size_t errstr_size)
{
    const ingest_settings_t *set = &s->node.set;
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)set->http.port);
    if (inet_pton(AF_INET, set->http.bind, &sa.sin_addr) != 1) {
        snprintf(errstr, errstr_size, "setting http.bind: \"%s\" is not an IPv4 address",
                 set->http.bind);
        return LQ_ERR_CONFIG;
    }
    s->d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO, 0, NULL, NULL,
        ingest_http_handler, s->http, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)set->http.threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)set->http.connection_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)set->http.max_connections, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        connection_memory(set), MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
        MHD_OPTION_UNESCAPE_CALLBACK, ingest_http_unescape, NULL, MHD_OPTION_NOTIFY_COMPLETED,
        ingest_http_completed, s->http, MHD_OPTION_END);
    if (!s->d) {
        snprintf(errstr, errstr_size, "cannot listen on %s:%lld", set->http.bind, set->http.port);
        return LQ_ERR_IO;
    }
    info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : (int)set->http.port;
    return LQ_OK;
}

static void sanitize_topic_part(char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            *s = '_';
}

/* The node's id names its reply topic; by default the host name and the bound port. */
static void name_node(ingest_server_t *s)
{
    ingest_node_t *n = &s->node;

    if (*n->set.ingest.node_id) {
        snprintf(n->node_id, sizeof(n->node_id), "%s", n->set.ingest.node_id);
    } else {
        char host[64] = "node";
        gethostname(host, sizeof(host) - 1);
        snprintf(n->node_id, sizeof(n->node_id), "%s-%d", host, s->port);
    }
    sanitize_topic_part(n->node_id);
    snprintf(n->reply_topic, sizeof(n->reply_topic), "%s%s", n->topics->replies_prefix, n->node_id);
}

/* The node's side of the limit ledger (common/limiter.h); none when limits are off. */
static lq_err_t start_limiter(ingest_server_t *s, char *errstr, size_t errstr_size)
{
    const lq_common_settings_t *set = &s->node.set.common;
    lq_limiter_options_t o = {set->pg.url, s->node.node_id, set->limits.lease_ms,
                              set->limits.slot_lease_ms};

    if (!set->limits.enforce) {
        LQ_WARN("limits.enforce is off: no limit is enforced on this node");
        return LQ_OK;
    }
    return lq_limiter_create(&s->node.limiter, &o, errstr, errstr_size);
}

static lq_err_t start_watchers(ingest_server_t *s)
{
    atomic_store(&s->node.kafka_ok, 1);
    if (pthread_create(&s->health, NULL, health_main, s) != 0)
        return LQ_ERR_NOMEM;
    s->health_started = 1;
    if (pthread_create(&s->auth_listener, NULL, auth_listener_main, s) != 0)
        return LQ_ERR_NOMEM;
    s->auth_listener_started = 1;
    return LQ_OK;
}

lq_err_t ingest_server_start(ingest_server_t **out, const ingest_settings_t *set, char *errstr,
                             size_t errstr_size)
{
    ingest_server_t *s = calloc(1, sizeof(*s));
    lq_err_t err;

    *out = NULL;
    if (!s)
        return LQ_ERR_NOMEM;
    read_limits(&s->node, set);
    make_metrics(&s->node);
    /* a codec for each thread that encodes or decodes records: the HTTP threads, the reply
     * consumer, the direct-reply listener and the batch runner */
    lq_codec_prepare((size_t)set->http.threads + 3);
    err = ingest_tracing_start(&s->node, errstr, errstr_size);
    if (!err)
        err = load_master_key(s, errstr, errstr_size);
    if (!err)
        err = open_state(s, errstr, errstr_size);
    if (!err)
        err = start_producer(s, errstr, errstr_size);
    /* the listening socket first: port 0 resolves to a real port for the node id */
    if (!err)
        err = start_http(s, errstr, errstr_size);
    if (!err) {
        name_node(s);
        err = start_limiter(s, errstr, errstr_size);
    }
    if (!err) {
        /* the reply topic must be consumed before the first sync request is accepted */
        err = ingest_replies_create(
            &s->node.replies, &set->common, s->node.reply_topic, set->ingest.reply_fetch_wait_ms,
            ingest_reply_answer, ingest_sse_out_chunk, ingest_reply_timeout, errstr, errstr_size);
    }
    if (!err && set->direct_replies.port >= 0)
        err = ingest_direct_start(&s->node.direct, s->node.replies, set->direct_replies.bind,
                                  (int)set->direct_replies.port, set->direct_replies.host,
                                  DIRECT_REPLY_MAX, errstr, errstr_size);
    if (!err)
        err = start_watchers(s);
    if (!err && set->batches.runner)
        err = ingest_batch_runner_start(&s->batches, &s->node, errstr, errstr_size);
    if (err) {
        ingest_server_stop(s, 0);
        return err;
    }
    atomic_store(&s->node.started, 1);
    LQ_INFO("ingest node %s listening on http://%s:%d (reply topic %s, direct replies %s)",
            s->node.node_id, set->http.bind, s->port, s->node.reply_topic,
            s->node.direct ? "on" : "off");
    *out = s;
    return LQ_OK;
}

int ingest_server_port(const ingest_server_t *s)
{
    return s->port;
}

/* ---------- stop ---------- */

static void drain(ingest_server_t *s, int drain_ms)
{
    int64_t until = lq_mono_ms() + drain_ms;

    atomic_store(&s->node.stopping, 1); /* no new requests on open connections either */
    MHD_quiesce_daemon(s->d);           /* no new connections */
    while (lq_mono_ms() < until && s->node.replies && ingest_replies_pending(s->node.replies) > 0)
        nanosleep(&(struct timespec){0, 20 * 1000000}, NULL);
}

void ingest_server_stop(ingest_server_t *s, int drain_ms)
{
    struct poller *p;

    if (!s)
        return;
    ingest_batch_runner_stop(s->batches); /* after the step under way */
    s->batches = NULL;
    if (s->d)
        drain(s, drain_ms);
    /* Resume everything still suspended: sync waiters time out, produces are flushed,
     * queued queries are answered, then the HTTP threads can stop. */
    ingest_direct_stop(s->node.direct); /* it hands replies on: first */
    s->node.direct = NULL;
    ingest_replies_destroy(s->node.replies);
    s->node.replies = NULL;
    for (p = s->pollers; p < s->pollers + N_PRODUCERS; p++)
        if (p->producer)
            rd_kafka_flush(p->producer, 10000);
    ingest_pg_destroy(s->node.pg);
    s->node.pg = NULL;
    lq_limiter_destroy(s->node.limiter); /* what waits is decided: connections resume */
    s->node.limiter = NULL;
    if (s->d) {
        nanosleep(&(struct timespec){0, 200 * 1000000}, NULL);
        MHD_stop_daemon(s->d);
    }
    atomic_store(&s->stopping, 1);
    for (p = s->pollers; p < s->pollers + N_PRODUCERS; p++)
        if (p->started)
            pthread_join(p->thread, NULL);
    if (s->health_started)
        pthread_join(s->health, NULL);
    if (s->auth_listener_started)
        pthread_join(s->auth_listener, NULL);
    for (p = s->pollers; p < s->pollers + N_PRODUCERS; p++) {
        if (p->topic)
            rd_kafka_topic_destroy(p->topic);
        if (p->producer)
            rd_kafka_destroy(p->producer);
    }
    ingest_tracing_stop(&s->node); /* after the last request's spans */
    ingest_auth_destroy(s->node.auth);
    ingest_http_destroy(s->http);
    lq_metric_cap_destroy(s->node.m_tenant_requests);
    ingest_recent_jobs_destroy(s->node.recent);
    lq_master_key_wipe(&s->master);
    free(s);
}

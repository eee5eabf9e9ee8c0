/* ingest/node.h — what the steps of a request share on one ingest node: its clients (the
 * Kafka producer, the PostgreSQL pool, the reply topic), its caches, limits and counters.
 * server.c builds it at start and releases it at stop; the steps borrow it through their
 * request (req_ctx_t.node). */
#ifndef LQ_INGEST_NODE_H
#define LQ_INGEST_NODE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "common/config.h"
#include "ingest/ingest_config.h"
#include "common/kafka.h"
#include "common/limiter.h"
#include "common/metrics.h"
#include "common/secretbox.h"
#include "ingest/auth.h"
#include "ingest/pg_async.h"
#include "ingest/replies.h"
#include "ingest/request_parse.h"

typedef struct ingest_recent_jobs ingest_recent_jobs_t; /* jobs_poll.h */

typedef struct ingest_node {
    ingest_settings_t set;     /* bound at start; strings are the settings' */
    const lq_topics_t *topics; /* &set.common.topic */
    char node_id[128];
    char reply_topic[400];
    /* The producers of requests (produce.c), each with its delivery-report thread (server.c):
     * batched (kafka.linger.ms): sync and streamed requests while the eager one is busy,
     * cancellations; eager (no linger): sync and streamed requests while the node is nearly
     * idle (ingest.eager_inflight_max), NULL: off; async submissions
     * (ingest.async_linger_ms), NULL: the batched one. */
    rd_kafka_t *producer, *eager_producer, *async_producer;
    ingest_pg_t *pg;
    lq_limiter_t *limiter; /* NULL when limits.enforce is off */
    ingest_auth_t *auth;
    ingest_replies_t *replies;
    struct ingest_direct *direct;  /* the direct-reply listener; NULL when off */
    ingest_recent_jobs_t *recent;  /* accepted async jobs, until the sinks have them */
    const lq_master_key_t *master; /* encrypts tenants' provider keys; NULL when none */
    ingest_limits_t limits;
    size_t max_body;             /* effective: http.max_body_bytes, lowered to fit a Kafka record */
    size_t max_record;           /* the largest encoded request Kafka takes (size_limits.h) */
    size_t max_url, max_headers; /* http.max_url_bytes, http.max_header_bytes */
    int64_t sync_timeout_ms;
    atomic_int kafka_ok; /* the brokers answered the last metadata request */
    atomic_int stopping; /* draining: new requests are answered 503 at once */
    atomic_int started;  /* every part is up: until then requests are answered 503 (the
                            socket listens first, so the node can name itself by its port) */
    lq_metric_t *m_inflight, *m_enqueued, *m_enqueue_failed, *m_cancels, *m_eager;
    /* hops of a request outside the worker's trace: produce → Kafka's acknowledgement, and
     * the worker's final response → here */
    lq_metric_t *m_enqueue_ack, *m_reply_delay;
    lq_metric_t *m_policy_blocked, *m_policy_redacted, *m_limited;
    lq_metric_cap_t *m_tenant_requests; /* by tenant, at most metrics.max_tenants of them */
    struct lq_otlp *otlp;               /* the span exporter; NULL: spans are not exported */
} ingest_node_t;

#endif

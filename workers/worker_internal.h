/* workers/worker_internal.h — the worker's state and a job's, shared by the files of the
 * worker's steps (worker.c, event_loop.c, consumer.c, queueing.c, batches.c, cancels.c,
 * attempts.c, http_call.c, mock_call.c, publish.c, produce.c, job.c, partitions.c, timers.c).
 * Not for other callers: they use workers/worker.h. */
#ifndef LQ_WORKER_INTERNAL_H
#define LQ_WORKER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>

#include "common/config.h"
#include "common/hashmap.h"
#include "common/http_admin.h"
#include "common/kafka.h"
#include "common/limiter.h"
#include "common/metrics.h"
#include "common/trace.h"
#include "workers/breaker.h"
#include "workers/byok.h"
#include "workers/fair_queue.h"
#include "workers/id_memory.h"
#include "workers/offset_tracker.h"
#include "workers/pricing.h"
#include "workers/provider.h"
#include "workers/routing.h"
#include "workers/stream_mask.h"
#include "workers/worker_config.h"
#include "workers/worker.h"

/* What a job's pending timer is for (workers/timers.c; dispatched in workers/event_loop.c). */
typedef enum timer_kind {
    T_NONE = 0,
    T_MOCK_DONE,  /* the mock provider's answer is due */
    T_MOCK_TOKEN, /* the mock provider's next streamed word is due */
    T_RETRY,      /* the back-off before the next attempt is over */
    T_FIRST_BYTE, /* the provider has had provider.first_byte_timeout_ms */
    T_KINDS
} timer_kind_t;

#define MAX_HISTORY         16
#define CANCEL_MEMORY       4096 /* cancellations remembered for jobs not (yet) seen here */
#define BATCH_CANCEL_MEMORY 256  /* batches cancelled, remembered for their jobs still to come */

/* One attempt (or a candidate skipped), for the trace and the dead-letter record. */
typedef struct attempt_rec {
    int endpoint;
    char model[96];
    int64_t start_ms;
    int32_t duration_ms;
    int http_status;          /* what the client would have seen; 0 = ok */
    char outcome[64];         /* "ok", an error code, "breaker_open", "cancelled" */
    uint8_t span_id[8];       /* its span (workers/tracing.h), when a call was made */
    int64_t start_us, end_us; /* the call, the cluster's time; 0: no call was made */
} attempt_rec_t;

/* The topics a job's message comes from (each partition has an offset tracker per source). */
typedef enum job_source { SRC_REQUESTS = 0, SRC_DEFERRED, SRC_BATCH, SRC_COUNT } job_source_t;

typedef struct job {
    struct worker *w;
    int dead_letter; /* an undecodable message on its way to the dead-letter topic */
    int deferring;   /* a copy on its way to the deferred topic */
    lq_chat_request_t req;
    job_source_t source;
    int32_t partition;
    int64_t offset;
    uint64_t generation;
    int slot;                       /* holds one of the worker.max_inflight slots */
    worker_fairq_entry_t *queued;   /* in the fair queue (workers/queueing.c) */
    int64_t arrived_ms, arrived_us; /* wall / monotonic: when its message was read */
    int64_t record_ts_ms;           /* its Kafka record's timestamp (produced); -1: none */
    int pending;                    /* 1 while the job runs + one per unacknowledged produce */
    int64_t picked_ms;
    int64_t attempt_start_us;
    int64_t first_attempt_ms; /* wall clock, for the trace's provider span */
    int64_t provider_us;
    int attempts;
    route_decision_t *dec; /* its route once admitted (queueing_admit); before: worker_no_route */
    size_t cand;           /* index of the candidate being tried */
    int cand_attempts;     /* attempts on that candidate */
    int endpoint;          /* endpoint of the current/last attempt */
    int fallbacks;
    char route[400];
    attempt_rec_t *hist; /* grown as attempts are made, up to MAX_HISTORY */
    int n_hist, cap_hist;
    int cancelled, finished;
    int batch_counted; /* a batch job counted in w->batch_jobs until it finishes (batches.c) */
    int tenant_key;    /* the last attempt used the tenant's own provider key */
    /* streaming */
    worker_stream_t *stream;
    int32_t chunk_seq;
    /* the pieces of the reply (chunks, then the response) waiting behind the one being
     * posted to the node directly, in order; after a failed post, all go to the topic */
    struct reply_piece *direct_head, *direct_tail;
    struct reply_piece *direct_posting; /* the piece on its way to the node, if any */
    int direct_failed;
    stream_mask_t smask; /* streamed text held back until it cannot be part of a credential */
    /* the current attempt's endpoint and model series, and whether the provider's first
     * streamed text was timed (workers/provider_metrics.c) */
    struct provider_series *pm;
    int first_token_seen;
    int got_first_byte;
    int64_t ttft_ms; /* request start to first text, -1 = none */
    size_t mock_pos; /* mock streaming: bytes of the mock text sent */
    timer_kind_t timer;
    int64_t due_us;
    size_t heap_idx;
    worker_result_t result;
    CURL *easy;
    struct curl_slist *headers;
    /* its provider host's slots (workers/host_slots.c): the host (+1) whose slot it holds, or
     * for which it waits, since when, and how long it waited in all */
    int host_held, host_waiting;
    struct job *host_prev, *host_next;
    int64_t host_wait_since_us, host_wait_us;
    char *resp;
    size_t resp_len, resp_cap;
    int resp_too_big;
    char retry_after[32];
    /* limits (workers/limits_gate.c) */
    int gate;                 /* 0 not asked, 1 waiting for the ledger, 2 admitted */
    lq_limit_ticket_t ticket; /* what it reserved */
    /* its trace (workers/tracing.h): trace.span_id is the ingest node's enqueue span */
    lq_trace_ctx_t trace;
    int trace_has_parent;
    char *tracestate; /* as the caller sent it, or NULL */
    uint8_t job_span[8], attempt_span[8];
} job_t;

/* The route of a job not admitted yet: no candidates (never written). A job holds a route
 * of its own (1.7 KB) only while it is admitted, and its attempts' records (208 bytes each)
 * only as they are made: a queued job is about 2 KB. */
extern route_decision_t worker_no_route;

typedef struct gate_decision {
    struct gate_decision *next;
    job_t *job;
    lq_limit_verdict_t v;
} gate_decision_t;

typedef struct partition_state {
    worker_offsets_t *tracker[SRC_COUNT]; /* NULL when not assigned */
    uint64_t generation[SRC_COUNT];
    int64_t last_offset[SRC_COUNT]; /* the last one tracked; -1 = none yet */
} partition_state_t;

struct worker {
    worker_settings_t set;     /* bound at start; strings are the settings' */
    const lq_topics_t *topics; /* &set.common.topic */
    char id[128];
    rd_kafka_t *consumer, *producer;
    struct lq_kafka_lag *lag; /* the consumer's lag gauges (common/kafka_lag.h) */
    struct lq_otlp *otlp;     /* the span exporter (workers/tracing.h); NULL: none */
    rd_kafka_queue_t *consumer_q, *producer_q;
    CURLM *multi;
    struct curl_slist *reply_headers; /* of direct replies (workers/direct_reply.c) */
    struct reply_conns *reply_conns;  /* their own connections (workers/reply_conns.h) */
    CURL **reply_later; /* libcurl posts asked for inside a libcurl callback, for the next turn */
    size_t n_reply_later, cap_reply_later;
    struct pollfd *wait_fds; /* the wait's: the wake-up pipe, curl_epfd, the reply sockets */
    int n_reply_pfds;        /* reply sockets in wait_fds (from index 2) at the last wait */
    int curl_epfd;       /* libcurl's sockets, as its socket callback asks (workers/event_loop.c) */
    int curl_ready;      /* the last wait found one of them ready */
    int64_t curl_due_us; /* when libcurl wants its timeouts looked at; -1: no timer */
    lq_metric_t *m_direct, *m_direct_fallback;
    int wake_fds[2];
    partition_state_t *parts;
    int n_parts;
    uint64_t generation;
    atomic_int joined;
    int paused, deferred_paused, batch_paused; /* the request / deferred / batch partitions */
    size_t inflight, max_inflight;
    worker_fairq_t *fairq;    /* requests waiting for a slot, per tenant (workers/queueing.c) */
    size_t queued, deferring; /* jobs in the fair queue; copies on their way to topic.deferred */
    size_t batch_queued;      /* the batch jobs among the queued */
    size_t batch_jobs, batch_max; /* batch jobs held (workers/batches.c) and their bound */
    job_t **heap;
    size_t heap_len, heap_cap;
    /* settings */
    int64_t mock_latency_us, mock_interval_us;
    int mock_tokens;
    int max_attempts;
    long connect_timeout_ms, timeout_ms, first_byte_timeout_ms;
    size_t max_response;
    routing_t *routing;
    pricing_t *pricing;
    worker_byok_t *byok;      /* tenants' own provider keys, NULL when off */
    breaker_t *breakers;      /* one per endpoint */
    struct host_slots *hosts; /* calls in flight and waiting per provider host (host_slots.h) */
    size_t *key_next;         /* per endpoint: the next key to use */
    uint64_t route_seq;       /* rotates "spread" rules and aliases */
    /* per endpoint, per model and per tenant metrics (workers/provider_metrics.c); the
     * partitions paused, per source topic */
    struct provider_endpoint_metrics *pem;
    size_t n_pem;
    lq_metric_t **m_breaker_open;
    lq_metric_cap_t *m_tenant_tokens;
    lq_metric_t *m_paused[SRC_COUNT];
    lq_hashmap_t *jobs;      /* job id -> job in flight (for cancellations) */
    lq_hashmap_t *cancelled; /* job ids cancelled before they arrived here */
    char *cancel_ring[CANCEL_MEMORY];
    size_t cancel_next;
    worker_id_memory_t *batches_cancelled; /* the last BATCH_CANCEL_MEMORY batch ids cancelled */
    lq_http_admin_t *admin;
    lq_metric_t *m_inflight, *m_succeeded, *m_failed, *m_cancelled, *m_retries, *m_fallbacks,
        *m_dead, *m_produce_failed, *m_chunks, *m_output_redacted;
    lq_metric_t *m_queued, *m_deferred, *m_queue_wait;
    lq_metric_t *m_batch_jobs, *m_batch_paused;
    /* limits (workers/limits_gate.c) */
    lq_limiter_t *limiter;
    lq_hashmap_t *limits_seen; /* a ChatRequest's limits text -> its parsed lq_limits_t */
    pthread_mutex_t gate_mu;
    int gate_mu_init;
    gate_decision_t *gate_done; /* decided by the limiter's thread, for the loop */
    lq_metric_t *m_paced, *m_limit_failed;
    struct worker_status *status; /* the Queue page's snapshot writer (workers/status.c) */
};

/** The name of endpoint ep ("none" when there is none). */
static inline const char *worker_endpoint_name(const worker_t *w, int ep)
{
    const route_endpoint_t *e = routing_endpoint(w->routing, ep);

    return e ? e->name : "none";
}

#endif

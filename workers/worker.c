#include "workers/worker.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <librdkafka/rdkafka.h>

#include "common/clock.h"
#include "common/http_admin.h"
#include "common/ids.h"
#include "common/jsonw.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/secret_scan.h"
#include "schemas/codec.h"
#include "common/hashmap.h"
#include "workers/breaker.h"
#include "workers/byok.h"
#include "workers/offset_tracker.h"
#include "workers/pricing.h"
#include "workers/provider.h"
#include "workers/routing.h"

typedef enum timer_kind { T_NONE = 0, T_MOCK_DONE, T_MOCK_TOKEN, T_RETRY, T_FIRST_BYTE } timer_kind_t;

#define MAX_HISTORY 16
#define CANCEL_MEMORY 4096 /* cancellations remembered for jobs not (yet) seen here */

/* One attempt (or a candidate skipped), for the trace and the dead-letter record. */
typedef struct attempt_rec {
    int endpoint;
    char model[96];
    int64_t start_ms;
    int32_t duration_ms;
    int http_status;    /* what the client would have seen; 0 = ok */
    char outcome[64];   /* "ok", an error code, "breaker_open", "cancelled" */
} attempt_rec_t;

typedef struct job {
    struct worker *w;
    int dead_letter; /* an undecodable message on its way to the dead-letter topic */
    lq_chat_request_t req;
    int32_t partition;
    int64_t offset;
    uint64_t generation;
    int pending; /* 1 while the job runs + one per unacknowledged produce */
    int64_t picked_ms;
    int64_t attempt_start_us;
    int64_t first_attempt_ms; /* wall clock, for the trace's provider span */
    int64_t provider_us;
    int attempts;
    route_decision_t dec;
    size_t cand;          /* index of the candidate being tried */
    int cand_attempts;    /* attempts on that candidate */
    int endpoint;         /* endpoint of the current/last attempt */
    int fallbacks;
    char route[400];
    attempt_rec_t hist[MAX_HISTORY];
    int n_hist;
    int cancelled, finished;
    int tenant_key;       /* the last attempt used the tenant's own provider key */
    /* streaming */
    worker_stream_t *stream;
    int32_t chunk_seq;
    int got_first_byte;
    int64_t ttft_ms;      /* request start to first text, -1 = none */
    size_t mock_pos;      /* mock streaming: bytes of the mock text sent */
    timer_kind_t timer;
    int64_t due_us;
    size_t heap_idx;
    worker_result_t result;
    CURL *easy;
    struct curl_slist *headers;
    char *resp;
    size_t resp_len, resp_cap;
    int resp_too_big;
    char retry_after[32];
} job_t;

typedef struct partition_state {
    worker_offsets_t *tracker; /* NULL when not assigned */
    uint64_t generation;
} partition_state_t;

struct worker {
    const lq_config_t *cfg;
    lq_topics_t topics;
    char id[128];
    rd_kafka_t *consumer, *producer;
    rd_kafka_queue_t *consumer_q, *producer_q;
    CURLM *multi;
    int wake_fds[2];
    partition_state_t *parts;
    int n_parts;
    uint64_t generation;
    atomic_int joined;
    int paused;
    size_t inflight, max_inflight;
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
    worker_byok_t *byok;   /* tenants' own provider keys, NULL when off */
    breaker_t *breakers;   /* one per endpoint */
    size_t *key_next;      /* per endpoint: the next key to use */
    uint64_t route_seq;    /* rotates "spread" rules and aliases */
    lq_metric_t **m_endpoint_latency, **m_breaker_open;
    lq_hashmap_t *jobs;    /* job id -> job in flight (for cancellations) */
    lq_hashmap_t *cancelled; /* job ids cancelled before they arrived here */
    char *cancel_ring[CANCEL_MEMORY];
    size_t cancel_next;
    lq_http_admin_t *admin;
    lq_metric_t *m_inflight, *m_succeeded, *m_failed, *m_cancelled, *m_retries, *m_fallbacks,
        *m_dead, *m_produce_failed, *m_chunks, *m_output_redacted;
};

/* ---------- timers (binary min-heap on due_us) ---------- */

static void heap_swap(worker_t *w, size_t a, size_t b)
{
    job_t *t = w->heap[a];
    w->heap[a] = w->heap[b];
    w->heap[b] = t;
    w->heap[a]->heap_idx = a;
    w->heap[b]->heap_idx = b;
}

static lq_err_t timer_add(worker_t *w, job_t *j, timer_kind_t kind, int64_t due_us)
{
    size_t i;

    if (w->heap_len == w->heap_cap) {
        size_t ncap = w->heap_cap ? w->heap_cap * 2 : 256;
        job_t **nh = realloc(w->heap, ncap * sizeof(*nh));
        if (!nh)
            return LQ_ERR_NOMEM;
        w->heap = nh;
        w->heap_cap = ncap;
    }
    j->timer = kind;
    j->due_us = due_us;
    i = w->heap_len++;
    w->heap[i] = j;
    j->heap_idx = i;
    while (i > 0 && w->heap[(i - 1) / 2]->due_us > w->heap[i]->due_us) {
        heap_swap(w, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return LQ_OK;
}

static void heap_fix(worker_t *w, size_t i)
{
    for (;;) { /* sift down */
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < w->heap_len && w->heap[l]->due_us < w->heap[m]->due_us)
            m = l;
        if (r < w->heap_len && w->heap[r]->due_us < w->heap[m]->due_us)
            m = r;
        if (m == i)
            break;
        heap_swap(w, i, m);
        i = m;
    }
    while (i > 0 && w->heap[(i - 1) / 2]->due_us > w->heap[i]->due_us) { /* sift up */
        heap_swap(w, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

/* Take j's pending timer out of the heap (a job finishing before its timer fires). */
static void timer_remove(worker_t *w, job_t *j)
{
    size_t i = j->heap_idx;

    if (j->timer == T_NONE || i >= w->heap_len || w->heap[i] != j)
        return;
    j->timer = T_NONE;
    w->heap_len--;
    if (i == w->heap_len)
        return;
    w->heap[i] = w->heap[w->heap_len];
    w->heap[i]->heap_idx = i;
    heap_fix(w, i);
}

static job_t *timer_pop_due(worker_t *w, int64_t now_us)
{
    job_t *top;

    if (!w->heap_len || w->heap[0]->due_us > now_us)
        return NULL;
    top = w->heap[0];
    w->heap_len--;
    if (w->heap_len) {
        w->heap[0] = w->heap[w->heap_len];
        w->heap[0]->heap_idx = 0;
        heap_fix(w, 0);
    }
    return top;
}

/* ---------- offsets ---------- */

static partition_state_t *part_state(worker_t *w, int32_t p)
{
    if (p < 0)
        return NULL;
    if (p >= w->n_parts) {
        int n = p + 1;
        partition_state_t *np = realloc(w->parts, (size_t)n * sizeof(*np));
        if (!np)
            return NULL;
        memset(np + w->n_parts, 0, (size_t)(n - w->n_parts) * sizeof(*np));
        w->parts = np;
        w->n_parts = n;
    }
    return &w->parts[p];
}

static void mark_done(worker_t *w, job_t *j)
{
    partition_state_t *ps = j->partition < w->n_parts ? &w->parts[j->partition] : NULL;
    int64_t next;

    if (!ps || !ps->tracker || ps->generation != j->generation)
        return; /* partition revoked meanwhile: its new owner re-runs the message */
    next = worker_offsets_done(ps->tracker, j->offset);
    if (next >= 0) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_resp_err_t e;
        rd_kafka_topic_partition_list_add(l, w->topics.requests, j->partition)->offset = next;
        e = rd_kafka_offsets_store(w->consumer, l);
        if (e)
            LQ_DEBUG("offset store p%d@%lld: %s", j->partition, (long long)next, rd_kafka_err2str(e));
        rd_kafka_topic_partition_list_destroy(l);
    }
}

static void job_free(job_t *j)
{
    worker_stream_free(j->stream);
    lq_chat_request_clear(&j->req);
    worker_result_clear(&j->result);
    free(j->resp);
    free(j);
}

static void job_release(job_t *j)
{
    worker_t *w = j->w;

    if (--j->pending > 0)
        return;
    mark_done(w, j);
    w->inflight--;
    lq_metric_set(w->m_inflight, (int64_t)w->inflight);
    job_free(j);
}

/* ---------- producing ---------- */

static void produce(worker_t *w, job_t *j, const char *topic, const char *key, const void *buf,
                    size_t len)
{
    rd_kafka_resp_err_t e;
    int tries = 0;

    j->pending++;
    for (;;) {
        e = rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(topic),
                              RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)buf, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(j),
                              RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || ++tries > 1000)
            break;
        rd_kafka_poll(w->producer, 10); /* make room: serve delivery reports */
    }
    if (e) {
        LQ_ERROR("job %s: cannot produce to %s: %s", j->req.job_id ? j->req.job_id : "-", topic,
                 rd_kafka_err2str(e));
        lq_metric_add(w->m_produce_failed, 1);
        j->pending--;
    }
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    worker_t *w = opaque;
    job_t *j = m->_private;

    (void)rk;
    if (m->err) {
        /* Outputs are idempotent downstream (ids), so re-sending is always safe. */
        rd_kafka_resp_err_t e;
        LQ_WARN("delivery to %s failed (%s); sending again", rd_kafka_topic_name(m->rkt),
                rd_kafka_err2str(m->err));
        e = rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(rd_kafka_topic_name(m->rkt)),
                              RD_KAFKA_V_KEY(m->key, m->key_len),
                              RD_KAFKA_V_VALUE(m->payload, m->len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(j),
                              RD_KAFKA_V_END);
        if (!e)
            return;
        LQ_ERROR("cannot send again to %s: %s", rd_kafka_topic_name(m->rkt), rd_kafka_err2str(e));
        lq_metric_add(w->m_produce_failed, 1);
    }
    if (j)
        job_release(j);
}

/* ---------- results ---------- */

static const char *endpoint_name(worker_t *w, int ep)
{
    const route_endpoint_t *e = routing_endpoint(w->routing, ep);

    return e ? e->name : "none";
}

static void publish_status(worker_t *w, job_t *j, lq_job_status_t status)
{
    lq_codec_t *codec = lq_codec_thread();
    lq_chat_response_t r;
    const void *buf;
    size_t len;
    char errstr[256];

    memset(&r, 0, sizeof(r));
    r.job_id = j->req.job_id;
    r.tenant_id = j->req.tenant_id;
    r.project_id = j->req.project_id;
    r.api_key_id = j->req.api_key_id;
    r.status = status;
    r.mode = j->req.mode;
    r.model = j->req.model;
    r.provider = j->dec.n ? (char *)endpoint_name(w, j->dec.candidates[0].endpoint) : NULL;
    r.created_at_ms = j->req.created_at_ms;
    r.started_at_ms = j->picked_ms;
    r.attempts = j->attempts;
    r.worker_id = w->id;
    r.replay = j->req.attempt;
    if (codec && !lq_encode_chat_response(codec, &r, &buf, &len, errstr, sizeof(errstr)))
        produce(w, j, w->topics.responses, j->req.tenant_id, buf, len);
}

/* The usage event id: the job id for a request's first run, a distinct id derived from it
 * for each replay from the dead-letter topic (each run's tokens are counted once). */
static void usage_event_id(const lq_chat_request_t *req, char out[40])
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(req->job_id);
    uint32_t x = (uint32_t)req->attempt;
    int i;

    snprintf(out, 40, "%s", req->job_id);
    if (!req->attempt || n != 36)
        return;
    for (i = 0; i < 8; i++) { /* xor the replay number into the last 8 hex digits */
        char *c = &out[35 - i];
        const char *pos = strchr(hex, *c >= 'A' && *c <= 'F' ? *c + 32 : *c);
        unsigned v = pos ? (unsigned)(pos - hex) : 0;
        *c = hex[(v ^ (x >> (4 * i))) & 15];
    }
}

/* The attempt history as JSON (dead-letter header and trace attribute). */
/* The attempt history as JSON (the trace's provider span and the dead-letter header),
 * escaped by the JSON writer: models and error codes come from outside. malloc'ed. */
static char *history_json(worker_t *w, const job_t *j)
{
    lq_jsonw_t jw;
    int i;

    lq_jsonw_init(&jw);
    lq_jsonw_arr_open(&jw);
    for (i = 0; i < j->n_hist; i++) {
        const attempt_rec_t *h = &j->hist[i];
        lq_jsonw_obj_open(&jw);
        lq_jsonw_kstr(&jw, "endpoint", endpoint_name(w, h->endpoint));
        lq_jsonw_kstr(&jw, "model", h->model);
        lq_jsonw_kint(&jw, "start_ms", h->start_ms);
        lq_jsonw_kint(&jw, "duration_ms", h->duration_ms);
        lq_jsonw_kint(&jw, "status", h->http_status);
        lq_jsonw_kstr(&jw, "outcome", h->outcome);
        lq_jsonw_obj_close(&jw);
    }
    lq_jsonw_arr_close(&jw);
    if (jw.failed) {
        lq_jsonw_free(&jw);
        return NULL;
    }
    return jw.p; /* ours now */
}

/* Copy a request whose last attempt failed on a retriable error to the dead-letter topic,
 * with its attempt history, so an operator can replay it (llmqctl dlq replay). */
static void dead_letter(worker_t *w, job_t *j, const char *hist)
{
    lq_codec_t *codec = lq_codec_thread();
    const void *buf;
    size_t len;
    char errstr[256], attempts[16];
    rd_kafka_headers_t *hdrs;
    rd_kafka_resp_err_t e;

    if (!codec || lq_encode_chat_request(codec, &j->req, &buf, &len, errstr, sizeof(errstr))) {
        LQ_ERROR("job %s: cannot encode for the dead-letter topic", j->req.job_id);
        return;
    }
    snprintf(attempts, sizeof(attempts), "%d", j->attempts);
    hdrs = rd_kafka_headers_new(4);
    rd_kafka_header_add(hdrs, "llmq-error", -1,
                        j->result.err_message ? j->result.err_message : "failed", -1);
    rd_kafka_header_add(hdrs, "llmq-error-code", -1, j->result.err_code ? j->result.err_code : "", -1);
    rd_kafka_header_add(hdrs, "llmq-attempts", -1, attempts, -1);
    rd_kafka_header_add(hdrs, "llmq-history", -1, hist ? hist : "[]", -1);
    j->pending++;
    e = rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(w->topics.dlq),
                          RD_KAFKA_V_KEY(j->req.tenant_id, strlen(j->req.tenant_id)),
                          RD_KAFKA_V_VALUE((void *)buf, len), RD_KAFKA_V_HEADERS(hdrs),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(j),
                          RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(hdrs);
        j->pending--;
        LQ_ERROR("job %s: cannot produce to %s: %s", j->req.job_id, w->topics.dlq,
                 rd_kafka_err2str(e));
        return;
    }
    lq_metric_add(w->m_dead, 1);
    LQ_WARN("job %s tenant %s: dead-lettered after %d attempt(s)", j->req.job_id,
            j->req.tenant_id, j->attempts);
}

static void finish_job(worker_t *w, job_t *j)
{
    lq_codec_t *codec = lq_codec_thread();
    worker_result_t *res = &j->result;
    lq_chat_response_t r;
    lq_choice_t choice;
    lq_usage_event_t u;
    lq_trace_event_t t;
    lq_span_t spans[2 + MAX_HISTORY];
    char *span_keys[7] = {"endpoint", "attempts", "fallbacks", "history", "ttft_ms", "", ""};
    char *span_vals[7];
    char findings[160] = "";
    char *att_keys[MAX_HISTORY][3], *att_vals[MAX_HISTORY][3];
    char att_status[MAX_HISTORY][16];
    char attempts_s[16], fallbacks_s[16], ttft_s[24], event_id[40], *hist = NULL;
    const char *provider = endpoint_name(w, j->endpoint);
    const char *priced_model;
    const void *buf;
    size_t len;
    char errstr[256];
    int64_t now = lq_wall_ms();
    int32_t provider_ms = (int32_t)(j->provider_us / 1000);
    int i, n_spans;

    j->finished = 1;
    if (res->ok && res->content) {
        /* credentials in an answer are masked before it is stored or returned, and named
         * in the trace */
        lq_secret_finding_t f[8];
        size_t n = lq_secret_scan(res->content, strlen(res->content), f, 8), k;
        for (k = 0; k < n && k < 8; k++) {
            const char *name = lq_secret_kind_name(f[k].kind);
            if (!strstr(findings, name) && strlen(findings) + strlen(name) + 2 < sizeof(findings))
                snprintf(findings + strlen(findings), sizeof(findings) - strlen(findings), "%s%s",
                         findings[0] ? "," : "", name);
        }
        if (n) {
            if (n <= 8)
                lq_secret_mask(res->content, f, n); /* the findings at hand */
            else
                lq_secret_redact(res->content);
            lq_metric_add(w->m_output_redacted, (int64_t)n);
        }
        if (res->extra_json)
            lq_secret_redact(res->extra_json);
    }
    if (lq_hashmap_get(w->jobs, j->req.job_id) == j)
        lq_hashmap_remove(w->jobs, j->req.job_id);
    if (!codec) {
        LQ_ERROR("job %s: no codec", j->req.job_id);
        job_release(j);
        return;
    }
    memset(&r, 0, sizeof(r));
    r.job_id = j->req.job_id;
    r.tenant_id = j->req.tenant_id;
    r.project_id = j->req.project_id;
    r.api_key_id = j->req.api_key_id;
    r.status = j->cancelled ? LQ_STATUS_CANCELLED : res->ok ? LQ_STATUS_SUCCEEDED : LQ_STATUS_FAILED;
    r.mode = j->req.mode;
    r.model = j->req.model;
    r.provider = j->dec.n ? (char *)provider : NULL;
    r.provider_model = res->provider_model;
    r.created_at_ms = j->req.created_at_ms;
    r.started_at_ms = j->picked_ms;
    r.finished_at_ms = now;
    r.attempts = j->attempts;
    r.worker_id = w->id;
    r.prompt_tokens = res->prompt_tokens;
    r.completion_tokens = res->completion_tokens;
    r.extra_json = res->response_extra_json;
    r.replay = j->req.attempt;
    if (res->ok && !j->cancelled) {
        memset(&choice, 0, sizeof(choice));
        choice.index = 0;
        choice.role = "assistant";
        choice.content = res->content;
        choice.finish_reason = res->finish_reason;
        choice.extra_json = res->extra_json;
        r.choices = &choice;
        r.n_choices = 1;
        lq_metric_add(w->m_succeeded, 1);
    } else {
        r.has_error = 1;
        r.error.type = res->err_type ? res->err_type : "server_error";
        r.error.code = res->err_code;
        r.error.message = res->err_message ? res->err_message : "the request failed";
        r.error.http_status = res->http_status ? res->http_status : 502;
        lq_metric_add(j->cancelled ? w->m_cancelled : w->m_failed, 1);
        LQ_INFO("job %s tenant %s %s: %s", j->req.job_id, j->req.tenant_id,
                j->cancelled ? "cancelled" : "failed", r.error.message);
    }
    if (!lq_encode_chat_response(codec, &r, &buf, &len, errstr, sizeof(errstr))) {
        produce(w, j, w->topics.responses, j->req.tenant_id, buf, len);
        if (j->req.mode != LQ_MODE_ASYNC && j->req.reply_topic)
            produce(w, j, j->req.reply_topic, j->req.job_id, buf, len);
    } else {
        LQ_ERROR("job %s: %s", j->req.job_id, errstr);
    }
    hist = history_json(w, j);
    if (!res->ok && !j->cancelled && res->retriable)
        dead_letter(w, j, hist);

    memset(&u, 0, sizeof(u));
    usage_event_id(&j->req, event_id);
    u.event_id = event_id;
    u.job_id = j->req.job_id;
    u.tenant_id = j->req.tenant_id;
    u.project_id = j->req.project_id;
    u.api_key_id = j->req.api_key_id;
    u.user_id = j->req.user_id;
    u.model = j->req.model;
    u.provider = (char *)provider;
    u.provider_model = res->provider_model;
    u.status = r.status;
    u.prompt_tokens = res->prompt_tokens;
    u.completion_tokens = res->completion_tokens;
    priced_model = j->dec.n ? j->dec.candidates[j->cand < j->dec.n ? j->cand : j->dec.n - 1].model
                            : j->req.model;
    if (j->dec.n && routing_endpoint(w->routing, j->endpoint)->is_mock)
        priced_model = "mock";
    u.has_cost = pricing_cost(w->pricing, priced_model, res->prompt_tokens,
                              res->completion_tokens, &u.cost_usd) ||
                 (res->provider_model &&
                  pricing_cost(w->pricing, res->provider_model, res->prompt_tokens,
                               res->completion_tokens, &u.cost_usd));
    u.latency_ms = provider_ms;
    u.ts_ms = now;
    if (!lq_encode_usage_event(codec, &u, &buf, &len, errstr, sizeof(errstr)))
        produce(w, j, w->topics.usage, j->req.tenant_id, buf, len);
    else
        LQ_ERROR("job %s: %s", j->req.job_id, errstr);

    snprintf(attempts_s, sizeof(attempts_s), "%d", j->attempts);
    snprintf(fallbacks_s, sizeof(fallbacks_s), "%d", j->fallbacks);
    snprintf(ttft_s, sizeof(ttft_s), "%lld", (long long)j->ttft_ms);
    span_vals[0] = (char *)provider;
    span_vals[1] = attempts_s;
    span_vals[2] = fallbacks_s;
    span_vals[3] = hist ? hist : "[]";
    span_vals[4] = ttft_s;
    memset(spans, 0, sizeof(spans));
    spans[0].name = "queue";
    spans[0].start_ms = j->req.created_at_ms;
    spans[0].duration_ms = (int32_t)(j->picked_ms - j->req.created_at_ms);
    /* the provider span covers every attempt and the waits between them */
    spans[1].name = "provider";
    spans[1].start_ms = j->first_attempt_ms ? j->first_attempt_ms : j->picked_ms;
    spans[1].duration_ms = (int32_t)(now - spans[1].start_ms);
    spans[1].attr_keys = span_keys;
    spans[1].attr_values = span_vals;
    spans[1].n_attrs = j->ttft_ms >= 0 ? 5 : 4;
    if (findings[0]) {
        span_keys[spans[1].n_attrs] = "output_findings";
        span_vals[spans[1].n_attrs] = findings;
        spans[1].n_attrs++;
    }
    if (j->tenant_key > 0) { /* which credentials the call used (never the key itself) */
        span_keys[spans[1].n_attrs] = "key";
        span_vals[spans[1].n_attrs] = "tenant";
        spans[1].n_attrs++;
    }
    n_spans = 2;
    for (i = 0; i < j->n_hist; i++) {
        lq_span_t *sp = &spans[n_spans++];
        const attempt_rec_t *h = &j->hist[i];
        snprintf(att_status[i], sizeof(att_status[i]), "%d", h->http_status);
        att_keys[i][0] = "endpoint";
        att_vals[i][0] = (char *)endpoint_name(w, h->endpoint);
        att_keys[i][1] = "model";
        att_vals[i][1] = (char *)h->model;
        att_keys[i][2] = "outcome";
        att_vals[i][2] = (char *)h->outcome;
        sp->name = "attempt";
        sp->start_ms = h->start_ms;
        sp->duration_ms = h->duration_ms;
        sp->attr_keys = att_keys[i];
        sp->attr_values = att_vals[i];
        sp->n_attrs = 3;
    }
    memset(&t, 0, sizeof(t));
    t.trace_id = j->req.job_id;
    t.job_id = j->req.job_id;
    t.tenant_id = j->req.tenant_id;
    t.project_id = j->req.project_id;
    t.api_key_id = j->req.api_key_id;
    t.user_id = j->req.user_id;
    t.model = j->req.model;
    t.provider = (char *)provider;
    t.status = r.status;
    t.route = j->route;
    t.worker_id = w->id;
    t.created_at_ms = j->req.created_at_ms;
    t.queue_ms = spans[0].duration_ms;
    t.provider_ms = provider_ms;
    t.total_ms = (int32_t)(now - j->req.created_at_ms);
    t.spans = spans;
    t.n_spans = (size_t)n_spans;
    if (!lq_encode_trace_event(codec, &t, &buf, &len, errstr, sizeof(errstr)))
        produce(w, j, w->topics.traces, j->req.tenant_id, buf, len);
    else
        LQ_ERROR("job %s: %s", j->req.job_id, errstr);
    free(hist);
    job_release(j);
}

/* ---------- streaming ---------- */

/* A piece of answer text: to the requester's reply topic as a ChatChunk. */
static void on_delta(void *arg, const char *text, size_t len)
{
    job_t *j = arg;
    worker_t *w = j->w;
    lq_codec_t *codec = lq_codec_thread();
    lq_chat_chunk_t k;
    const void *buf;
    size_t blen;
    char errstr[256];
    char *copy;

    if (!len || j->req.mode != LQ_MODE_STREAM || !j->req.reply_topic || !codec)
        return;
    if (j->ttft_ms < 0)
        j->ttft_ms = lq_wall_ms() - j->req.created_at_ms;
    copy = malloc(len + 1);
    if (!copy)
        return;
    memcpy(copy, text, len);
    copy[len] = '\0';
    memset(&k, 0, sizeof(k));
    k.job_id = j->req.job_id;
    k.seq = j->chunk_seq++;
    k.delta = copy;
    k.worker_id = w->id;
    k.ts_ms = lq_wall_ms();
    if (!lq_encode_chat_chunk(codec, &k, &buf, &blen, errstr, sizeof(errstr))) {
        produce(w, j, j->req.reply_topic, j->req.job_id, buf, blen);
        lq_metric_add(w->m_chunks, 1);
    }
    free(copy);
}

/* ---------- provider calls ---------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    job_t *j = arg;
    size_t n = size * nmemb;
    long status = 0;

    j->got_first_byte = 1;
    if (j->stream && j->easy) {
        curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) {
            if (worker_stream_emitted(j->stream) > j->w->max_response) {
                j->resp_too_big = 1;
                return 0;
            }
            worker_stream_feed(j->stream, data, n, on_delta, j);
            return n;
        }
    }
    if (j->resp_len + n > j->w->max_response) {
        j->resp_too_big = 1;
        return 0; /* abort the transfer */
    }
    if (j->resp_len + n + 1 > j->resp_cap) {
        size_t ncap = (j->resp_len + n + 1) * 2;
        char *nb = realloc(j->resp, ncap);
        if (!nb)
            return 0;
        j->resp = nb;
        j->resp_cap = ncap;
    }
    memcpy(j->resp + j->resp_len, data, n);
    j->resp_len += n;
    j->resp[j->resp_len] = '\0';
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    job_t *j = arg;
    size_t n = size * nmemb;

    j->got_first_byte = 1;
    if (n > 12 && strncasecmp(data, "retry-after:", 12) == 0) {
        size_t i = 12, o = 0;
        while (i < n && data[i] == ' ')
            i++;
        while (i < n && o + 1 < sizeof(j->retry_after) && data[i] != '\r' && data[i] != '\n')
            j->retry_after[o++] = data[i++];
        j->retry_after[o] = '\0';
    }
    return n;
}

static void provider_done(worker_t *w, job_t *j);
static void start_attempt(worker_t *w, job_t *j);

static void history_add(worker_t *w, job_t *j, int ep, const char *model, int64_t start_ms,
                        int32_t duration_ms, int status, const char *outcome)
{
    attempt_rec_t *h;

    (void)w;
    if (j->n_hist >= MAX_HISTORY)
        return;
    h = &j->hist[j->n_hist++];
    h->endpoint = ep;
    {
        size_t n = strnlen(model, sizeof(h->model) - 1);
        memmove(h->model, model, n);
        h->model[n] = '\0';
    }
    h->start_ms = start_ms;
    h->duration_ms = duration_ms;
    h->http_status = status;
    snprintf(h->outcome, sizeof(h->outcome), "%s", outcome);
}

/* The mock provider streams its text word by word. */
static void mock_stream_step(worker_t *w, job_t *j)
{
    const char *text = j->result.content ? j->result.content : "";
    size_t total = strlen(text);

    do {
        size_t end = j->mock_pos;
        while (end < total && text[end] == ' ')
            end++;
        while (end < total && text[end] != ' ')
            end++;
        if (end > j->mock_pos)
            on_delta(j, text + j->mock_pos, end - j->mock_pos);
        j->mock_pos = end;
    } while (j->mock_pos < total && w->mock_interval_us == 0);
    if (j->mock_pos >= total) {
        provider_done(w, j);
        return;
    }
    if (timer_add(w, j, T_MOCK_TOKEN, lq_mono_us() + w->mock_interval_us)) {
        worker_result_fail(&j->result, "server_error", NULL, "out of memory", 500, 0);
        provider_done(w, j);
    }
}

/* The next candidate whose breaker lets a call through; 0 when none is left. */
static int pick_candidate(worker_t *w, job_t *j)
{
    int64_t now = lq_mono_ms();

    while (j->cand < j->dec.n) {
        int ep = j->dec.candidates[j->cand].endpoint;
        if (breaker_allow(&w->breakers[ep], now))
            return 1;
        history_add(w, j, ep, j->dec.candidates[j->cand].model, lq_wall_ms(), 0, 503,
                    "breaker_open");
        j->cand++;
        j->cand_attempts = 0;
        if (j->cand < j->dec.n)
            j->fallbacks++;
    }
    return 0;
}

static void start_attempt(worker_t *w, job_t *j)
{
    const route_candidate_t *c;
    const route_endpoint_t *ep;
    worker_http_request_t hr;
    worker_target_t target;
    char tenant_key[600];
    CURL *e;
    size_t i;

    worker_result_clear(&j->result);
    if (!pick_candidate(w, j)) {
        char msg[600];
        snprintf(msg, sizeof(msg), "No provider can take the request now: the circuit breaker of "
                 "every candidate (%s) is open.", j->route);
        worker_result_fail(&j->result, "provider_error", "provider_unavailable", msg, 503, 1);
        finish_job(w, j);
        return;
    }
    c = &j->dec.candidates[j->cand];
    ep = routing_endpoint(w->routing, c->endpoint);
    j->endpoint = c->endpoint;
    j->attempts++;
    j->cand_attempts++;
    j->attempt_start_us = lq_mono_us();
    if (!j->first_attempt_ms)
        j->first_attempt_ms = lq_wall_ms();
    if (ep->is_mock) {
        worker_mock_complete(&j->req, w->mock_tokens, &j->result);
        j->mock_pos = 0;
        if (timer_add(w, j, j->req.mode == LQ_MODE_STREAM && j->result.ok ? T_MOCK_TOKEN : T_MOCK_DONE,
                      j->attempt_start_us + w->mock_latency_us)) {
            worker_result_fail(&j->result, "server_error", NULL, "out of memory", 500, 0);
            provider_done(w, j);
        }
        return;
    }
    memset(&target, 0, sizeof(target));
    target.wire = ep->wire;
    target.base_url = ep->base_url;
    target.api_key = ep->n_keys ? ep->keys[w->key_next[c->endpoint]++ % ep->n_keys] : "";
    j->tenant_key = worker_byok_get(w->byok, j->req.tenant_id, ep->name, tenant_key,
                                    sizeof(tenant_key));
    if (j->tenant_key < 0) {
        char msg[300];
        snprintf(msg, sizeof(msg), "This tenant's own key for %s cannot be used (it does not "
                 "decrypt on this worker); an operator must check the master key.", ep->name);
        worker_result_fail(&j->result, "provider_error", "provider_key_unavailable", msg, 502, 0);
        provider_done(w, j);
        return;
    }
    if (j->tenant_key)
        target.api_key = tenant_key; /* the tenant's own key for this provider */
    target.model = c->model;
    target.headers = (const char *const *)ep->headers;
    target.n_headers = ep->n_headers;
    target.default_max_tokens = ep->default_max_tokens;
    e = curl_easy_init();
    if (!e || worker_build_request(&j->req, &target, j->req.mode == LQ_MODE_STREAM, &hr)) {
        if (e)
            curl_easy_cleanup(e);
        worker_result_fail(&j->result, "server_error", NULL, "cannot build the provider request",
                           500, 0);
        provider_done(w, j);
        return;
    }
    j->resp_len = 0;
    j->resp_too_big = 0;
    j->retry_after[0] = '\0';
    j->got_first_byte = 0;
    worker_stream_free(j->stream);
    j->stream = j->req.mode == LQ_MODE_STREAM ? worker_stream_new(ep->wire) : NULL;
    j->headers = NULL;
    for (i = 0; i < hr.n_headers; i++)
        j->headers = curl_slist_append(j->headers, hr.headers[i]);
    curl_easy_setopt(e, CURLOPT_URL, hr.url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers);
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, hr.body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, w->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, w->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "llmq-worker/0.1");
    worker_http_request_clear(&hr);
    OPENSSL_cleanse(tenant_key, sizeof(tenant_key));
    j->easy = e;
    curl_multi_add_handle(w->multi, e);
    timer_add(w, j, T_FIRST_BYTE, j->attempt_start_us + w->first_byte_timeout_ms * 1000);
}

static int64_t backoff_us(int attempt, int64_t retry_after_ms)
{
    int64_t cap = 200000LL << (attempt < 6 ? attempt : 6); /* 0.2 s, 0.4 s, ... 12.8 s */
    uint64_t r = 0;
    int64_t wait;

    if (lq_random_bytes(&r, sizeof(r)) != LQ_OK)
        r = (uint64_t)lq_mono_us();
    wait = (int64_t)(r % (uint64_t)cap); /* full jitter */
    if (retry_after_ms > 0 && retry_after_ms * 1000 > wait)
        wait = retry_after_ms * 1000;
    return wait > 30000000 ? 30000000 : wait;
}

/* Errors another provider may not have: the next candidate is worth a try. */
static int worth_fallback(const worker_result_t *r)
{
    if (r->retriable)
        return 1;
    return r->err_type && (strcmp(r->err_type, "provider_auth_error") == 0 ||
                           (r->err_code && strcmp(r->err_code, "insufficient_credits") == 0));
}

static void provider_done(worker_t *w, job_t *j)
{
    int64_t spent = lq_mono_us() - j->attempt_start_us;
    const route_candidate_t *c = &j->dec.candidates[j->cand];
    int64_t now_ms = lq_mono_ms();
    int streamed = j->stream ? worker_stream_emitted(j->stream) > 0 : j->mock_pos > 0;

    j->provider_us += spent;
    lq_metric_observe_us(w->m_endpoint_latency[c->endpoint], spent);
    history_add(w, j, c->endpoint, c->model, lq_wall_ms() - spent / 1000, (int32_t)(spent / 1000),
                j->result.ok ? 0 : j->result.http_status,
                j->result.ok ? "ok" : j->result.err_code ? j->result.err_code : j->result.err_type);
    /* the breaker counts what says the endpoint is unwell: 5xx, 429, timeouts, resets */
    {
        breaker_t *b = &w->breakers[c->endpoint];
        int was_open = b->state == BREAKER_OPEN;
        breaker_record(b, j->result.ok || !j->result.retriable, now_ms);
        if (!was_open && b->state == BREAKER_OPEN) {
            lq_metric_add(w->m_breaker_open[c->endpoint], 1);
            LQ_WARN("circuit breaker of endpoint %s opened (%d consecutive failures)",
                    endpoint_name(w, c->endpoint), b->threshold);
        }
    }
    if (j->result.ok || j->cancelled || streamed) {
        if (!j->result.ok && streamed && j->result.retriable)
            j->result.retriable = 0; /* the client has part of an answer: not replayable */
        finish_job(w, j);
        return;
    }
    if (j->result.retriable && j->cand_attempts < w->max_attempts &&
        breaker_state(&w->breakers[c->endpoint], now_ms) == BREAKER_CLOSED) {
        lq_metric_add(w->m_retries, 1);
        LQ_DEBUG("job %s: attempt %d failed (%s); retrying", j->req.job_id, j->attempts,
                 j->result.err_message);
        if (timer_add(w, j, T_RETRY, lq_mono_us() + backoff_us(j->cand_attempts, j->result.retry_after_ms)) ==
            LQ_OK)
            return;
    }
    if (worth_fallback(&j->result) && j->cand + 1 < j->dec.n) {
        LQ_DEBUG("job %s: %s failed (%s); falling back", j->req.job_id,
                 endpoint_name(w, c->endpoint), j->result.err_message);
        j->cand++;
        j->cand_attempts = 0;
        j->fallbacks++;
        lq_metric_add(w->m_fallbacks, 1);
        start_attempt(w, j);
        return;
    }
    finish_job(w, j);
}

static void detach_easy(worker_t *w, job_t *j)
{
    if (!j->easy)
        return;
    curl_multi_remove_handle(w->multi, j->easy);
    curl_easy_cleanup(j->easy);
    j->easy = NULL;
    curl_slist_free_all(j->headers);
    j->headers = NULL;
}

static void curl_done(worker_t *w, CURL *e, CURLcode code)
{
    job_t *j = NULL;
    long status = 0;
    worker_wire_t wire;

    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (j->timer == T_FIRST_BYTE)
        timer_remove(w, j);
    detach_easy(w, j);
    wire = routing_endpoint(w->routing, j->endpoint)->wire;
    if (j->resp_too_big) {
        worker_result_fail(&j->result, "provider_error", "response_too_large",
                           "The provider's answer was larger than the configured limit.", 502, 0);
    } else if (j->stream && status >= 200 && status < 300) {
        /* a transfer error mid-stream reads as a stream without its end marker */
        worker_stream_finish(j->stream, &j->result);
    } else if (code != CURLE_OK) {
        worker_parse_response(wire, 0, NULL, 0, NULL, curl_easy_strerror(code),
                              code == CURLE_OPERATION_TIMEDOUT, &j->result);
    } else {
        worker_parse_response(wire, status, j->resp, j->resp_len,
                              j->retry_after[0] ? j->retry_after : NULL, NULL, 0, &j->result);
    }
    provider_done(w, j);
}

/* The provider sent nothing within provider.first_byte_timeout_ms. */
static void first_byte_timeout(worker_t *w, job_t *j)
{
    char msg[200];

    if (j->got_first_byte || !j->easy)
        return;
    detach_easy(w, j);
    snprintf(msg, sizeof(msg), "The provider sent nothing for %ld ms.", w->first_byte_timeout_ms);
    worker_result_fail(&j->result, "provider_error", "provider_timeout", msg, 504, 1);
    provider_done(w, j);
}

/* ---------- cancellations ---------- */

static void remember_cancel(worker_t *w, const char *job_id)
{
    char **slot;

    if (lq_hashmap_get(w->cancelled, job_id))
        return; /* remembered already (one ring slot per id) */
    slot = &w->cancel_ring[w->cancel_next++ % CANCEL_MEMORY];
    if (*slot) { /* forget the oldest */
        lq_hashmap_remove(w->cancelled, *slot);
        free(*slot);
    }
    *slot = strdup(job_id);
    if (*slot)
        lq_hashmap_put(w->cancelled, *slot, *slot);
}

static void cancel_job(worker_t *w, const char *job_id, const char *reason)
{
    job_t *j = lq_hashmap_get(w->jobs, job_id);
    char msg[160];

    if (!j || j->finished) {
        remember_cancel(w, job_id); /* not here yet (or never): skip it if it comes */
        return;
    }
    detach_easy(w, j);
    timer_remove(w, j);
    if (j->attempt_start_us && !j->result.ok)
        j->provider_us += lq_mono_us() - j->attempt_start_us;
    snprintf(msg, sizeof(msg), "The job was cancelled (%s).", reason);
    worker_result_fail(&j->result, "cancelled", reason, msg, 499, 0);
    j->result.ok = 0;
    j->cancelled = 1;
    LQ_DEBUG("job %s cancelled: %s", job_id, reason);
    finish_job(w, j);
}

static void handle_cancel(worker_t *w, rd_kafka_message_t *m)
{
    lq_codec_t *codec = lq_codec_thread();
    lq_job_cancel_t k;
    char errstr[256];
    rd_kafka_topic_partition_list_t *l;

    if (codec && lq_decode_job_cancel(codec, m->payload, m->len, &k, errstr, sizeof(errstr)) == LQ_OK) {
        cancel_job(w, k.job_id, k.reason);
        lq_job_cancel_clear(&k);
    } else {
        LQ_WARN("cancellation p%d@%lld ignored: %s", m->partition, (long long)m->offset,
                codec ? errstr : "no codec");
    }
    l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, w->topics.cancels, m->partition)->offset = m->offset + 1;
    rd_kafka_offsets_store(w->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* ---------- consuming ---------- */

static void handle_message(worker_t *w, rd_kafka_message_t *m)
{
    job_t *j;
    partition_state_t *ps;
    lq_codec_t *codec = lq_codec_thread();
    char errstr[256];

    if (strcmp(rd_kafka_topic_name(m->rkt), w->topics.cancels) == 0) {
        handle_cancel(w, m);
        return;
    }
    j = calloc(1, sizeof(*j));
    ps = part_state(w, m->partition);
    if (!j) {
        LQ_ERROR("out of memory; message p%d@%lld left for redelivery", m->partition,
                 (long long)m->offset);
        return;
    }
    j->w = w;
    j->partition = m->partition;
    j->offset = m->offset;
    j->pending = 1;
    j->picked_ms = lq_wall_ms();
    j->ttft_ms = -1;
    if (ps && ps->tracker && worker_offsets_add(ps->tracker, m->offset) == LQ_OK)
        j->generation = ps->generation;
    else
        j->generation = UINT64_MAX; /* untracked: never stored */
    w->inflight++;
    lq_metric_set(w->m_inflight, (int64_t)w->inflight);

    if (!codec || lq_decode_chat_request(codec, m->payload, m->len, &j->req, errstr, sizeof(errstr))) {
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(2);
        rd_kafka_resp_err_t e;
        LQ_ERROR("request p%d@%lld cannot be decoded (%s): sent to %s", m->partition,
                 (long long)m->offset, codec ? errstr : "no codec", w->topics.dlq);
        rd_kafka_header_add(hdrs, "llmq-error", -1, codec ? errstr : "no codec", -1);
        j->dead_letter = 1;
        j->pending++;
        e = rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(w->topics.dlq),
                              RD_KAFKA_V_KEY(m->key, m->key_len),
                              RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_HEADERS(hdrs),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(j),
                              RD_KAFKA_V_END);
        if (e) {
            rd_kafka_headers_destroy(hdrs);
            j->pending--;
            LQ_ERROR("cannot produce to %s: %s", w->topics.dlq, rd_kafka_err2str(e));
        }
        lq_metric_add(w->m_dead, 1);
        job_release(j);
        return;
    }
    if (routing_decide(w->routing, &j->req, w->route_seq++, &j->dec)) {
        snprintf(j->route, sizeof(j->route), "no route: %s", j->dec.error);
        worker_result_fail(&j->result, "invalid_request_error", "model_not_found", j->dec.error,
                           404, 0);
        finish_job(w, j);
        return;
    }
    routing_describe(w->routing, &j->dec, j->route, sizeof(j->route));
    j->endpoint = j->dec.candidates[0].endpoint;
    if (lq_hashmap_get(w->cancelled, j->req.job_id)) {
        j->cancelled = 1;
        worker_result_fail(&j->result, "cancelled", "cancelled_before_start",
                           "The job was cancelled before it started.", 499, 0);
        finish_job(w, j);
        return;
    }
    lq_hashmap_put(w->jobs, j->req.job_id, j);
    if (j->req.mode == LQ_MODE_ASYNC)
        publish_status(w, j, LQ_STATUS_RUNNING);
    start_attempt(w, j);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    worker_t *w = opaque;
    int i;

    atomic_store(&w->joined, 1);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (i = 0; i < parts->cnt; i++) {
            partition_state_t *ps;
            if (strcmp(parts->elems[i].topic, w->topics.requests) != 0)
                continue; /* cancels: offsets stored as they are read */
            if (!(ps = part_state(w, parts->elems[i].partition)))
                continue;
            worker_offsets_destroy(ps->tracker);
            ps->tracker = worker_offsets_create();
            ps->generation = ++w->generation;
        }
        LQ_INFO("assigned %d partition(s) of %s and %s", parts->cnt, w->topics.requests,
                w->topics.cancels);
        rd_kafka_assign(rk, parts);
        w->paused = 0;
    } else {
        /* Commit what is finished; unfinished messages of these partitions go to their
         * new owner (at-least-once; results are idempotent downstream). */
        rd_kafka_resp_err_t ce = rd_kafka_commit(rk, NULL, 0);
        if (ce && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
            LQ_WARN("commit on revoke: %s", rd_kafka_err2str(ce));
        for (i = 0; i < parts->cnt; i++) {
            partition_state_t *ps;
            if (strcmp(parts->elems[i].topic, w->topics.requests) != 0)
                continue;
            if (!(ps = part_state(w, parts->elems[i].partition)))
                continue;
            worker_offsets_destroy(ps->tracker);
            ps->tracker = NULL;
            ps->generation = ++w->generation;
        }
        LQ_INFO("revoked %d partition(s)", parts->cnt);
        rd_kafka_assign(rk, NULL);
    }
}

static void set_paused(worker_t *w, int pause)
{
    rd_kafka_topic_partition_list_t *assigned = NULL;

    if (w->paused == pause)
        return;
    if (rd_kafka_assignment(w->consumer, &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR && assigned) {
        /* only the requests: cancellations must get through to a full worker */
        rd_kafka_topic_partition_list_t *req = rd_kafka_topic_partition_list_new(assigned->cnt);
        int i;
        for (i = 0; i < assigned->cnt; i++)
            if (strcmp(assigned->elems[i].topic, w->topics.requests) == 0)
                rd_kafka_topic_partition_list_add(req, assigned->elems[i].topic,
                                                  assigned->elems[i].partition);
        rd_kafka_topic_partition_list_destroy(assigned);
        assigned = req;
        if (pause)
            rd_kafka_pause_partitions(w->consumer, assigned);
        else
            rd_kafka_resume_partitions(w->consumer, assigned);
        rd_kafka_topic_partition_list_destroy(assigned);
    }
    w->paused = pause;
}

static int ready_fn(void *arg, char *why, size_t why_size)
{
    worker_t *w = arg;

    if (!atomic_load(&w->joined)) {
        snprintf(why, why_size, "not yet in the consumer group");
        return 0;
    }
    return 1;
}

/* ---------- lifecycle ---------- */

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
static int load_tables(worker_t *w, const lq_config_t *cfg, char *errstr, size_t errstr_size)
{
    const char *rpath = lq_config_str(cfg, "routing.file"), *ppath = lq_config_str(cfg, "pricing.file");
    char *text = NULL, sub_err[300];
    size_t n, i;

    if (*rpath && !(text = read_text_file(rpath, errstr, errstr_size)))
        return -1;
    w->routing = routing_load(text, cfg, sub_err, sizeof(sub_err));
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
    w->m_endpoint_latency = calloc(n, sizeof(*w->m_endpoint_latency));
    w->m_breaker_open = calloc(n, sizeof(*w->m_breaker_open));
    w->jobs = lq_hashmap_create(1024);
    w->cancelled = lq_hashmap_create(1024);
    if (!w->breakers || !w->key_next || !w->m_endpoint_latency || !w->m_breaker_open || !w->jobs ||
        !w->cancelled) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    for (i = 0; i < n; i++)
        breaker_init(&w->breakers[i], (int)lq_config_int(cfg, "breaker.failures"),
                     lq_config_int(cfg, "breaker.open_ms"));
    return 0;
}

lq_err_t worker_create(worker_t **out, const lq_config_t *cfg, char *errstr, size_t errstr_size)
{
    static const char *const consumer_defaults[] = {
        "enable.auto.commit", "true", "enable.auto.offset.store", "false",
        "auto.commit.interval.ms", "1000", "auto.offset.reset", "earliest",
        "partition.assignment.strategy", "range", "fetch.wait.max.ms", "10",
        "queued.max.messages.kbytes", "16384", "session.timeout.ms", "10000",
        "heartbeat.interval.ms", "1000", NULL};
    /* no compression by default: see ingest/server.c */
    const char *const producer_defaults[] = {
        "enable.idempotence", "true", "linger.ms", "2",
        "message.timeout.ms", "60000", "compression.type", lq_config_str(cfg, "kafka.compression"),
        NULL};
    worker_t *w = calloc(1, sizeof(*w));
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *subs = NULL;
    char kerr[256], host[64] = "worker";
    lq_err_t err = LQ_ERR_NOMEM;
    int i;

    *out = NULL;
    if (!w)
        return LQ_ERR_NOMEM;
    w->wake_fds[0] = w->wake_fds[1] = -1;
    w->cfg = cfg;
    lq_topics_from_config(&w->topics, cfg);
    if (*lq_config_str(cfg, "worker.id")) {
        snprintf(w->id, sizeof(w->id), "%s", lq_config_str(cfg, "worker.id"));
    } else {
        gethostname(host, sizeof(host) - 1);
        snprintf(w->id, sizeof(w->id), "%s-%d", host, (int)getpid());
    }
    w->max_inflight = (size_t)lq_config_int(cfg, "worker.max_inflight");
    w->mock_latency_us = lq_config_int(cfg, "mock.latency_ms") * 1000;
    w->mock_interval_us = lq_config_int(cfg, "mock.token_interval_ms") * 1000;
    w->mock_tokens = (int)lq_config_int(cfg, "mock.completion_tokens");
    w->max_attempts = (int)lq_config_int(cfg, "provider.max_attempts");
    w->connect_timeout_ms = (long)lq_config_int(cfg, "provider.connect_timeout_ms");
    w->timeout_ms = (long)lq_config_int(cfg, "provider.timeout_ms");
    w->first_byte_timeout_ms = (long)lq_config_int(cfg, "provider.first_byte_timeout_ms");
    w->max_response = (size_t)lq_config_int(cfg, "provider.max_response_bytes");
    if (load_tables(w, cfg, errstr, errstr_size)) {
        err = LQ_ERR_CONFIG;
        goto fail;
    }
    {
        int fatal = 0;
        w->byok = worker_byok_start(cfg, &fatal, errstr, errstr_size);
        if (!w->byok && fatal) {
            err = LQ_ERR_CONFIG;
            goto fail;
        }
    }
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
    w->m_chunks = lq_metrics_counter("llmq_worker_stream_chunks_total",
                                     "streamed pieces of answers sent to reply topics", NULL);
    w->m_dead = lq_metrics_counter("llmq_worker_dead_letters_total",
                                   "requests copied to the dead-letter topic", NULL);
    w->m_produce_failed = lq_metrics_counter("llmq_worker_produce_failed_total",
                                             "results Kafka did not take", NULL);
    for (i = 0; i < (int)routing_endpoint_count(w->routing); i++) {
        char labels[200];
        snprintf(labels, sizeof(labels), "endpoint=\"%s\"", endpoint_name(w, i));
        w->m_endpoint_latency[i] = lq_metrics_histogram("llmq_worker_provider_duration_seconds",
                                                        "time of one provider call", labels);
        w->m_breaker_open[i] = lq_metrics_counter("llmq_worker_breaker_opened_total",
                                                  "times an endpoint's circuit breaker opened",
                                                  labels);
    }
    if (pipe2(w->wake_fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        err = LQ_ERR_IO;
        goto fail;
    }
    w->multi = curl_multi_init();
    if (!w->multi)
        goto fail;
    curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 256L);

    conf = lq_kafka_conf_new(cfg, "llmq-worker", producer_defaults, errstr, errstr_size);
    if (!conf) {
        err = LQ_ERR_CONFIG;
        goto fail;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, w);
    w->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
    if (!w->producer) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "kafka producer: %s", kerr);
        err = LQ_ERR_KAFKA;
        goto fail;
    }
    conf = lq_kafka_conf_new(cfg, "llmq-worker", consumer_defaults, errstr, errstr_size);
    if (!conf || lq_kafka_conf_set(conf, "group.id", lq_config_str(cfg, "worker.group"), errstr,
                                   errstr_size)) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        err = LQ_ERR_CONFIG;
        goto fail;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, w);
    w->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof(kerr));
    if (!w->consumer) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "kafka consumer: %s", kerr);
        err = LQ_ERR_KAFKA;
        goto fail;
    }
    rd_kafka_poll_set_consumer(w->consumer);
    w->consumer_q = rd_kafka_queue_get_consumer(w->consumer);
    w->producer_q = rd_kafka_queue_get_main(w->producer);
    rd_kafka_queue_io_event_enable(w->consumer_q, w->wake_fds[1], "c", 1);
    rd_kafka_queue_io_event_enable(w->producer_q, w->wake_fds[1], "p", 1);
    subs = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(subs, w->topics.requests, RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(subs, w->topics.cancels, RD_KAFKA_PARTITION_UA);
    {
        rd_kafka_resp_err_t e = rd_kafka_subscribe(w->consumer, subs);
        rd_kafka_topic_partition_list_destroy(subs);
        if (e) {
            snprintf(errstr, errstr_size, "subscribe %s: %s", w->topics.requests, rd_kafka_err2str(e));
            err = LQ_ERR_KAFKA;
            goto fail;
        }
    }
    err = lq_http_admin_start(&w->admin, lq_config_str(cfg, "admin.bind"),
                              (int)lq_config_int(cfg, "admin.port"), ready_fn, w, errstr,
                              errstr_size);
    if (err)
        goto fail;
    {
        char eps[512];
        size_t o = 0;
        for (i = 0; i < (int)routing_endpoint_count(w->routing) && o < sizeof(eps); i++)
            o += (size_t)snprintf(eps + o, sizeof(eps) - o, "%s%s", i ? ", " : "", endpoint_name(w, i));
        LQ_INFO("worker %s consuming %s (group %s, up to %zu in flight, endpoints: %s; prices %s)",
                w->id, w->topics.requests, lq_config_str(cfg, "worker.group"), w->max_inflight,
                eps, pricing_version(w->pricing));
    }
    *out = w;
    return LQ_OK;
fail:
    worker_destroy(w);
    return err;
}

static void drain_wake_pipe(worker_t *w)
{
    char buf[256];

    while (read(w->wake_fds[0], buf, sizeof(buf)) > 0)
        ;
}

lq_err_t worker_run(worker_t *w, int (*stop_flag)(void))
{
    int stopping = 0;
    int64_t drain_deadline = 0;

    for (;;) {
        struct curl_waitfd wfd;
        int64_t now, timeout_ms = 100;
        int running = 0, budget, got = 0;
        CURLMsg *msg;
        job_t *j;

        if (!stopping && stop_flag()) {
            stopping = 1;
            drain_deadline = lq_mono_ms() + lq_config_int(w->cfg, "worker.drain_timeout_ms");
            set_paused(w, 1);
            LQ_INFO("draining %zu job(s) in flight", w->inflight);
        }
        if (stopping && (w->inflight == 0 || lq_mono_ms() > drain_deadline))
            break;

        /* Take new requests while there is room; pause the partitions when full. */
        if (!stopping) {
            if (w->inflight >= w->max_inflight)
                set_paused(w, 1);
            else if (w->paused && w->inflight <= w->max_inflight * 3 / 4)
                set_paused(w, 0);
        }
        budget = 512;
        /* never more than max_inflight: stop taking requests when full; once the request
         * partitions are paused (top of the next turn) only cancellations come */
        while (budget-- > 0 && (stopping || w->paused || w->inflight < w->max_inflight)) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, 0);
            if (!m)
                break;
            got++;
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    LQ_WARN("consumer: %s", rd_kafka_message_errstr(m));
            } else if (stopping) {
                /* not started: left for redelivery (its offset is not stored) */
            } else {
                handle_message(w, m);
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_poll(w->producer, 0);

        curl_multi_perform(w->multi, &running);
        while ((msg = curl_multi_info_read(w->multi, &running)))
            if (msg->msg == CURLMSG_DONE)
                curl_done(w, msg->easy_handle, msg->data.result);

        now = lq_mono_us();
        while ((j = timer_pop_due(w, now))) {
            timer_kind_t kind = j->timer;
            j->timer = T_NONE;
            if (kind == T_RETRY)
                start_attempt(w, j);
            else if (kind == T_FIRST_BYTE)
                first_byte_timeout(w, j);
            else if (kind == T_MOCK_TOKEN)
                mock_stream_step(w, j);
            else
                provider_done(w, j); /* the mock provider's answer is due */
        }

        if (got > 0 && budget <= 0)
            timeout_ms = 0; /* more may be waiting */
        else if (w->heap_len) {
            int64_t until = (w->heap[0]->due_us - lq_mono_us() + 999) / 1000;
            if (until < timeout_ms)
                timeout_ms = until < 0 ? 0 : until;
        }
        wfd.fd = w->wake_fds[0];
        wfd.events = CURL_WAIT_POLLIN;
        wfd.revents = 0;
        curl_multi_poll(w->multi, &wfd, 1, (int)timeout_ms, NULL);
        if (wfd.revents)
            drain_wake_pipe(w);
    }
    LQ_INFO("drained (%zu left); flushing results", w->inflight);
    rd_kafka_flush(w->producer, 30000);
    {
        rd_kafka_resp_err_t e = rd_kafka_commit(w->consumer, NULL, 0);
        if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
            LQ_WARN("final commit: %s", rd_kafka_err2str(e));
    }
    return LQ_OK;
}

void worker_destroy(worker_t *w)
{
    int i;

    if (!w)
        return;
    lq_http_admin_stop(w->admin);
    worker_byok_stop(w->byok);
    if (w->consumer_q)
        rd_kafka_queue_destroy(w->consumer_q);
    if (w->producer_q)
        rd_kafka_queue_destroy(w->producer_q);
    if (w->consumer) {
        rd_kafka_consumer_close(w->consumer);
        rd_kafka_destroy(w->consumer);
    }
    if (w->producer) {
        rd_kafka_flush(w->producer, 5000);
        rd_kafka_destroy(w->producer);
    }
    if (w->multi)
        curl_multi_cleanup(w->multi);
    for (i = 0; i < w->n_parts; i++)
        worker_offsets_destroy(w->parts[i].tracker);
    free(w->parts);
    free(w->heap);
    routing_free(w->routing);
    pricing_free(w->pricing);
    free(w->breakers);
    free(w->key_next);
    free(w->m_endpoint_latency);
    free(w->m_breaker_open);
    lq_hashmap_destroy(w->jobs);
    lq_hashmap_destroy(w->cancelled);
    for (i = 0; i < CANCEL_MEMORY; i++)
        free(w->cancel_ring[i]);
    if (w->wake_fds[0] >= 0)
        close(w->wake_fds[0]);
    if (w->wake_fds[1] >= 0)
        close(w->wake_fds[1]);
    free(w);
}

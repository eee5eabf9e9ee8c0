/* What a job publishes, step by step: status, streamed chunks, and at the end the masked
 * answer as a reply to the requester and as the final response, which carries the job's
 * usage and trace for the sinks (one record instead of three), and a dead-letter copy.
 * With worker.event_topics the usage and trace also go to their own topics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/secret_scan.h"
#include "schemas/codec.h"
#include "workers/batches.h"
#include "workers/direct_reply.h"
#include "workers/job.h"
#include "workers/produce.h"
#include "workers/provider_metrics.h"
#include "workers/publish.h"
#include "workers/limits_gate.h"
#include "workers/stream_mask.h"
#include "workers/tracing.h"

#define MAX_FINDINGS 8

/* ---- the response ---- */

static lq_job_status_t job_status(const job_t *j)
{
    if (j->cancelled)
        return LQ_STATUS_CANCELLED;
    return j->result.ok ? LQ_STATUS_SUCCEEDED : LQ_STATUS_FAILED;
}

/* The fields every ChatResponse of j carries. */
static void response_init(worker_t *w, const job_t *j, lq_job_status_t status,
                          lq_chat_response_t *r)
{
    memset(r, 0, sizeof(*r));
    r->job_id = j->req.job_id;
    r->tenant_id = j->req.tenant_id;
    r->project_id = j->req.project_id;
    r->api_key_id = j->req.api_key_id;
    r->status = status;
    r->mode = j->req.mode;
    r->model = j->req.model;
    r->provider = j->dec->n ? (char *)worker_endpoint_name(w, j->endpoint) : NULL;
    r->created_at_ms = j->req.created_at_ms;
    r->started_at_ms = j->picked_ms;
    r->attempts = j->attempts;
    r->worker_id = w->id;
    r->replay = j->req.attempt;
    r->conversation_id = j->req.conversation_id;
}

void publish_status(worker_t *w, job_t *j, lq_job_status_t status)
{
    lq_codec_t *codec = lq_codec_thread();
    lq_chat_response_t r;
    const void *buf;
    size_t len;
    char errstr[256];

    response_init(w, j, status, &r);
    if (codec && !lq_encode_chat_response(codec, &r, &buf, &len, errstr, sizeof(errstr)))
        produce(w, j, w->topics->responses, j->req.tenant_id, buf, len);
}

/* The answer as the response's one choice. */
static void set_choice(const worker_result_t *res, lq_chat_response_t *r, lq_choice_t *choice)
{
    memset(choice, 0, sizeof(*choice));
    choice->index = 0;
    choice->role = "assistant";
    choice->content = res->content;
    choice->finish_reason = res->finish_reason;
    choice->extra_json = res->extra_json;
    r->choices = choice;
    r->n_choices = 1;
}

/* The failure (or cancellation) as the response's error. */
static void set_error(const job_t *j, lq_chat_response_t *r)
{
    const worker_result_t *res = &j->result;

    r->has_error = 1;
    r->error.type = res->err_type ? res->err_type : "server_error";
    r->error.code = res->err_code;
    r->error.message = res->err_message ? res->err_message : "the request failed";
    r->error.http_status = res->http_status ? res->http_status : 502;
    LQ_INFO("job %s tenant %s %s: %s", j->req.job_id, j->req.tenant_id,
            j->cancelled ? "cancelled" : "failed", r->error.message);
}

/* An answer that cannot travel (too large for a record, or not encodable) still ends its
 * job: as failed, with why, so no accepted request is left without a final state. */
static void set_unsendable(const job_t *j, lq_chat_response_t *r, const char *why)
{
    r->status = LQ_STATUS_FAILED;
    r->choices = NULL;
    r->n_choices = 0;
    r->extra_json = NULL;
    r->has_error = 1;
    r->error.type = "provider_error";
    r->error.code = "response_too_large";
    r->error.message = (char *)why; /* borrowed until the response is sent */
    r->error.http_status = 502;
    LQ_WARN("job %s tenant %s failed: %s", j->req.job_id, j->req.tenant_id, why);
}

/* r (with its usage and trace) to the responses topic, and without them to the requester's
 * reply topic. 0, or -1 with why filled when r cannot travel: it does not encode, or it is
 * larger than one Kafka record. */
static int send_response(worker_t *w, job_t *j, lq_codec_t *codec, lq_chat_response_t *r, char *why,
                         size_t why_size)
{
    const void *buf;
    size_t len;
    char errstr[256];

    if (lq_encode_chat_response(codec, r, &buf, &len, errstr, sizeof(errstr))) {
        LQ_ERROR("job %s: %s", j->req.job_id, errstr);
        snprintf(why, why_size, "The answer could not be encoded.");
        return -1;
    }
    if (produce(w, j, w->topics->responses, j->req.tenant_id, buf, len) ==
        RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        snprintf(why, why_size,
                 "The provider's answer (%zu bytes as a record) is larger than one Kafka record "
                 "may be (message.max.bytes).",
                 len);
        return -1;
    }
    if (j->req.mode != LQ_MODE_ASYNC && j->req.reply_topic) {
        lq_chat_response_t reply = *r; /* the requester needs neither usage nor trace */
        reply.has_usage = reply.has_trace = 0;
        /* the node takes it directly when it can (workers/direct_reply.h) */
        if (!lq_encode_chat_response(codec, &reply, &buf, &len, errstr, sizeof(errstr)))
            direct_reply_send(w, j, buf, len);
    }
    return 0;
}

static void count_outcome(worker_t *w, lq_job_status_t status)
{
    if (status == LQ_STATUS_SUCCEEDED)
        lq_metric_add(w->m_succeeded, 1);
    else
        lq_metric_add(status == LQ_STATUS_CANCELLED ? w->m_cancelled : w->m_failed, 1);
}

/* The final ChatResponse, carrying u and e, to the responses topic, and to the requester's
 * reply topic. */
static void publish_response(worker_t *w, job_t *j, lq_codec_t *codec, const lq_usage_event_t *u,
                             const lq_trace_event_t *e, int64_t now)
{
    const worker_result_t *res = &j->result;
    lq_chat_response_t r;
    lq_choice_t choice;
    char why[256];

    response_init(w, j, job_status(j), &r);
    r.provider_model = res->provider_model;
    r.finished_at_ms = now;
    r.prompt_tokens = res->prompt_tokens;
    r.completion_tokens = res->completion_tokens;
    r.extra_json = res->response_extra_json;
    r.has_usage = r.has_trace = 1;
    r.usage = *u; /* borrowed: the response is encoded before they go */
    r.trace = *e;
    if (res->ok && !j->cancelled)
        set_choice(res, &r, &choice);
    else
        set_error(j, &r);
    if (send_response(w, j, codec, &r, why, sizeof(why))) {
        set_unsendable(j, &r, why);
        send_response(w, j, codec, &r, why, sizeof(why));
    }
    count_outcome(w, r.status);
}

/* Released (masked) streamed text as a ChatChunk to the requester's reply topic. */
static void send_chunk(void *arg, const char *text, size_t len)
{
    job_t *j = arg;
    worker_t *w = j->w;
    lq_codec_t *codec = lq_codec_thread();
    lq_chat_chunk_t k;
    const void *buf;
    size_t blen;
    char errstr[256];
    char *copy;

    if (!len || !codec)
        return;
    if (j->ttft_ms < 0) /* the client's first token: after the hold-back */
        j->ttft_ms = lq_cluster_ms() - j->req.created_at_ms;
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
    k.ts_ms = lq_cluster_ms();
    if (!lq_encode_chat_chunk(codec, &k, &buf, &blen, errstr, sizeof(errstr))) {
        direct_reply_send(w, j, buf, blen);
        lq_metric_add(w->m_chunks, 1);
    }
    free(copy);
}

/* Streamed text goes through the job's hold-back (workers/stream_mask.c): credentials are
 * masked before any piece of them leaves the worker, even one split across deltas. */
void publish_chunk(void *arg, const char *text, size_t len)
{
    job_t *j = arg;

    if (!len || j->req.mode != LQ_MODE_STREAM || !j->req.reply_topic)
        return;
    provider_metrics_first_token(j);
    if (stream_mask_feed(&j->smask, text, len, send_chunk, j))
        LQ_WARN("job %s: out of memory masking a streamed piece (dropped)", j->req.job_id);
}

/* The end of a streamed answer: what the hold-back still holds, masked, before the response. */
static void publish_held(job_t *j)
{
    if (j->req.mode == LQ_MODE_STREAM && j->req.reply_topic)
        stream_mask_flush(&j->smask, send_chunk, j);
    stream_mask_clear(&j->smask);
}

/* ---- masking ---- */

/* Add the kinds of the findings to the comma-separated list findings[size], once each. */
static void name_findings(const lq_secret_finding_t *f, size_t n, char *findings, size_t size)
{
    size_t k;

    for (k = 0; k < n && k < MAX_FINDINGS; k++) {
        const char *name = lq_secret_kind_name(f[k].kind);
        size_t used = strlen(findings);
        if (!strstr(findings, name) && used + strlen(name) + 2 < size)
            snprintf(findings + used, size - used, "%s%s", findings[0] ? "," : "", name);
    }
}

/* Credentials in an answer are masked before it is stored or returned, and named (in
 * findings) for the trace. */
static void mask_answer(worker_t *w, worker_result_t *res, char *findings, size_t size)
{
    lq_secret_finding_t f[MAX_FINDINGS];
    size_t n;

    if (!res->ok || !res->content)
        return;
    n = lq_secret_scan(res->content, strlen(res->content), f, MAX_FINDINGS);
    name_findings(f, n, findings, size);
    if (n) {
        /* not only the findings at hand: masking them can expose a neighbour, and the
         * stored answer is what a stream of it showed (workers/stream_mask.c) */
        lq_secret_redact(res->content);
        lq_metric_add(w->m_output_redacted, (int64_t)n);
    }
    if (res->extra_json)
        lq_secret_redact(res->extra_json);
}

/* ---- the attempt history and the dead-letter copy ---- */

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
        lq_jsonw_kstr(&jw, "endpoint", worker_endpoint_name(w, h->endpoint));
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
static void dead_letter(worker_t *w, job_t *j, lq_codec_t *codec, const char *hist)
{
    const worker_result_t *res = &j->result;
    const void *buf;
    size_t len;
    char errstr[256], attempts[16];
    rd_kafka_headers_t *hdrs;

    if (lq_encode_chat_request(codec, &j->req, &buf, &len, errstr, sizeof(errstr))) {
        LQ_ERROR("job %s: cannot encode for the dead-letter topic", j->req.job_id);
        return;
    }
    snprintf(attempts, sizeof(attempts), "%d", j->attempts);
    hdrs = rd_kafka_headers_new(4);
    rd_kafka_header_add(hdrs, "llmq-error", -1, res->err_message ? res->err_message : "failed", -1);
    rd_kafka_header_add(hdrs, "llmq-error-code", -1, res->err_code ? res->err_code : "", -1);
    rd_kafka_header_add(hdrs, "llmq-attempts", -1, attempts, -1);
    rd_kafka_header_add(hdrs, "llmq-history", -1, hist ? hist : "[]", -1);
    if (produce_dead_letter(w, j, j->req.tenant_id, strlen(j->req.tenant_id), buf, len, hdrs))
        return;
    lq_metric_add(w->m_dead, 1);
    LQ_WARN("job %s tenant %s: dead-lettered after %d attempt(s)", j->req.job_id, j->req.tenant_id,
            j->attempts);
}

/* ---- usage ---- */

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

/* The cost of j's tokens into *cost: the model sent to the provider is priced ("mock" for
 * the mock), else the one that answered; 0 when neither is in the price table. */
static int usage_cost(worker_t *w, const job_t *j, double *cost)
{
    const worker_result_t *res = &j->result;
    const char *model = j->req.model;

    if (j->dec->n)
        model = j->dec->candidates[j->cand < j->dec->n ? j->cand : j->dec->n - 1].model;
    if (j->dec->n && routing_endpoint(w->routing, j->endpoint)->is_mock)
        model = "mock";
    if (pricing_cost(w->pricing, model, res->prompt_tokens, res->completion_tokens, cost))
        return 1;
    return res->provider_model && pricing_cost(w->pricing, res->provider_model, res->prompt_tokens,
                                               res->completion_tokens, cost);
}

/* The job's usage event into *u (event_id[40] holds its id), and its tokens and cost settled
 * against its limits. */
static void job_usage(worker_t *w, job_t *j, int64_t now, lq_usage_event_t *u, char *event_id)
{
    const worker_result_t *res = &j->result;

    memset(u, 0, sizeof(*u));
    usage_event_id(&j->req, event_id);
    u->event_id = event_id;
    u->job_id = j->req.job_id;
    u->tenant_id = j->req.tenant_id;
    u->project_id = j->req.project_id;
    u->api_key_id = j->req.api_key_id;
    u->user_id = j->req.user_id;
    u->model = j->req.model;
    u->provider = (char *)worker_endpoint_name(w, j->endpoint);
    u->provider_model = res->provider_model;
    u->status = job_status(j);
    u->prompt_tokens = res->prompt_tokens;
    u->completion_tokens = res->completion_tokens;
    u->has_cost = usage_cost(w, j, &u->cost_usd);
    provider_metrics_usage(w, j, u->cost_usd, u->has_cost);
    limits_gate_settle(w, j, (int64_t)u->prompt_tokens + u->completion_tokens,
                       u->has_cost ? (int64_t)ceil(u->cost_usd * LQ_MICRO_USD) : 0);
    u->latency_ms = (int32_t)(j->provider_us / 1000);
    u->ts_ms = now;
    u->conversation_id = j->req.conversation_id;
}

/* ---- the trace ---- */

/* The spans of a trace and the strings their attributes point to. */
typedef struct trace_spans {
    lq_span_t spans[2 + MAX_HISTORY];
    size_t n;
    char *keys[8], *vals[8];
    char *att_keys[MAX_HISTORY][4], *att_vals[MAX_HISTORY][4];
    char att_span[MAX_HISTORY][17];
    char *queue_keys[3], *queue_vals[3];
    char attempts[16], fallbacks[16], ttft[24], worker_wait[24], admission[24], kafka[24];
    char host_wait[24];
} trace_spans_t;

/* Add attribute key = val to the provider span (spans[1]). */
static void provider_attr(trace_spans_t *t, const char *key, const char *val)
{
    lq_span_t *sp = &t->spans[1];

    t->keys[sp->n_attrs] = (char *)key;
    t->vals[sp->n_attrs] = (char *)val;
    sp->n_attrs++;
}

/* The provider span covers every attempt and the waits between them, and a wait for a
 * connection before the first (host_wait_ms: all the job's waits for one). */
static void provider_span(worker_t *w, const job_t *j, const char *hist, const char *findings,
                          int64_t now, trace_spans_t *t)
{
    lq_span_t *sp = &t->spans[1];

    snprintf(t->attempts, sizeof(t->attempts), "%d", j->attempts);
    snprintf(t->fallbacks, sizeof(t->fallbacks), "%d", j->fallbacks);
    snprintf(t->ttft, sizeof(t->ttft), "%lld", (long long)j->ttft_ms);
    sp->name = "provider";
    sp->start_ms = j->first_attempt_ms ? j->first_attempt_ms : j->picked_ms;
    sp->duration_ms = (int32_t)(now - sp->start_ms);
    sp->attr_keys = t->keys;
    sp->attr_values = t->vals;
    provider_attr(t, "endpoint", worker_endpoint_name(w, j->endpoint));
    provider_attr(t, "attempts", t->attempts);
    provider_attr(t, "fallbacks", t->fallbacks);
    provider_attr(t, "history", hist ? hist : "[]");
    if (j->ttft_ms >= 0)
        provider_attr(t, "ttft_ms", t->ttft);
    if (findings[0])
        provider_attr(t, "output_findings", findings);
    if (j->tenant_key > 0) /* which credentials the call used (never the key itself) */
        provider_attr(t, "key", "tenant");
    if (j->host_wait_us > 0) { /* waiting for a connection (provider.max_host_connections) */
        snprintf(t->host_wait, sizeof(t->host_wait), "%lld", (long long)(j->host_wait_us / 1000));
        provider_attr(t, "host_wait_ms", t->host_wait);
    }
}

/* The queue span: accepted to picked for its first attempt. Its attributes split it into hops
 * (ms): admission_ms, from accepted to handed to the producer (the record's timestamp);
 * kafka_ms, from there to read by this worker (the linger, the broker's append and
 * acknowledgement, the fetch); worker_wait_ms, from read to picked (this worker's fair
 * queue). The first two compare the ingest node's clock with this worker's. */
static void queue_span(const job_t *j, trace_spans_t *t)
{
    lq_span_t *sp = &t->spans[0];

    sp->name = "queue";
    sp->start_ms = j->req.created_at_ms;
    sp->duration_ms = (int32_t)(j->picked_ms - j->req.created_at_ms);
    sp->attr_keys = t->queue_keys;
    sp->attr_values = t->queue_vals;
    snprintf(t->worker_wait, sizeof(t->worker_wait), "%lld",
             (long long)(j->picked_ms - j->arrived_ms));
    t->queue_keys[sp->n_attrs] = "worker_wait_ms";
    t->queue_vals[sp->n_attrs++] = t->worker_wait;
    if (j->record_ts_ms <= 0)
        return;
    snprintf(t->admission, sizeof(t->admission), "%lld",
             (long long)(j->record_ts_ms - j->req.created_at_ms));
    snprintf(t->kafka, sizeof(t->kafka), "%lld", (long long)(j->arrived_ms - j->record_ts_ms));
    t->queue_keys[sp->n_attrs] = "admission_ms";
    t->queue_vals[sp->n_attrs++] = t->admission;
    t->queue_keys[sp->n_attrs] = "kafka_ms";
    t->queue_vals[sp->n_attrs++] = t->kafka;
}

/* A span per attempt (and per candidate skipped). */
static void attempt_spans(worker_t *w, const job_t *j, trace_spans_t *t)
{
    int i;

    for (i = 0; i < j->n_hist; i++) {
        lq_span_t *sp = &t->spans[t->n++];
        const attempt_rec_t *h = &j->hist[i];
        t->att_keys[i][0] = "endpoint";
        t->att_vals[i][0] = (char *)worker_endpoint_name(w, h->endpoint);
        t->att_keys[i][1] = "model";
        t->att_vals[i][1] = (char *)h->model;
        t->att_keys[i][2] = "outcome";
        t->att_vals[i][2] = (char *)h->outcome;
        sp->name = "attempt";
        sp->start_ms = h->start_ms;
        sp->duration_ms = h->duration_ms;
        sp->attr_keys = t->att_keys[i];
        sp->attr_values = t->att_vals[i];
        sp->n_attrs = 3;
        if (h->start_us) { /* a call: its span's id, as exported (workers/tracing.h) */
            lq_hex(t->att_span[i], h->span_id, sizeof(h->span_id));
            t->att_keys[i][3] = "span_id";
            t->att_vals[i][3] = t->att_span[i];
            sp->n_attrs = 4;
        }
    }
}

/* The job's trace event into *e, its spans in *t and its W3C trace id in trace_id[33]. */
static void job_trace(worker_t *w, job_t *j, const char *hist, const char *findings, int64_t now,
                      trace_spans_t *t, lq_trace_event_t *e, char *trace_id)
{
    memset(t, 0, sizeof(*t));
    queue_span(j, t);
    provider_span(w, j, hist, findings, now, t);
    t->n = 2;
    attempt_spans(w, j, t);
    memset(e, 0, sizeof(*e));
    e->trace_id = j->req.job_id;
    e->job_id = j->req.job_id;
    e->tenant_id = j->req.tenant_id;
    e->project_id = j->req.project_id;
    e->api_key_id = j->req.api_key_id;
    e->user_id = j->req.user_id;
    e->model = j->req.model;
    e->provider = (char *)worker_endpoint_name(w, j->endpoint);
    e->status = job_status(j);
    e->route = j->route;
    e->worker_id = w->id;
    e->conversation_id = j->req.conversation_id;
    worker_tracing_trace_id(j, trace_id);
    e->otel_trace_id = trace_id;
    e->created_at_ms = j->req.created_at_ms;
    e->queue_ms = t->spans[0].duration_ms;
    e->provider_ms = (int32_t)(j->provider_us / 1000);
    e->total_ms = (int32_t)(now - j->req.created_at_ms);
    e->spans = t->spans;
    e->n_spans = t->n;
}

/* With worker.event_topics: the usage and the trace to their own topics as well. */
static void publish_events(worker_t *w, job_t *j, lq_codec_t *codec, const lq_usage_event_t *u,
                           const lq_trace_event_t *e)
{
    const void *buf;
    size_t len;
    char errstr[256];

    if (!lq_encode_usage_event(codec, u, &buf, &len, errstr, sizeof(errstr)))
        produce(w, j, w->topics->usage, j->req.tenant_id, buf, len);
    else
        LQ_ERROR("job %s: %s", j->req.job_id, errstr);
    if (!lq_encode_trace_event(codec, e, &buf, &len, errstr, sizeof(errstr)))
        produce(w, j, w->topics->traces, j->req.tenant_id, buf, len);
    else
        LQ_ERROR("job %s: %s", j->req.job_id, errstr);
}

/* ---- the end of a job ---- */

void publish_finish(worker_t *w, job_t *j)
{
    lq_codec_t *codec = lq_codec_thread();
    char findings[160] = "", *hist, event_id[40], trace_id[33];
    int64_t now = lq_cluster_ms(), publish_us = lq_cluster_us();
    lq_usage_event_t u;
    lq_trace_event_t e;
    trace_spans_t t;

    j->finished = 1;
    batches_done(j); /* no longer takes a batch job's place */
    mask_answer(w, &j->result, findings, sizeof(findings));
    if (lq_hashmap_get(w->jobs, j->req.job_id) == j)
        lq_hashmap_remove(w->jobs, j->req.job_id);
    if (!codec) {
        LQ_ERROR("job %s: no codec", j->req.job_id);
        job_release(j);
        return;
    }
    publish_held(j);
    hist = history_json(w, j);
    job_usage(w, j, now, &u, event_id);
    job_trace(w, j, hist, findings, now, &t, &e, trace_id);
    publish_response(w, j, codec, &u, &e, now);
    if (!j->result.ok && !j->cancelled && j->result.retriable)
        dead_letter(w, j, codec, hist);
    if (w->set.worker.event_topics)
        publish_events(w, j, codec, &u, &e);
    free(hist);
    worker_tracing_export(w, j, publish_us);
    job_release(j);
}

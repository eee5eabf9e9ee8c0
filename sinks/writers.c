/* sinks/writers.c — a batch's rows, built from the records as JSON (one array per table)
 * and, for jobs, usage and traces, again as COPY text; sinks/batch_write.c writes them. */
#include "sinks/writers.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/log.h"
#include "common/openai_json.h"
#include "sinks/writers_internal.h"

static void open_all(sink_batch_t *b)
{
    lq_jsonw_arr_open(&b->jobs);
    lq_jsonw_arr_open(&b->usage);
    lq_jsonw_arr_open(&b->traces);
    lq_jsonw_arr_open(&b->dead_letters);
    lq_jsonw_arr_open(&b->turns);
    lq_jsonw_arr_open(&b->requests);
    b->n_jobs = b->n_usage = b->n_traces = b->n_dead = b->n_turns = b->n_requests = 0;
}

lq_err_t sink_batch_init(sink_batch_t *b)
{
    lq_jsonw_init(&b->jobs);
    lq_jsonw_init(&b->usage);
    lq_jsonw_init(&b->traces);
    lq_jsonw_init(&b->dead_letters);
    lq_jsonw_init(&b->turns);
    lq_jsonw_init(&b->requests);
    lq_jsonw_init(&b->usage_copy);
    lq_jsonw_init(&b->traces_copy);
    lq_jsonw_init(&b->jobs_copy);
    lq_jsonw_init(&b->scratch2);
    lq_jsonw_init(&b->scratch);
    b->prepared_conn = NULL;
    b->prepared_pid = 0;
    open_all(b);
    return LQ_OK;
}

void sink_batch_reset(sink_batch_t *b)
{
    lq_jsonw_reset(&b->jobs);
    lq_jsonw_reset(&b->usage);
    lq_jsonw_reset(&b->traces);
    lq_jsonw_reset(&b->dead_letters);
    lq_jsonw_reset(&b->turns);
    lq_jsonw_reset(&b->requests);
    lq_jsonw_reset(&b->usage_copy);
    lq_jsonw_reset(&b->traces_copy);
    lq_jsonw_reset(&b->jobs_copy);
    open_all(b);
}

void sink_batch_clear(sink_batch_t *b)
{
    lq_jsonw_free(&b->jobs);
    lq_jsonw_free(&b->usage);
    lq_jsonw_free(&b->traces);
    lq_jsonw_free(&b->dead_letters);
    lq_jsonw_free(&b->turns);
    lq_jsonw_free(&b->requests);
    lq_jsonw_free(&b->usage_copy);
    lq_jsonw_free(&b->traces_copy);
    lq_jsonw_free(&b->jobs_copy);
    lq_jsonw_free(&b->scratch2);
    lq_jsonw_free(&b->scratch);
}

size_t sink_batch_rows(const sink_batch_t *b)
{
    return b->n_jobs + b->n_usage + b->n_traces + b->n_dead;
}

void sink_dead_row(lq_jsonw_t *w, const void *buf, size_t len, const char *topic, int32_t partition,
                   int64_t offset, const char *error)
{
    char *enc = malloc((len + 2) / 3 * 4 + 1);

    if (!enc || len > INT_MAX) {
        free(enc);
        w->failed = 1;
        return;
    }
    EVP_EncodeBlock((unsigned char *)enc, buf, (int)len);
    lq_jsonw_obj_open(w);
    lq_jsonw_kstr(w, "topic", topic);
    lq_jsonw_kint(w, "partition", partition);
    lq_jsonw_kint(w, "off", offset);
    lq_jsonw_kstr(w, "error", error);
    lq_jsonw_kstr(w, "payload", enc);
    lq_jsonw_obj_close(w);
    free(enc);
}

static void add_dead(sink_batch_t *b, const void *buf, size_t len, const char *topic,
                     int32_t partition, int64_t offset, const char *error)
{
    LQ_ERROR("%s p%d@%lld cannot be decoded (%s): kept in dead_letters", topic, partition,
             (long long)offset, error);
    sink_dead_row(&b->dead_letters, buf, len, topic, partition, offset, error);
    b->n_dead++;
}

/* Open a row and record the Kafka record it comes from (ignored by the SQL, used when a row
 * is refused and goes to dead_letters instead). */
static void row_open(lq_jsonw_t *w, const char *topic, int32_t partition, int64_t offset)
{
    lq_jsonw_obj_open(w);
    lq_jsonw_kstr(w, "_topic", topic);
    lq_jsonw_kint(w, "_partition", partition);
    lq_jsonw_kint(w, "_offset", offset);
}

/* A job's row only moves forward: queued < running < final, and a replay from the
 * dead-letter topic (run n) starts above everything of run n - 1. */
static int status_rank(lq_job_status_t s, int32_t replay)
{
    int base = s == LQ_STATUS_QUEUED ? 0 : s == LQ_STATUS_RUNNING ? 1 : 2;
    return (replay > 0 && replay < 1000 ? replay : 0) * 4 + base;
}

/* Whose it is: the columns usage and trace rows share. */
static void write_who(lq_jsonw_t *w, const char *tenant_id, const char *project_id,
                      const char *api_key_id, const char *user_id)
{
    lq_jsonw_kstr(w, "tenant_id", tenant_id);
    lq_jsonw_kstr(w, "project_id", project_id);
    lq_jsonw_kstr(w, "api_key_id", api_key_id);
    lq_jsonw_kstr(w, "user_id", user_id);
}

/* ---- COPY text (PostgreSQL's text format: tab between columns, \N for NULL) ---- */

/* A text column (NULL as \N); sep: the tab before it, or nothing for the first column.
 * Backslashes and the characters that end a column or a row are escaped. */
static void copy_str(lq_jsonw_t *t, const char *s, int sep)
{
    const char *run;

    if (sep)
        lq_jsonw_bytes(t, "\t", 1);
    if (!s) {
        lq_jsonw_bytes(t, "\\N", 2);
        return;
    }
    for (run = s; *s; s++) {
        const char *esc = *s == '\\'   ? "\\\\"
                          : *s == '\n' ? "\\n"
                          : *s == '\r' ? "\\r"
                          : *s == '\t' ? "\\t"
                                       : NULL;
        if (!esc)
            continue;
        lq_jsonw_bytes(t, run, (size_t)(s - run));
        lq_jsonw_bytes(t, esc, 2);
        run = s + 1;
    }
    lq_jsonw_bytes(t, run, (size_t)(s - run));
}

static void copy_int(lq_jsonw_t *t, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "\t%lld", (long long)v);

    lq_jsonw_bytes(t, num, (size_t)n);
}

static void copy_int_or_null(lq_jsonw_t *t, int64_t v)
{
    if (v)
        copy_int(t, v);
    else
        copy_str(t, NULL, 1);
}

/* A jobs row, from a request (queued) or a response. */
typedef struct job_row {
    const char *id, *tenant_id, *project_id, *api_key_id, *model, *provider, *conversation_id;
    lq_mode_t mode;
    lq_job_status_t status;
    int32_t replay;
    int64_t created_ms, started_ms, finished_ms; /* 0: none */
    const char *result, *error;                  /* JSON text, or NULL */
    int32_t error_status;                        /* 0: none */
} job_row_t;

/* r as a JSON object (the row-by-row way) and as a line of COPY text in JOBS_COLUMNS' order. */
static void job_row_add(sink_batch_t *b, const job_row_t *r, const char *topic, int32_t partition,
                        int64_t offset)
{
    lq_jsonw_t *w = &b->jobs, *t = &b->jobs_copy;
    int rank = status_rank(r->status, r->replay);

    row_open(w, topic, partition, offset);
    lq_jsonw_kstr(w, "id", r->id);
    lq_jsonw_kstr(w, "tenant_id", r->tenant_id);
    lq_jsonw_kstr(w, "project_id", r->project_id);
    lq_jsonw_kstr(w, "api_key_id", r->api_key_id);
    lq_jsonw_kstr(w, "model", r->model);
    lq_jsonw_kstr(w, "mode", lq_mode_name(r->mode));
    lq_jsonw_kstr(w, "status", lq_job_status_name(r->status));
    lq_jsonw_kint(w, "status_rank", rank);
    lq_jsonw_kstr(w, "provider", r->provider);
    lq_jsonw_kint(w, "created_ms", r->created_ms);
    lq_jsonw_kint_or_null(w, "started_ms", r->started_ms);
    lq_jsonw_kint_or_null(w, "finished_ms", r->finished_ms);
    lq_jsonw_key(w, "result");
    lq_jsonw_raw(w, r->result ? r->result : "null");
    lq_jsonw_key(w, "error");
    lq_jsonw_raw(w, r->error ? r->error : "null");
    lq_jsonw_kstr(w, "conversation_id", r->conversation_id);
    lq_jsonw_kint_or_null(w, "error_status", r->error_status);
    lq_jsonw_obj_close(w);

    copy_str(t, r->id, 0);
    copy_str(t, r->tenant_id, 1);
    copy_str(t, r->project_id, 1);
    copy_str(t, r->api_key_id, 1);
    copy_str(t, r->model, 1);
    copy_str(t, lq_mode_name(r->mode), 1);
    copy_str(t, lq_job_status_name(r->status), 1);
    copy_int(t, rank);
    copy_str(t, r->provider, 1);
    copy_int(t, r->created_ms);
    copy_int_or_null(t, r->started_ms);
    copy_int_or_null(t, r->finished_ms);
    copy_str(t, r->result, 1);
    copy_str(t, r->error, 1);
    copy_str(t, r->conversation_id, 1);
    copy_int_or_null(t, r->error_status);
    lq_jsonw_bytes(t, "\n", 1);
    b->n_jobs++;
}

/* The largest request (bytes of its messages) a job's row keeps; a larger one is kept as a
 * note of its size. */
#define REQUEST_KEPT_MAX (64 * 1024)

/* The request as the job's row keeps it (the console shows it): model, messages and the
 * sampling parameters, the prompt as the policy left it (masked where it redacts). */
static void write_request(lq_jsonw_t *w, const lq_chat_request_t *r)
{
    size_t i, bytes = 0;

    for (i = 0; i < r->n_messages; i++)
        bytes += (r->messages[i].content ? strlen(r->messages[i].content) : 0) +
                 (r->messages[i].content_json ? strlen(r->messages[i].content_json) : 0) +
                 (r->messages[i].extra_json ? strlen(r->messages[i].extra_json) : 0);
    lq_jsonw_key(w, "request");
    lq_jsonw_obj_open(w);
    lq_jsonw_kstr(w, "model", r->model);
    if (r->has_max_tokens)
        lq_jsonw_kint(w, "max_tokens", r->max_tokens);
    if (r->has_temperature) {
        lq_jsonw_key(w, "temperature");
        lq_jsonw_double(w, r->temperature);
    }
    if (bytes > REQUEST_KEPT_MAX) {
        lq_jsonw_kint(w, "messages_not_kept", (int64_t)r->n_messages);
        lq_jsonw_kint(w, "bytes", (int64_t)bytes);
        lq_jsonw_obj_close(w);
        return;
    }
    lq_jsonw_key(w, "messages");
    lq_jsonw_arr_open(w);
    for (i = 0; i < r->n_messages; i++) {
        const lq_message_t *m = &r->messages[i];
        lq_jsonw_obj_open(w);
        lq_jsonw_kstr(w, "role", m->role);
        lq_jsonw_key(w, "content");
        if (m->content_json)
            lq_jsonw_raw(w, m->content_json);
        else
            lq_jsonw_str(w, m->content);
        if (m->name)
            lq_jsonw_kstr(w, "name", m->name);
        if (m->extra_json) {
            lq_jsonw_key(w, "extra");
            lq_jsonw_raw(w, m->extra_json);
        }
        lq_jsonw_obj_close(w);
    }
    lq_jsonw_arr_close(w);
    lq_jsonw_obj_close(w);
}

void sink_add_request(sink_batch_t *b, lq_codec_t *c, const void *buf, size_t len,
                      const char *topic, int32_t partition, int64_t offset)
{
    lq_chat_request_t r;
    job_row_t row;
    char errstr[256];

    if (lq_decode_chat_request(c, buf, len, &r, errstr, sizeof(errstr))) {
        add_dead(b, buf, len, topic, partition, offset, errstr);
        return;
    }
    row = (job_row_t){.id = r.job_id,
                      .tenant_id = r.tenant_id,
                      .project_id = r.project_id,
                      .api_key_id = r.api_key_id,
                      .model = r.model,
                      .conversation_id = r.conversation_id,
                      .mode = r.mode,
                      .status = LQ_STATUS_QUEUED,
                      .replay = r.attempt,
                      .created_ms = r.created_at_ms};
    job_row_add(b, &row, topic, partition, offset);
    row_open(&b->requests, topic, partition, offset);
    lq_jsonw_kstr(&b->requests, "id", r.job_id);
    write_request(&b->requests, &r);
    lq_jsonw_obj_close(&b->requests);
    b->n_requests++;
    lq_chat_request_clear(&r);
}

/* A conversation's turn ended with r: its reply, or its failure. */
static void add_turn_end(sink_batch_t *b, const lq_chat_response_t *r)
{
    lq_jsonw_t *w = &b->turns;
    int ok = r->status == LQ_STATUS_SUCCEEDED && r->n_choices > 0;

    lq_jsonw_obj_open(w);
    lq_jsonw_kstr(w, "job", r->job_id);
    lq_jsonw_key(w, "ok");
    lq_jsonw_bool(w, ok);
    if (ok) {
        lq_jsonw_key(w, "reply");
        lq_openai_write_message(w, &r->choices[0]);
    }
    lq_jsonw_obj_close(w);
    b->n_turns++;
}

/* The same row as the JSON object usage_row writes, in USAGE_COLUMNS' order. */
static void usage_copy_row(lq_jsonw_t *t, const lq_usage_event_t *u)
{
    char cost[40];

    copy_str(t, u->event_id, 0);
    copy_str(t, u->job_id, 1);
    copy_str(t, u->tenant_id, 1);
    copy_str(t, u->project_id, 1);
    copy_str(t, u->api_key_id, 1);
    copy_str(t, u->user_id, 1);
    copy_str(t, u->model, 1);
    copy_str(t, u->provider, 1);
    copy_str(t, u->provider_model, 1);
    copy_str(t, lq_job_status_name(u->status), 1);
    copy_int(t, u->prompt_tokens);
    copy_int(t, u->completion_tokens);
    if (u->has_cost)
        snprintf(cost, sizeof(cost), "%.17g", u->cost_usd);
    copy_str(t, u->has_cost ? cost : NULL, 1);
    copy_int(t, u->latency_ms);
    copy_int(t, u->ts_ms);
    copy_str(t, u->conversation_id, 1);
    lq_jsonw_bytes(t, "\n", 1);
}

/* A usage_events row of u, as JSON and as COPY text. */
static void usage_row(sink_batch_t *b, const lq_usage_event_t *u, const char *topic,
                      int32_t partition, int64_t offset)
{
    lq_jsonw_t *w = &b->usage;

    row_open(w, topic, partition, offset);
    lq_jsonw_kstr(w, "event_id", u->event_id);
    lq_jsonw_kstr(w, "job_id", u->job_id);
    write_who(w, u->tenant_id, u->project_id, u->api_key_id, u->user_id);
    lq_jsonw_kstr(w, "model", u->model);
    lq_jsonw_kstr(w, "provider", u->provider);
    lq_jsonw_kstr(w, "provider_model", u->provider_model);
    lq_jsonw_kstr(w, "status", lq_job_status_name(u->status));
    lq_jsonw_kint(w, "prompt_tokens", u->prompt_tokens);
    lq_jsonw_kint(w, "completion_tokens", u->completion_tokens);
    lq_jsonw_key(w, "cost_usd");
    if (u->has_cost)
        lq_jsonw_double(w, u->cost_usd);
    else
        lq_jsonw_null(w);
    lq_jsonw_kint(w, "latency_ms", u->latency_ms);
    lq_jsonw_kint(w, "ts_ms", u->ts_ms);
    lq_jsonw_kstr(w, "conversation_id", u->conversation_id);
    lq_jsonw_obj_close(w);
    usage_copy_row(&b->usage_copy, u);
    b->n_usage++;
}

void sink_add_usage(sink_batch_t *b, lq_codec_t *c, const void *buf, size_t len, const char *topic,
                    int32_t partition, int64_t offset)
{
    lq_usage_event_t u;
    char errstr[256];

    if (lq_decode_usage_event(c, buf, len, &u, errstr, sizeof(errstr))) {
        add_dead(b, buf, len, topic, partition, offset, errstr);
        return;
    }
    usage_row(b, &u, topic, partition, offset);
    lq_usage_event_clear(&u);
}

/* A trace's spans as JSON text in w (reset first). */
static void write_spans(lq_jsonw_t *w, const lq_trace_event_t *t)
{
    size_t i, k;

    lq_jsonw_reset(w);
    lq_jsonw_arr_open(w);
    for (i = 0; i < t->n_spans; i++) {
        lq_jsonw_obj_open(w);
        lq_jsonw_kstr(w, "name", t->spans[i].name);
        lq_jsonw_kint(w, "start_ms", t->spans[i].start_ms);
        lq_jsonw_kint(w, "duration_ms", t->spans[i].duration_ms);
        lq_jsonw_key(w, "attrs");
        lq_jsonw_obj_open(w);
        for (k = 0; k < t->spans[i].n_attrs; k++)
            lq_jsonw_kstr(w, t->spans[i].attr_keys[k], t->spans[i].attr_values[k]);
        lq_jsonw_obj_close(w);
        lq_jsonw_obj_close(w);
    }
    lq_jsonw_arr_close(w);
}

/* The same row as trace_row's JSON object, in TRACES_COLUMNS' order; spans: its JSON. */
static void trace_copy_row(lq_jsonw_t *t, const lq_trace_event_t *e, const char *spans)
{
    copy_str(t, e->trace_id, 0);
    copy_str(t, e->job_id, 1);
    copy_str(t, e->tenant_id, 1);
    copy_str(t, e->project_id, 1);
    copy_str(t, e->api_key_id, 1);
    copy_str(t, e->user_id, 1);
    copy_str(t, e->model, 1);
    copy_str(t, e->provider, 1);
    copy_str(t, lq_job_status_name(e->status), 1);
    copy_str(t, e->route, 1);
    copy_str(t, e->worker_id, 1);
    copy_int(t, e->created_at_ms);
    copy_int(t, e->queue_ms);
    copy_int(t, e->provider_ms);
    copy_int(t, e->total_ms);
    copy_str(t, spans, 1);
    copy_str(t, e->conversation_id, 1);
    copy_str(t, e->otel_trace_id, 1);
    lq_jsonw_bytes(t, "\n", 1);
}

/* A traces row of t, as JSON and as COPY text. */
static void trace_row(sink_batch_t *b, const lq_trace_event_t *t, const char *topic,
                      int32_t partition, int64_t offset)
{
    lq_jsonw_t *w = &b->traces;

    write_spans(&b->scratch, t);
    if (b->scratch.failed) { /* the batch cannot be written either way: out of memory */
        w->failed = b->traces_copy.failed = 1;
        return;
    }
    row_open(w, topic, partition, offset);
    lq_jsonw_kstr(w, "trace_id", t->trace_id);
    lq_jsonw_kstr(w, "job_id", t->job_id);
    write_who(w, t->tenant_id, t->project_id, t->api_key_id, t->user_id);
    lq_jsonw_kstr(w, "model", t->model);
    lq_jsonw_kstr(w, "provider", t->provider);
    lq_jsonw_kstr(w, "status", lq_job_status_name(t->status));
    lq_jsonw_kstr(w, "route", t->route);
    lq_jsonw_kstr(w, "worker_id", t->worker_id);
    lq_jsonw_kint(w, "created_ms", t->created_at_ms);
    lq_jsonw_kint(w, "queue_ms", t->queue_ms);
    lq_jsonw_kint(w, "provider_ms", t->provider_ms);
    lq_jsonw_kint(w, "total_ms", t->total_ms);
    lq_jsonw_key(w, "spans");
    lq_jsonw_raw(w, b->scratch.p);
    lq_jsonw_kstr(w, "conversation_id", t->conversation_id);
    lq_jsonw_kstr(w, "otel_trace_id", t->otel_trace_id);
    lq_jsonw_obj_close(w);
    trace_copy_row(&b->traces_copy, t, b->scratch.p);
    b->n_traces++;
}

void sink_add_trace(sink_batch_t *b, lq_codec_t *c, const void *buf, size_t len, const char *topic,
                    int32_t partition, int64_t offset)
{
    lq_trace_event_t t;
    char errstr[256];

    if (lq_decode_trace_event(c, buf, len, &t, errstr, sizeof(errstr))) {
        add_dead(b, buf, len, topic, partition, offset, errstr);
        return;
    }
    trace_row(b, &t, topic, partition, offset);
    lq_trace_event_clear(&t);
}

void sink_add_response(sink_batch_t *b, lq_codec_t *c, const void *buf, size_t len,
                       const char *topic, int32_t partition, int64_t offset, unsigned writers)
{
    lq_chat_response_t r;
    job_row_t row;
    char errstr[256];

    if (lq_decode_chat_response(c, buf, len, &r, errstr, sizeof(errstr))) {
        add_dead(b, buf, len, topic, partition, offset, errstr);
        return;
    }
    if (writers & SINK_USAGE && r.has_usage)
        usage_row(b, &r.usage, topic, partition, offset);
    if (writers & SINK_TRACES && r.has_trace)
        trace_row(b, &r.trace, topic, partition, offset);
    if (!(writers & SINK_JOBS)) {
        lq_chat_response_clear(&r);
        return;
    }
    row = (job_row_t){.id = r.job_id,
                      .tenant_id = r.tenant_id,
                      .project_id = r.project_id,
                      .api_key_id = r.api_key_id,
                      .model = r.model,
                      .provider = r.provider,
                      .conversation_id = r.conversation_id,
                      .mode = r.mode,
                      .status = r.status,
                      .replay = r.replay,
                      .created_ms = r.created_at_ms,
                      .started_ms = r.started_at_ms,
                      .finished_ms = r.finished_at_ms};
    lq_jsonw_reset(&b->scratch);
    lq_jsonw_reset(&b->scratch2);
    if (r.status == LQ_STATUS_SUCCEEDED) {
        lq_openai_write_completion(&b->scratch, &r);
        row.result = b->scratch.p;
    }
    if (r.has_error) {
        lq_openai_write_job_error(&b->scratch2, &r.error);
        row.error = b->scratch2.p;
        row.error_status = r.error.http_status;
    }
    if (b->scratch.failed || b->scratch2.failed) /* cannot be written either way */
        b->jobs.failed = b->jobs_copy.failed = 1;
    else
        job_row_add(b, &row, topic, partition, offset);
    if (r.conversation_id && r.status >= LQ_STATUS_SUCCEEDED)
        add_turn_end(b, &r);
    lq_chat_response_clear(&r);
}

/* schemas/records.h — the C shapes of llmq's Avro records (see schemas/ (the .avsc files)).
 *
 * Ownership: a record filled by a decode function owns its strings and arrays; release
 * them with the matching *_clear function. A record passed to an encode function is
 * only read (every pointer borrowed). Optional strings are NULL when absent; optional
 * times are 0 when absent. */
#ifndef LQ_RECORDS_H
#define LQ_RECORDS_H

#include <stddef.h>
#include <stdint.h>

typedef enum lq_mode { LQ_MODE_SYNC = 0, LQ_MODE_ASYNC = 1, LQ_MODE_STREAM = 2 } lq_mode_t;

typedef enum lq_job_status {
    LQ_STATUS_QUEUED = 0,
    LQ_STATUS_RUNNING = 1,
    LQ_STATUS_SUCCEEDED = 2,
    LQ_STATUS_FAILED = 3,
    LQ_STATUS_CANCELLED = 4
} lq_job_status_t;

const char *lq_mode_name(lq_mode_t m);             /* "sync", "async", "stream" */
const char *lq_job_status_name(lq_job_status_t s); /* "queued", ... "cancelled" */

typedef struct lq_message {
    char *role;
    char *content;
    char *content_json; /* optional */
    char *name;         /* optional */
    char *extra_json;   /* optional */
} lq_message_t;

typedef struct lq_chat_request {
    char *job_id;
    char *tenant_id;
    char *project_id; /* optional */
    char *api_key_id; /* optional */
    char *user_id;    /* optional */
    int64_t created_at_ms;
    int64_t deadline_ms; /* optional */
    lq_mode_t mode;
    char *reply_topic; /* optional */
    char *model;
    lq_message_t *messages;
    size_t n_messages;
    int has_max_tokens;
    int32_t max_tokens;
    int has_temperature;
    double temperature;
    int has_top_p;
    double top_p;
    char **stop;
    size_t n_stop;
    char *user;       /* optional */
    char *extra_json; /* optional */
    int32_t attempt;
    int32_t weight;        /* fair-queue weight, 1..1000 (default 1; workers clamp other values) */
    char *limits;          /* optional: resolved limits JSON (lq_limits_parse) */
    char *conversation_id; /* optional: the conversation this job is a turn of */
    char *batch_id;        /* optional: the batch this job is a line of */
    char *reply_url;       /* optional: where the node takes the reply directly */
} lq_chat_request_t;

typedef struct lq_choice {
    int32_t index;
    char *role;
    char *content;       /* optional */
    char *finish_reason; /* optional */
    char *extra_json;    /* optional */
} lq_choice_t;

typedef struct lq_job_error {
    char *type;
    char *code; /* optional */
    char *message;
    int32_t http_status;
} lq_job_error_t;

typedef struct lq_usage_event {
    char *event_id;
    char *job_id;
    char *tenant_id;
    char *project_id;
    char *api_key_id;
    char *user_id;
    char *model;
    char *provider;
    char *provider_model;
    lq_job_status_t status;
    int32_t prompt_tokens;
    int32_t completion_tokens;
    int has_cost;
    double cost_usd;
    int32_t latency_ms;
    int64_t ts_ms;
    char *conversation_id; /* optional */
} lq_usage_event_t;

typedef struct lq_span {
    char *name;
    int64_t start_ms;
    int32_t duration_ms;
    char **attr_keys;
    char **attr_values;
    size_t n_attrs;
} lq_span_t;

typedef struct lq_trace_event {
    char *trace_id;
    char *job_id;
    char *tenant_id;
    char *project_id;
    char *api_key_id; /* optional */
    char *user_id;    /* optional */
    char *model;
    char *provider;
    lq_job_status_t status;
    char *route;
    char *worker_id;
    int64_t created_at_ms;
    int32_t queue_ms;
    int32_t provider_ms;
    int32_t total_ms;
    lq_span_t *spans;
    size_t n_spans;
    char *conversation_id; /* optional */
    char *otel_trace_id;   /* optional: the W3C trace id, 32 hex digits */
} lq_trace_event_t;

typedef struct lq_chat_response {
    char *job_id;
    char *tenant_id;
    char *project_id;
    char *api_key_id;
    lq_job_status_t status;
    lq_mode_t mode;
    char *model;
    char *provider;       /* optional */
    char *provider_model; /* optional */
    int64_t created_at_ms;
    int64_t started_at_ms;  /* optional */
    int64_t finished_at_ms; /* optional */
    lq_choice_t *choices;
    size_t n_choices;
    int32_t prompt_tokens;
    int32_t completion_tokens;
    int has_error;
    lq_job_error_t error;
    int32_t attempts;
    char *worker_id;  /* optional */
    int32_t replay;   /* 0 for the first run, n for the n-th replay from the dead-letter topic */
    char *extra_json; /* optional: top-level provider fields (citations, ...) */
    char *conversation_id; /* optional */
    /* a final response on the responses topic carries the job's usage and trace, so the
     * sinks take one record per job (has_usage / has_trace: present) */
    int has_usage;
    lq_usage_event_t usage;
    int has_trace;
    lq_trace_event_t trace;
} lq_chat_response_t;

typedef struct lq_chat_chunk {
    char *job_id;
    int32_t seq;
    char *delta;
    char *provider_model; /* optional */
    char *worker_id;      /* optional */
    int64_t ts_ms;
} lq_chat_chunk_t;

typedef struct lq_job_cancel {
    char *job_id;
    char *tenant_id;
    char *reason;
    int64_t ts_ms;
} lq_job_cancel_t;

void lq_chat_request_clear(lq_chat_request_t *r);
void lq_chat_response_clear(lq_chat_response_t *r);
void lq_usage_event_clear(lq_usage_event_t *u);
void lq_trace_event_clear(lq_trace_event_t *t);
void lq_chat_chunk_clear(lq_chat_chunk_t *k);
void lq_job_cancel_clear(lq_job_cancel_t *k);

#endif

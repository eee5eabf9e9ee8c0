/* schemas/records.c — the field tables of the records in records.h (see record_fields.h),
 * in the order of their .avsc files, and the names of their enums. */
#include "schemas/record_fields.h"

#include "schemas/records.h"

_Static_assert(sizeof(lq_mode_t) == sizeof(int), "enums are read and written as int");
_Static_assert(sizeof(lq_job_status_t) == sizeof(int), "enums are read and written as int");

/* Rows of the table of the struct named REC (defined around each table). */
#define STR(m)                                                       \
    {                                                                \
        .name = #m, .kind = LQ_FIELD_STRING, .off = offsetof(REC, m) \
    }
#define STR_DEF(m, d)                                                                            \
    {                                                                                            \
        .name = #m, .kind = LQ_FIELD_STRING, .flags = LQ_FIELD_DEFAULT, .off = offsetof(REC, m), \
        .def_str = (d)                                                                           \
    }
#define OPT_STR(m)                                                                               \
    {                                                                                            \
        .name = #m, .kind = LQ_FIELD_STRING, .flags = LQ_FIELD_OPTIONAL, .off = offsetof(REC, m) \
    }
#define INT(m)                                                    \
    {                                                             \
        .name = #m, .kind = LQ_FIELD_INT, .off = offsetof(REC, m) \
    }
#define INT_DEF(m, d)                                                                         \
    {                                                                                         \
        .name = #m, .kind = LQ_FIELD_INT, .flags = LQ_FIELD_DEFAULT, .off = offsetof(REC, m), \
        .def_int = (d)                                                                        \
    }
#define OPT_INT(m, has)                                                                  \
    {                                                                                    \
        .name = #m, .kind = LQ_FIELD_INT, .flags = LQ_FIELD_OPTIONAL | LQ_FIELD_FLAGGED, \
        .off = offsetof(REC, m), .flag_off = offsetof(REC, has)                          \
    }
#define LONG(m)                                                    \
    {                                                              \
        .name = #m, .kind = LQ_FIELD_LONG, .off = offsetof(REC, m) \
    }
#define OPT_LONG(m) /* 0 is null */                                                            \
    {                                                                                          \
        .name = #m, .kind = LQ_FIELD_LONG, .flags = LQ_FIELD_OPTIONAL, .off = offsetof(REC, m) \
    }
#define OPT_DOUBLE(m, has)                                                                  \
    {                                                                                       \
        .name = #m, .kind = LQ_FIELD_DOUBLE, .flags = LQ_FIELD_OPTIONAL | LQ_FIELD_FLAGGED, \
        .off = offsetof(REC, m), .flag_off = offsetof(REC, has)                             \
    }
#define ENUM(m, n, unknown)                                                           \
    {                                                                                 \
        .name = #m, .kind = LQ_FIELD_ENUM, .off = offsetof(REC, m), .n_symbols = (n), \
        .def_int = (unknown)                                                          \
    }
#define MODE(m)   ENUM(m, 3, LQ_MODE_ASYNC)    /* RequestMode, default ASYNC */
#define STATUS(m) ENUM(m, 5, LQ_STATUS_FAILED) /* JobStatus, default FAILED */
#define ARRAY(m, n, item, fl)                                                       \
    {                                                                               \
        .name = #m, .kind = LQ_FIELD_ARRAY, .flags = (fl), .off = offsetof(REC, m), \
        .count_off = offsetof(REC, n), .items = (item)                              \
    }
#define OPT_RECORD(m, has, desc)                                                            \
    {                                                                                       \
        .name = #m, .kind = LQ_FIELD_RECORD, .flags = LQ_FIELD_OPTIONAL | LQ_FIELD_FLAGGED, \
        .off = offsetof(REC, m), .flag_off = offsetof(REC, has), .rec = (desc)              \
    }
#define STR_MAP(name_, keys, values, n)                                  \
    {                                                                    \
        .name = name_, .kind = LQ_FIELD_MAP, .flags = LQ_FIELD_DEFAULT,  \
        .off = offsetof(REC, keys), .values_off = offsetof(REC, values), \
        .count_off = offsetof(REC, n)                                    \
    }
#define TABLE(avro_name, rows)                                       \
    {                                                                \
        avro_name, sizeof(REC), rows, sizeof(rows) / sizeof(rows[0]) \
    }
#define ITEM_OF(desc)                                           \
    {                                                           \
        .name = "items", .kind = LQ_FIELD_RECORD, .rec = (desc) \
    }
/* Whose job it is: the same five fields in ChatRequest, UsageEvent and TraceEvent. */
#define WHO_ROWS \
    STR(job_id), STR(tenant_id), OPT_STR(project_id), OPT_STR(api_key_id), OPT_STR(user_id)

static const lq_field_t string_item = {.name = "items", .kind = LQ_FIELD_STRING};

/* ---------- ChatRequest ---------- */

#define REC lq_message_t
static const lq_field_t message_fields[] = {
    STR(role), STR(content), OPT_STR(content_json), OPT_STR(name), OPT_STR(extra_json),
};
static const lq_record_desc_t message_desc = TABLE("Message", message_fields);
static const lq_field_t message_item = ITEM_OF(&message_desc);
#undef REC

#define REC lq_chat_request_t
static const lq_field_t chat_request_fields[] = {
    WHO_ROWS,
    LONG(created_at_ms),
    OPT_LONG(deadline_ms),
    MODE(mode),
    OPT_STR(reply_topic),
    STR(model),
    ARRAY(messages, n_messages, &message_item, 0),
    OPT_INT(max_tokens, has_max_tokens),
    OPT_DOUBLE(temperature, has_temperature),
    OPT_DOUBLE(top_p, has_top_p),
    ARRAY(stop, n_stop, &string_item, LQ_FIELD_DEFAULT),
    OPT_STR(user),
    OPT_STR(extra_json),
    INT_DEF(attempt, 0),
    INT_DEF(weight, 1),
    OPT_STR(limits),
    OPT_STR(conversation_id),
    OPT_STR(batch_id),
    OPT_STR(reply_url),
};
static const lq_record_desc_t chat_request_desc = TABLE("ChatRequest", chat_request_fields);
#undef REC

/* ---------- ChatResponse's choices and error ---------- */

#define REC lq_choice_t
static const lq_field_t choice_fields[] = {
    INT(index),          STR_DEF(role, "assistant"), OPT_STR(content), OPT_STR(finish_reason),
    OPT_STR(extra_json),
};
static const lq_record_desc_t choice_desc = TABLE("Choice", choice_fields);
static const lq_field_t choice_item = ITEM_OF(&choice_desc);
#undef REC

#define REC lq_job_error_t
static const lq_field_t job_error_fields[] = {
    STR(type),
    OPT_STR(code),
    STR(message),
    INT_DEF(http_status, 500),
};
static const lq_record_desc_t job_error_desc = TABLE("JobError", job_error_fields);
#undef REC

/* ---------- UsageEvent ---------- */

#define REC lq_usage_event_t
static const lq_field_t usage_event_fields[] = {
    STR(event_id),
    WHO_ROWS,
    STR(model),
    STR(provider),
    OPT_STR(provider_model),
    STATUS(status),
    INT(prompt_tokens),
    INT(completion_tokens),
    OPT_DOUBLE(cost_usd, has_cost),
    INT(latency_ms),
    LONG(ts_ms),
    OPT_STR(conversation_id),
};
static const lq_record_desc_t usage_event_desc = TABLE("UsageEvent", usage_event_fields);
#undef REC

/* ---------- TraceEvent ---------- */

#define REC lq_span_t
static const lq_field_t span_fields[] = {
    STR(name),
    LONG(start_ms),
    INT(duration_ms),
    STR_MAP("attrs", attr_keys, attr_values, n_attrs),
};
static const lq_record_desc_t span_desc = TABLE("Span", span_fields);
static const lq_field_t span_item = ITEM_OF(&span_desc);
#undef REC

#define REC lq_trace_event_t
static const lq_field_t trace_event_fields[] = {
    STR(trace_id),
    WHO_ROWS,
    STR(model),
    STR(provider),
    STATUS(status),
    STR(route),
    STR(worker_id),
    LONG(created_at_ms),
    INT(queue_ms),
    INT(provider_ms),
    INT(total_ms),
    ARRAY(spans, n_spans, &span_item, LQ_FIELD_DEFAULT),
    OPT_STR(conversation_id),
    OPT_STR(otel_trace_id),
};
static const lq_record_desc_t trace_event_desc = TABLE("TraceEvent", trace_event_fields);
#undef REC

/* ---------- ChatResponse (a final one carries a UsageEvent and a TraceEvent) ---------- */

#define REC lq_chat_response_t
static const lq_field_t chat_response_fields[] = {
    STR(job_id),
    STR(tenant_id),
    OPT_STR(project_id),
    OPT_STR(api_key_id),
    STATUS(status),
    MODE(mode),
    STR(model),
    OPT_STR(provider),
    OPT_STR(provider_model),
    LONG(created_at_ms),
    OPT_LONG(started_at_ms),
    OPT_LONG(finished_at_ms),
    ARRAY(choices, n_choices, &choice_item, LQ_FIELD_DEFAULT),
    INT_DEF(prompt_tokens, 0),
    INT_DEF(completion_tokens, 0),
    OPT_RECORD(error, has_error, &job_error_desc),
    INT_DEF(attempts, 1),
    OPT_STR(worker_id),
    INT_DEF(replay, 0),
    OPT_STR(extra_json),
    OPT_STR(conversation_id),
    OPT_RECORD(usage, has_usage, &usage_event_desc),
    OPT_RECORD(trace, has_trace, &trace_event_desc),
};
static const lq_record_desc_t chat_response_desc = TABLE("ChatResponse", chat_response_fields);
#undef REC

/* ---------- ChatChunk, JobCancel ---------- */

#define REC lq_chat_chunk_t
static const lq_field_t chat_chunk_fields[] = {
    STR(job_id), INT(seq), STR(delta), OPT_STR(provider_model), OPT_STR(worker_id), LONG(ts_ms),
};
static const lq_record_desc_t chat_chunk_desc = TABLE("ChatChunk", chat_chunk_fields);
#undef REC

#define REC lq_job_cancel_t
static const lq_field_t job_cancel_fields[] = {
    STR(job_id),
    STR(tenant_id),
    STR(reason),
    LONG(ts_ms),
};
static const lq_record_desc_t job_cancel_desc = TABLE("JobCancel", job_cancel_fields);
#undef REC

static const lq_record_desc_t *const tables[LQ_SCHEMA_COUNT] = {
    [LQ_SCHEMA_CHAT_REQUEST] = &chat_request_desc, [LQ_SCHEMA_CHAT_RESPONSE] = &chat_response_desc,
    [LQ_SCHEMA_USAGE_EVENT] = &usage_event_desc,   [LQ_SCHEMA_TRACE_EVENT] = &trace_event_desc,
    [LQ_SCHEMA_CHAT_CHUNK] = &chat_chunk_desc,     [LQ_SCHEMA_JOB_CANCEL] = &job_cancel_desc,
};

const lq_record_desc_t *lq_record_desc(lq_schema_id_t id)
{
    return (unsigned)id < LQ_SCHEMA_COUNT ? tables[id] : NULL;
}

size_t lq_field_item_size(const lq_field_t *items)
{
    return items->kind == LQ_FIELD_RECORD ? items->rec->size : sizeof(char *);
}

const char *lq_mode_name(lq_mode_t m)
{
    switch (m) {
    case LQ_MODE_SYNC:
        return "sync";
    case LQ_MODE_ASYNC:
        return "async";
    case LQ_MODE_STREAM:
        return "stream";
    }
    return "async";
}

const char *lq_job_status_name(lq_job_status_t s)
{
    switch (s) {
    case LQ_STATUS_QUEUED:
        return "queued";
    case LQ_STATUS_RUNNING:
        return "running";
    case LQ_STATUS_SUCCEEDED:
        return "succeeded";
    case LQ_STATUS_FAILED:
        return "failed";
    case LQ_STATUS_CANCELLED:
        return "cancelled";
    }
    return "failed";
}

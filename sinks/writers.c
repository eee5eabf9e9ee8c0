#include "sinks/writers.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "common/openai_json.h"
#include "common/pg.h"

/* A jobs row's columns (a JSON object's keys, or the staging table's columns in order). */
#define JOBS_COLUMNS                                                                           \
    "id uuid, tenant_id text, project_id text, api_key_id uuid, model text, mode text,"        \
    " status text, status_rank smallint, provider text, created_ms bigint, started_ms bigint," \
    " finished_ms bigint, result jsonb, error jsonb, conversation_id uuid, error_status smallint"

#define JOBS_SQL_FROM(source)                                                                      \
    "INSERT INTO jobs AS j (id, tenant_id, project_id, api_key_id, model, mode, status,"           \
    " status_rank, provider, created_at, started_at, finished_at, result, error, conversation_id," \
    " error_status)"                                                                               \
    " SELECT DISTINCT ON (x.id) x.id, x.tenant_id, x.project_id, x.api_key_id, x.model, x.mode,"   \
    " x.status, x.status_rank, x.provider, to_timestamp(x.created_ms / 1000.0),"                   \
    " to_timestamp(x.started_ms / 1000.0), to_timestamp(x.finished_ms / 1000.0), x.result, "       \
    "x.error,"                                                                                     \
    " x.conversation_id, x.error_status"                                                           \
    " FROM " source " ORDER BY x.id, x.status_rank DESC"                                           \
    " ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, status_rank = "                     \
    "EXCLUDED.status_rank,"                                                                        \
    " conversation_id = coalesce(j.conversation_id, EXCLUDED.conversation_id),"                    \
    " provider = coalesce(EXCLUDED.provider, j.provider),"                                         \
    " started_at = coalesce(j.started_at, EXCLUDED.started_at),"                                   \
    " finished_at = coalesce(EXCLUDED.finished_at, j.finished_at),"                                \
    " result = coalesce(EXCLUDED.result, j.result), error = coalesce(EXCLUDED.error, j.error),"    \
    " error_status = coalesce(EXCLUDED.error_status, j.error_status),"                             \
    " updated_at = now()"                                                                          \
    " WHERE j.status_rank < EXCLUDED.status_rank"

static const char *const JOBS_SQL =
    JOBS_SQL_FROM("jsonb_to_recordset($1::jsonb) AS x(" JOBS_COLUMNS ")");
static const char *const JOBS_STAGE_SQL = JOBS_SQL_FROM("lq_jobs_stage x");
static const char *const JOBS_STAGE_CREATE =
    "CREATE TEMP TABLE IF NOT EXISTS lq_jobs_stage (" JOBS_COLUMNS ") ON COMMIT DELETE ROWS";

/* A job's request, kept whichever of its records came first (the upsert above only moves a
 * row forward, so a request read after the job's result would be passed over). */
static const char *const JOB_REQUESTS_SQL =
    "UPDATE jobs j SET request = x.request"
    " FROM (SELECT DISTINCT ON (y.id) y.id, y.request"
    " FROM jsonb_to_recordset($1::jsonb) AS y(id uuid, request jsonb)"
    " WHERE y.request IS NOT NULL ORDER BY y.id) x"
    " WHERE j.id = x.id AND j.request IS NULL";

/* A usage row's columns, as the writers send them (a JSON object's keys, or the staging
 * table's columns in this order). */
#define USAGE_COLUMNS                                                                             \
    "event_id uuid, job_id uuid, tenant_id text, project_id text, api_key_id uuid, user_id text," \
    " model text, provider text, provider_model text, status text, prompt_tokens int,"            \
    " completion_tokens int, cost_usd numeric, latency_ms int, ts_ms bigint, conversation_id uuid"

/* Only the rows a batch really inserted feed the daily rollup, so redelivery never
 * double-counts; rows are upserted in key order so concurrent sinks cannot deadlock. */
#define USAGE_SQL_FROM(source)                                                                                                                  \
    "WITH ins AS (INSERT INTO usage_events (event_id, job_id, tenant_id, project_id, api_key_id,"                                               \
    " user_id, model, provider, provider_model, status, prompt_tokens, completion_tokens,"                                                      \
    " cost_usd, latency_ms, ts, conversation_id, batch_id)"                                                                                     \
    " SELECT DISTINCT ON (x.event_id) x.event_id, x.job_id, x.tenant_id, x.project_id,"                                                         \
    " x.api_key_id, x.user_id, x.model, x.provider, x.provider_model, x.status, x.prompt_tokens,"                                               \
    " x.completion_tokens, x.cost_usd, x.latency_ms, to_timestamp(x.ts_ms / 1000.0),"                                                           \
    " x.conversation_id, (SELECT i.batch_id FROM batch_items i WHERE i.job_id = x.job_id)"                                                      \
    " FROM " source " ON CONFLICT (event_id) DO NOTHING"                                                                                        \
    " RETURNING ts, tenant_id, project_id, user_id, api_key_id, model, provider, status,"                                                       \
    " prompt_tokens, completion_tokens, cost_usd, latency_ms, conversation_id)," /* the analytics rollup (ops/migrations/0012_analytics.sql) */ \
    " agg AS (SELECT date_trunc('hour', ts, 'UTC') AS hour, tenant_id,"                                                                         \
    " coalesce(project_id, '') AS project_id, coalesce(user_id, '') AS user_id,"                                                                \
    " coalesce(api_key_id::text, '') AS api_key_id, model, provider, count(*) AS requests,"                                                     \
    " count(*) FILTER (WHERE status <> 'succeeded') AS failed, sum(prompt_tokens) AS p,"                                                        \
    " sum(completion_tokens) AS q, coalesce(sum(cost_usd), 0) AS cost, sum(latency_ms) AS lat"                                                  \
    " FROM ins GROUP BY 1, 2, 3, 4, 5, 6, 7),"                                                                                                  \
    " hourly AS (INSERT INTO usage_hourly AS h SELECT * FROM agg"                                                                               \
    " ORDER BY tenant_id, hour, project_id, user_id, api_key_id, model, provider"                                                               \
    " ON CONFLICT (tenant_id, hour, project_id, user_id, api_key_id, model, provider) DO UPDATE"                                                \
    " SET requests = h.requests + EXCLUDED.requests, failed = h.failed + EXCLUDED.failed,"                                                      \
    " prompt_tokens = h.prompt_tokens + EXCLUDED.prompt_tokens,"                                                                                \
    " completion_tokens = h.completion_tokens + EXCLUDED.completion_tokens,"                                                                    \
    " cost_usd = h.cost_usd + EXCLUDED.cost_usd,"                                                                                               \
    " latency_ms_sum = h.latency_ms_sum + EXCLUDED.latency_ms_sum),"                                                                            \
    " daily AS (INSERT INTO usage_by_day AS h SELECT date_trunc('day', hour, 'UTC'), tenant_id,"                                                \
    " project_id, user_id, api_key_id, model, provider, sum(requests), sum(failed), sum(p),"                                                    \
    " sum(q), sum(cost), sum(lat) FROM agg GROUP BY 1, 2, 3, 4, 5, 6, 7"                                                                        \
    " ORDER BY 2, 1, 3, 4, 5, 6, 7"                                                                                                             \
    " ON CONFLICT (tenant_id, hour, project_id, user_id, api_key_id, model, provider) DO UPDATE"                                                \
    " SET requests = h.requests + EXCLUDED.requests, failed = h.failed + EXCLUDED.failed,"                                                      \
    " prompt_tokens = h.prompt_tokens + EXCLUDED.prompt_tokens,"                                                                                \
    " completion_tokens = h.completion_tokens + EXCLUDED.completion_tokens,"                                                                    \
    " cost_usd = h.cost_usd + EXCLUDED.cost_usd,"                                                                                               \
    " latency_ms_sum = h.latency_ms_sum + EXCLUDED.latency_ms_sum)," /* a conversation's totals: once per usage event, as the rollup */         \
    " conv AS (UPDATE conversations c SET prompt_tokens = c.prompt_tokens + u.p,"                                                               \
    " completion_tokens = c.completion_tokens + u.q, cost_usd = c.cost_usd + u.cost"                                                            \
    " FROM (SELECT conversation_id AS id, sum(prompt_tokens) AS p, sum(completion_tokens) AS q,"                                                \
    " sum(coalesce(cost_usd, 0)) AS cost FROM ins WHERE conversation_id IS NOT NULL"                                                            \
    " GROUP BY 1 ORDER BY 1) u WHERE c.id = u.id)"                                                                                              \
    " INSERT INTO usage_daily AS d (day, tenant_id, project_id, model, provider, requests, "                                                    \
    "failed,"                                                                                                                                   \
    " prompt_tokens, completion_tokens, cost_usd)"                                                                                              \
    " SELECT (ts AT TIME ZONE 'UTC')::date, tenant_id, coalesce(project_id, ''), model, provider,"                                              \
    " count(*), count(*) FILTER (WHERE status <> 'succeeded'), sum(prompt_tokens),"                                                             \
    " sum(completion_tokens), sum(cost_usd)"                                                                                                    \
    " FROM ins GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"                                                                                   \
    " ON CONFLICT (day, tenant_id, project_id, model, provider) DO UPDATE SET"                                                                  \
    " requests = d.requests + EXCLUDED.requests, failed = d.failed + EXCLUDED.failed,"                                                          \
    " prompt_tokens = d.prompt_tokens + EXCLUDED.prompt_tokens,"                                                                                \
    " completion_tokens = d.completion_tokens + EXCLUDED.completion_tokens,"                                                                    \
    " cost_usd = CASE WHEN d.cost_usd IS NULL THEN EXCLUDED.cost_usd"                                                                           \
    " WHEN EXCLUDED.cost_usd IS NULL THEN d.cost_usd ELSE d.cost_usd + EXCLUDED.cost_usd END"

/* A batch's usage rows as JSON (the careful way, row by row) */
static const char *const USAGE_SQL =
    USAGE_SQL_FROM("jsonb_to_recordset($1::jsonb) AS x(" USAGE_COLUMNS ")");
/* or copied into the connection's staging table first: COPY's text is read several times
 * faster than JSON, which was half of the statement's time */
static const char *const USAGE_STAGE_SQL = USAGE_SQL_FROM("lq_usage_stage x");
static const char *const USAGE_STAGE_CREATE =
    "CREATE TEMP TABLE IF NOT EXISTS lq_usage_stage (" USAGE_COLUMNS ") ON COMMIT DELETE ROWS";

/* A traces row's columns (a JSON object's keys, or the staging table's columns in order). */
#define TRACES_COLUMNS                                                                   \
    "trace_id uuid, job_id uuid, tenant_id text, project_id text, api_key_id uuid,"      \
    " user_id text, model text, provider text, status text, route text, worker_id text," \
    " created_ms bigint, queue_ms int, provider_ms int, total_ms int, spans jsonb,"      \
    " conversation_id uuid, otel_trace_id text"

/* The latency histograms of the analytics API are fed by the traces a batch inserted. */
#define TRACES_SQL_FROM(source)                                                                    \
    "WITH ins AS (INSERT INTO traces (trace_id, job_id, tenant_id, project_id, api_key_id,"        \
    " user_id, model, provider, status, route, worker_id, created_at, queue_ms, provider_ms,"      \
    " total_ms, spans, conversation_id, ttft_ms, otel_trace_id)"                                   \
    " SELECT x.trace_id, x.job_id, x.tenant_id, x.project_id, x.api_key_id, x.user_id, x.model,"   \
    " x.provider, x.status, x.route, x.worker_id, to_timestamp(x.created_ms / 1000.0), "           \
    "x.queue_ms,"                                                                                  \
    " x.provider_ms, x.total_ms, x.spans, x.conversation_id,"                                      \
    " (SELECT (s->'attrs'->>'ttft_ms')::int FROM jsonb_array_elements(x.spans) s"                  \
    " WHERE s->'attrs' ? 'ttft_ms' LIMIT 1), x.otel_trace_id"                                      \
    " FROM " source " ON CONFLICT (trace_id) DO NOTHING"                                           \
    " RETURNING job_id, created_at, tenant_id, project_id, model, provider, status, total_ms,"     \
    " ttft_ms)," /* batch lines wait in the queue for hours by design: their times are left out */ \
    " lat AS (SELECT * FROM ins WHERE status = 'succeeded'"                                        \
    " AND NOT EXISTS (SELECT 1 FROM batch_items i WHERE i.job_id = ins.job_id)),"                  \
    " agg AS (SELECT hour, tenant_id, project_id, model, provider, kind, bucket, count(*) AS n"    \
    " FROM (SELECT date_trunc('hour', created_at, 'UTC') AS hour, tenant_id,"                      \
    " coalesce(project_id, '') AS project_id, model, provider, 'l'::\"char\" AS kind,"             \
    " analytics_bucket(total_ms) AS bucket FROM lat"                                               \
    " UNION ALL SELECT date_trunc('hour', created_at, 'UTC'), tenant_id, coalesce(project_id, "    \
    "''),"                                                                                         \
    " model, provider, 't', analytics_bucket(ttft_ms) FROM lat WHERE ttft_ms IS NOT NULL) y"       \
    " GROUP BY 1, 2, 3, 4, 5, 6, 7),"                                                              \
    " daily AS (INSERT INTO latency_by_day AS l SELECT date_trunc('day', hour, 'UTC'), tenant_id," \
    " project_id, model, provider, kind, bucket, sum(n) FROM agg GROUP BY 1, 2, 3, 4, 5, 6, 7"     \
    " ORDER BY 2, 1, 3, 4, 5, 6, 7"                                                                \
    " ON CONFLICT (tenant_id, hour, project_id, model, provider, kind, bucket) DO UPDATE"          \
    " SET n = l.n + EXCLUDED.n)"                                                                   \
    " INSERT INTO latency_hourly AS l SELECT * FROM agg ORDER BY 2, 1, 3, 4, 5, 6, 7"              \
    " ON CONFLICT (tenant_id, hour, project_id, model, provider, kind, bucket) DO UPDATE"          \
    " SET n = l.n + EXCLUDED.n"

static const char *const TRACES_SQL =
    TRACES_SQL_FROM("jsonb_to_recordset($1::jsonb) AS x(" TRACES_COLUMNS ")");
static const char *const TRACES_STAGE_SQL = TRACES_SQL_FROM("lq_traces_stage x");
static const char *const TRACES_STAGE_CREATE =
    "CREATE TEMP TABLE IF NOT EXISTS lq_traces_stage (" TRACES_COLUMNS ") ON COMMIT DELETE ROWS";

/* Turns of conversations whose job ended: stored with their reply, or undone (exactly once). */
static const char *const TURNS_SQL = "SELECT conversation_turns_end($1::jsonb)";

static const char *const DEAD_SQL =
    "INSERT INTO dead_letters (topic, partition, \"offset\", error, payload)"
    " SELECT x.topic, x.partition, x.off, x.error, decode(x.payload, 'base64')"
    " FROM jsonb_to_recordset($1::jsonb) AS x(topic text, partition int, off bigint, error text,"
    " payload text)"
    " ON CONFLICT (topic, partition, \"offset\") DO NOTHING";

/* The statements, prepared once per connection (lq_sink_*): a batch's statements are long
 * and planning them was a sixth of a batch's time in PostgreSQL. */
enum {
    ST_JOBS,
    ST_JOBS_STAGE,
    ST_JOB_REQUESTS,
    ST_USAGE,
    ST_USAGE_STAGE,
    ST_TRACES,
    ST_TRACES_STAGE,
    ST_DEAD,
    ST_TURNS,
    ST_COUNT
};
static const struct {
    const char *name;
    const char *const *sql;
} STATEMENTS[ST_COUNT] = {
    [ST_JOBS] = {"lq_sink_jobs", &JOBS_SQL},
    [ST_JOBS_STAGE] = {"lq_sink_jobs_stage", &JOBS_STAGE_SQL},
    [ST_JOB_REQUESTS] = {"lq_sink_job_requests", &JOB_REQUESTS_SQL},
    [ST_USAGE] = {"lq_sink_usage", &USAGE_SQL},
    [ST_USAGE_STAGE] = {"lq_sink_usage_stage", &USAGE_STAGE_SQL},
    [ST_TRACES] = {"lq_sink_traces", &TRACES_SQL},
    [ST_TRACES_STAGE] = {"lq_sink_traces_stage", &TRACES_STAGE_SQL},
    [ST_DEAD] = {"lq_sink_dead_letters", &DEAD_SQL},
    [ST_TURNS] = {"lq_sink_turns", &TURNS_SQL},
};

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

/* Append one dead_letters row: the record as it came (base64), where from, and why. */
static void dead_row(lq_jsonw_t *w, const void *buf, size_t len, const char *topic,
                     int32_t partition, int64_t offset, const char *error)
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
    dead_row(&b->dead_letters, buf, len, topic, partition, offset, error);
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

/* Run statement st with the JSON array text rows as $1 (no parameter when rows is NULL).
 * LQ_ERR_INVALID when PostgreSQL refused the data
 * itself (SQLSTATE classes 22 and 23: a bad value, a broken constraint), LQ_ERR_DB for
 * anything else (connection, server): only the latter is worth retrying as it is. */
static lq_err_t run_rows(PGconn *conn, int st, const char *rows, char *errstr, size_t errstr_size)
{
    const char *params[1] = {rows};
    PGresult *res = PQexecPrepared(conn, STATEMENTS[st].name, rows ? 1 : 0, params, NULL, NULL, 0);
    ExecStatusType rs = PQresultStatus(res);
    lq_err_t err = LQ_OK;

    if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        lq_pg_errstr(conn, errstr, errstr_size);
        err = state && (!strncmp(state, "22", 2) || !strncmp(state, "23", 2)) ? LQ_ERR_INVALID
                                                                              : LQ_ERR_DB;
    }
    PQclear(res);
    return err;
}

/* Prepare the statements on conn unless this batch already did on this connection (a new
 * connection has another backend). */
static lq_err_t prepare_statements(PGconn *conn, sink_batch_t *b, char *errstr, size_t errstr_size)
{
    int st, pid = PQbackendPID(conn);

    if (b->prepared_conn == conn && b->prepared_pid == pid)
        return LQ_OK;
    if (lq_pg_exec(conn, JOBS_STAGE_CREATE, errstr, errstr_size) ||
        lq_pg_exec(conn, USAGE_STAGE_CREATE, errstr, errstr_size) ||
        lq_pg_exec(conn, TRACES_STAGE_CREATE, errstr, errstr_size))
        return LQ_ERR_DB;
    for (st = 0; st < ST_COUNT; st++) {
        PGresult *res = PQprepare(conn, STATEMENTS[st].name, *STATEMENTS[st].sql, 0, NULL);
        ExecStatusType rs = PQresultStatus(res);
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

        /* 42P05: prepared by an earlier batch object on this connection */
        if (rs != PGRES_COMMAND_OK && !(state && !strcmp(state, "42P05"))) {
            lq_pg_errstr(conn, errstr, errstr_size);
            PQclear(res);
            return LQ_ERR_DB;
        }
        PQclear(res);
    }
    b->prepared_conn = conn;
    b->prepared_pid = pid;
    return LQ_OK;
}

/* The careful way, after PostgreSQL refused a batch's data: each row alone under a
 * savepoint; a refused row goes to dead_letters with the server's message, the rest is
 * written. Nothing is dropped and one bad record cannot stop the sink. */
static lq_err_t write_rows_one_by_one(PGconn *conn, int st, const char *rows, char *errstr,
                                      size_t errstr_size)
{
    json_error_t jerr;
    json_t *arr = json_loads(rows, 0, &jerr), *row;
    lq_jsonw_t dead;
    lq_err_t err = LQ_OK;
    size_t i;
    char ignore[256];

    if (!arr)
        return LQ_ERR_NOMEM;
    lq_jsonw_init(&dead);
    json_array_foreach(arr, i, row)
    {
        char *one = json_dumps(row, JSON_COMPACT), *wrapped;
        size_t n;
        if (!one) {
            err = LQ_ERR_NOMEM;
            break;
        }
        n = strlen(one);
        wrapped = malloc(n + 3);
        if (!wrapped) {
            free(one);
            err = LQ_ERR_NOMEM;
            break;
        }
        wrapped[0] = '[';
        memcpy(wrapped + 1, one, n);
        memcpy(wrapped + 1 + n, "]", 2);
        err = lq_pg_exec(conn, "SAVEPOINT row", errstr, errstr_size);
        if (!err)
            err = run_rows(conn, st, wrapped, errstr, errstr_size);
        if (!err) /* keep one subtransaction open at a time, not one per row */
            err = lq_pg_exec(conn, "RELEASE SAVEPOINT row", errstr, errstr_size);
        if (err == LQ_ERR_INVALID) {
            const char *topic = json_string_value(json_object_get(row, "_topic"));
            LQ_ERROR("%s p%lld@%lld refused by PostgreSQL (%s): kept in dead_letters",
                     topic ? topic : "?",
                     (long long)json_integer_value(json_object_get(row, "_partition")),
                     (long long)json_integer_value(json_object_get(row, "_offset")), errstr);
            err = lq_pg_exec(conn, "ROLLBACK TO SAVEPOINT row", ignore, sizeof(ignore));
            lq_jsonw_reset(&dead);
            lq_jsonw_arr_open(&dead);
            dead_row(&dead, one, n, topic ? topic : "?",
                     (int32_t)json_integer_value(json_object_get(row, "_partition")),
                     json_integer_value(json_object_get(row, "_offset")), errstr);
            lq_jsonw_arr_close(&dead);
            if (!err)
                err = dead.failed ? LQ_ERR_NOMEM
                                  : run_rows(conn, ST_DEAD, dead.p, errstr, errstr_size);
        }
        free(wrapped);
        free(one);
        if (err)
            break;
    }
    lq_jsonw_free(&dead);
    json_decref(arr);
    return err;
}

/* One table's rows (an open JSON array in w): one statement, or row by row when careful. */
static lq_err_t write_table(PGconn *conn, int st, const lq_jsonw_t *w, size_t n, int careful,
                            char *errstr, size_t errstr_size)
{
    char *text;
    lq_err_t err;

    if (n == 0)
        return LQ_OK;
    if (w->failed || w->depth != 1) {
        snprintf(errstr, errstr_size, "batch rows could not be built (out of memory)");
        return LQ_ERR_NOMEM;
    }
    text = malloc(w->len + 2);
    if (!text)
        return LQ_ERR_NOMEM;
    memcpy(text, w->p, w->len);
    memcpy(text + w->len, "]", 2);
    err = careful ? write_rows_one_by_one(conn, st, text, errstr, errstr_size)
                  : run_rows(conn, st, text, errstr, errstr_size);
    free(text);
    return err;
}

/* n rows the fast way: their COPY text copied into the connection's staging table (emptied
 * at each commit) by copy_sql, then inserted from there by statement st, the same statement
 * as the JSON way's. */
static lq_err_t write_copied(PGconn *conn, const char *copy_sql, const lq_jsonw_t *rows, size_t n,
                             int st, char *errstr, size_t errstr_size)
{
    PGresult *res;
    ExecStatusType rs;
    lq_err_t err = LQ_OK;
    const char *state;

    if (n == 0)
        return LQ_OK;
    if (rows->failed) {
        snprintf(errstr, errstr_size, "batch rows could not be built (out of memory)");
        return LQ_ERR_NOMEM;
    }
    res = PQexec(conn, copy_sql);
    rs = PQresultStatus(res);
    PQclear(res);
    if (rs != PGRES_COPY_IN) {
        lq_pg_errstr(conn, errstr, errstr_size);
        return LQ_ERR_DB;
    }
    if (PQputCopyData(conn, rows->p, (int)rows->len) != 1 || PQputCopyEnd(conn, NULL) != 1) {
        lq_pg_errstr(conn, errstr, errstr_size);
        err = LQ_ERR_DB;
    }
    /* the COPY's own result: a bad value is refused here (SQLSTATE class 22) */
    while ((res = PQgetResult(conn))) {
        rs = PQresultStatus(res);
        if (!err && rs != PGRES_COMMAND_OK) {
            state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            lq_pg_errstr(conn, errstr, errstr_size);
            err = state && (!strncmp(state, "22", 2) || !strncmp(state, "23", 2)) ? LQ_ERR_INVALID
                                                                                  : LQ_ERR_DB;
        }
        PQclear(res);
    }
    return err ? err : run_rows(conn, st, NULL, errstr, errstr_size);
}

/* The usage and traces rows: copied, or (careful) from their JSON row by row. */
static lq_err_t write_usage_and_traces(PGconn *conn, const sink_batch_t *b, int careful,
                                       char *errstr, size_t errstr_size)
{
    lq_err_t err;

    if (careful) {
        err = write_table(conn, ST_USAGE, &b->usage, b->n_usage, 1, errstr, errstr_size);
        return err ? err
                   : write_table(conn, ST_TRACES, &b->traces, b->n_traces, 1, errstr, errstr_size);
    }
    err = write_copied(conn, "COPY lq_usage_stage FROM STDIN", &b->usage_copy, b->n_usage,
                       ST_USAGE_STAGE, errstr, errstr_size);
    return err ? err
               : write_copied(conn, "COPY lq_traces_stage FROM STDIN", &b->traces_copy, b->n_traces,
                              ST_TRACES_STAGE, errstr, errstr_size);
}

static lq_err_t write_batch_once(PGconn *conn, const sink_batch_t *b, int careful, char *errstr,
                                 size_t errstr_size)
{
    lq_err_t err;
    char ignore[256];

    err = lq_pg_exec(conn, "BEGIN", errstr, errstr_size);
    if (err)
        return err;
    if ((err = careful ? write_table(conn, ST_JOBS, &b->jobs, b->n_jobs, 1, errstr, errstr_size)
                       : write_copied(conn, "COPY lq_jobs_stage FROM STDIN", &b->jobs_copy,
                                      b->n_jobs, ST_JOBS_STAGE, errstr, errstr_size)) ||
        (err = write_table(conn, ST_JOB_REQUESTS, &b->requests, b->n_requests, careful, errstr,
                           errstr_size)) ||
        (err = write_usage_and_traces(conn, b, careful, errstr, errstr_size)) ||
        (err = write_table(conn, ST_DEAD, &b->dead_letters, b->n_dead, careful, errstr,
                           errstr_size)) ||
        (err = write_table(conn, ST_TURNS, &b->turns, b->n_turns, careful, errstr, errstr_size))) {
        lq_pg_exec(conn, "ROLLBACK", ignore, sizeof(ignore));
        return err;
    }
    return lq_pg_exec(conn, "COMMIT", errstr, errstr_size);
}

lq_err_t sink_batch_write(PGconn *conn, sink_batch_t *b, char *errstr, size_t errstr_size)
{
    lq_err_t err = prepare_statements(conn, b, errstr, errstr_size);

    if (!err)
        err = write_batch_once(conn, b, 0, errstr, errstr_size);
    if (err == LQ_ERR_INVALID) {
        LQ_WARN("batch refused (%s); writing it row by row", errstr);
        err = write_batch_once(conn, b, 1, errstr, errstr_size);
    }
    if (err == LQ_ERR_DB) /* the connection may have been replaced behind us: prepare again */
        b->prepared_conn = NULL;
    return err;
}

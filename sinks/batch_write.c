/* sinks/batch_write.c — how a batch's rows reach PostgreSQL: the statements (prepared once
 * per connection), the staging tables rows are copied into, and the write in one
 * transaction, row by row when PostgreSQL refuses the batch's data. The rows are built in
 * sinks/writers.c. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "common/pg.h"
#include "sinks/writers.h"
#include "sinks/writers_internal.h"

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

/* A batch's tables, in the order they are written: each one's statement for its JSON rows
 * (row by row when careful) and, for those copied, the staging table, its COPY and the
 * statement that inserts from it. */
static const struct table {
    int st;                          /* the statement taking the JSON rows as $1 */
    size_t rows, n;                  /* offsets in sink_batch_t: the JSON rows, their count */
    const char *const *stage_create; /* the staging table (NULL: written from JSON only) */
    const char *copy_sql;
    size_t copy_rows; /* offset of the rows as COPY text */
    int stage_st;     /* the statement inserting from the staging table */
} TABLES[] = {
    {ST_JOBS, offsetof(sink_batch_t, jobs), offsetof(sink_batch_t, n_jobs), &JOBS_STAGE_CREATE,
     "COPY lq_jobs_stage FROM STDIN", offsetof(sink_batch_t, jobs_copy), ST_JOBS_STAGE},
    {ST_JOB_REQUESTS, offsetof(sink_batch_t, requests), offsetof(sink_batch_t, n_requests), NULL,
     NULL, 0, 0},
    {ST_USAGE, offsetof(sink_batch_t, usage), offsetof(sink_batch_t, n_usage), &USAGE_STAGE_CREATE,
     "COPY lq_usage_stage FROM STDIN", offsetof(sink_batch_t, usage_copy), ST_USAGE_STAGE},
    {ST_TRACES, offsetof(sink_batch_t, traces), offsetof(sink_batch_t, n_traces),
     &TRACES_STAGE_CREATE, "COPY lq_traces_stage FROM STDIN", offsetof(sink_batch_t, traces_copy),
     ST_TRACES_STAGE},
    {ST_DEAD, offsetof(sink_batch_t, dead_letters), offsetof(sink_batch_t, n_dead), NULL, NULL, 0,
     0},
    {ST_TURNS, offsetof(sink_batch_t, turns), offsetof(sink_batch_t, n_turns), NULL, NULL, 0, 0},
};

/* What a failed statement's result means: LQ_ERR_INVALID when PostgreSQL refused the data
 * itself (SQLSTATE classes 22 and 23: a bad value, a broken constraint), LQ_ERR_DB for
 * anything else (connection, server): only the latter is worth retrying as it is. */
static lq_err_t refusal(const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    return state && (!strncmp(state, "22", 2) || !strncmp(state, "23", 2)) ? LQ_ERR_INVALID
                                                                           : LQ_ERR_DB;
}

/* Run statement st with the JSON array text rows as $1 (no parameter when rows is NULL). */
static lq_err_t run_rows(PGconn *conn, int st, const char *rows, char *errstr, size_t errstr_size)
{
    const char *params[1] = {rows};
    PGresult *res = PQexecPrepared(conn, STATEMENTS[st].name, rows ? 1 : 0, params, NULL, NULL, 0);
    ExecStatusType rs = PQresultStatus(res);
    lq_err_t err = LQ_OK;

    if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK) {
        lq_pg_errstr(conn, errstr, errstr_size);
        err = refusal(res);
    }
    PQclear(res);
    return err;
}

/* Prepare the statements on conn unless this batch already did on this connection (a new
 * connection has another backend). */
static lq_err_t prepare_statements(PGconn *conn, sink_batch_t *b, char *errstr, size_t errstr_size)
{
    int st, pid = PQbackendPID(conn);
    size_t i;

    if (b->prepared_conn == conn && b->prepared_pid == pid)
        return LQ_OK;
    for (i = 0; i < sizeof(TABLES) / sizeof(TABLES[0]); i++)
        if (TABLES[i].stage_create &&
            lq_pg_exec(conn, *TABLES[i].stage_create, errstr, errstr_size))
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
            sink_dead_row(&dead, one, n, topic ? topic : "?",
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
            lq_pg_errstr(conn, errstr, errstr_size);
            err = refusal(res);
        }
        PQclear(res);
    }
    return err ? err : run_rows(conn, st, NULL, errstr, errstr_size);
}

static lq_err_t write_batch_once(PGconn *conn, const sink_batch_t *b, int careful, char *errstr,
                                 size_t errstr_size)
{
    const char *base = (const char *)b;
    lq_err_t err;
    char ignore[256];
    size_t i;

    err = lq_pg_exec(conn, "BEGIN", errstr, errstr_size);
    for (i = 0; !err && i < sizeof(TABLES) / sizeof(TABLES[0]); i++) {
        const struct table *t = &TABLES[i];
        size_t n = *(const size_t *)(base + t->n);

        if (t->stage_create && !careful)
            err = write_copied(conn, t->copy_sql, (const lq_jsonw_t *)(base + t->copy_rows), n,
                               t->stage_st, errstr, errstr_size);
        else
            err = write_table(conn, t->st, (const lq_jsonw_t *)(base + t->rows), n, careful, errstr,
                              errstr_size);
    }
    if (err) {
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

#include "sinks/writers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/openai_json.h"
#include "common/pg.h"

static const char *const JOBS_SQL =
    "INSERT INTO jobs AS j (id, tenant_id, project_id, api_key_id, model, mode, status,"
    " status_rank, provider, created_at, started_at, finished_at, result, error)"
    " SELECT DISTINCT ON (x.id) x.id, x.tenant_id, x.project_id, x.api_key_id, x.model, x.mode,"
    " x.status, x.status_rank, x.provider, to_timestamp(x.created_ms / 1000.0),"
    " to_timestamp(x.started_ms / 1000.0), to_timestamp(x.finished_ms / 1000.0), x.result, x.error"
    " FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, tenant_id text, project_id text,"
    " api_key_id uuid, model text, mode text, status text, status_rank smallint, provider text,"
    " created_ms bigint, started_ms bigint, finished_ms bigint, result jsonb, error jsonb)"
    " ORDER BY x.id, x.status_rank DESC"
    " ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, status_rank = EXCLUDED.status_rank,"
    " provider = coalesce(EXCLUDED.provider, j.provider),"
    " started_at = coalesce(j.started_at, EXCLUDED.started_at),"
    " finished_at = coalesce(EXCLUDED.finished_at, j.finished_at),"
    " result = coalesce(EXCLUDED.result, j.result), error = coalesce(EXCLUDED.error, j.error),"
    " updated_at = now()"
    " WHERE j.status_rank < EXCLUDED.status_rank";

/* Only the rows a batch really inserted feed the daily rollup, so redelivery never
 * double-counts; rows are upserted in key order so concurrent sinks cannot deadlock. */
static const char *const USAGE_SQL =
    "WITH ins AS (INSERT INTO usage_events (event_id, job_id, tenant_id, project_id, api_key_id,"
    " model, provider, provider_model, status, prompt_tokens, completion_tokens, cost_usd,"
    " latency_ms, ts)"
    " SELECT DISTINCT ON (x.event_id) x.event_id, x.job_id, x.tenant_id, x.project_id,"
    " x.api_key_id, x.model, x.provider, x.provider_model, x.status, x.prompt_tokens,"
    " x.completion_tokens, x.cost_usd, x.latency_ms, to_timestamp(x.ts_ms / 1000.0)"
    " FROM jsonb_to_recordset($1::jsonb) AS x(event_id uuid, job_id uuid, tenant_id text,"
    " project_id text, api_key_id uuid, model text, provider text, provider_model text,"
    " status text, prompt_tokens int, completion_tokens int, cost_usd numeric, latency_ms int,"
    " ts_ms bigint)"
    " ON CONFLICT (event_id) DO NOTHING"
    " RETURNING ts, tenant_id, project_id, model, provider, status, prompt_tokens,"
    " completion_tokens, cost_usd)"
    " INSERT INTO usage_daily AS d (day, tenant_id, project_id, model, provider, requests, failed,"
    " prompt_tokens, completion_tokens, cost_usd)"
    " SELECT (ts AT TIME ZONE 'UTC')::date, tenant_id, coalesce(project_id, ''), model, provider,"
    " count(*), count(*) FILTER (WHERE status <> 'succeeded'), sum(prompt_tokens),"
    " sum(completion_tokens), sum(cost_usd)"
    " FROM ins GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
    " ON CONFLICT (day, tenant_id, project_id, model, provider) DO UPDATE SET"
    " requests = d.requests + EXCLUDED.requests, failed = d.failed + EXCLUDED.failed,"
    " prompt_tokens = d.prompt_tokens + EXCLUDED.prompt_tokens,"
    " completion_tokens = d.completion_tokens + EXCLUDED.completion_tokens,"
    " cost_usd = CASE WHEN d.cost_usd IS NULL THEN EXCLUDED.cost_usd"
    " WHEN EXCLUDED.cost_usd IS NULL THEN d.cost_usd ELSE d.cost_usd + EXCLUDED.cost_usd END";

static const char *const TRACES_SQL =
    "INSERT INTO traces (trace_id, job_id, tenant_id, project_id, model, provider, status, route,"
    " worker_id, created_at, queue_ms, provider_ms, total_ms, spans)"
    " SELECT x.trace_id, x.job_id, x.tenant_id, x.project_id, x.model, x.provider, x.status,"
    " x.route, x.worker_id, to_timestamp(x.created_ms / 1000.0), x.queue_ms, x.provider_ms,"
    " x.total_ms, x.spans"
    " FROM jsonb_to_recordset($1::jsonb) AS x(trace_id uuid, job_id uuid, tenant_id text,"
    " project_id text, model text, provider text, status text, route text, worker_id text,"
    " created_ms bigint, queue_ms int, provider_ms int, total_ms int, spans jsonb)"
    " ON CONFLICT (trace_id) DO NOTHING";

static const char *const DEAD_SQL =
    "INSERT INTO dead_letters (topic, partition, \"offset\", error, payload)"
    " SELECT x.topic, x.partition, x.off, x.error, decode(x.payload, 'base64')"
    " FROM jsonb_to_recordset($1::jsonb) AS x(topic text, partition int, off bigint, error text,"
    " payload text)"
    " ON CONFLICT (topic, partition, \"offset\") DO NOTHING";

lq_err_t sink_batch_init(sink_batch_t *b)
{
    b->jobs = json_array();
    b->usage = json_array();
    b->traces = json_array();
    b->dead_letters = json_array();
    if (!b->jobs || !b->usage || !b->traces || !b->dead_letters) {
        sink_batch_clear(b);
        return LQ_ERR_NOMEM;
    }
    return LQ_OK;
}

void sink_batch_clear(sink_batch_t *b)
{
    json_decref(b->jobs);
    json_decref(b->usage);
    json_decref(b->traces);
    json_decref(b->dead_letters);
    memset(b, 0, sizeof(*b));
}

size_t sink_batch_rows(const sink_batch_t *b)
{
    return json_array_size(b->jobs) + json_array_size(b->usage) + json_array_size(b->traces) +
           json_array_size(b->dead_letters);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *ms_or_null(int64_t ms)
{
    return ms ? json_integer(ms) : json_null();
}

static void add_dead(sink_batch_t *b, const void *buf, size_t len, const char *topic,
                     int32_t partition, int64_t offset, const char *error)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = buf;
    char *enc = malloc((len + 2) / 3 * 4 + 1);
    size_t i, o = 0;

    LQ_ERROR("%s p%d@%lld cannot be decoded (%s): kept in dead_letters", topic, partition,
             (long long)offset, error);
    if (!enc)
        return;
    for (i = 0; i + 2 < len; i += 3) {
        enc[o++] = b64[p[i] >> 2];
        enc[o++] = b64[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
        enc[o++] = b64[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
        enc[o++] = b64[p[i + 2] & 63];
    }
    if (len - i == 1) {
        enc[o++] = b64[p[i] >> 2];
        enc[o++] = b64[(p[i] & 3) << 4];
        enc[o++] = '=';
        enc[o++] = '=';
    } else if (len - i == 2) {
        enc[o++] = b64[p[i] >> 2];
        enc[o++] = b64[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
        enc[o++] = b64[(p[i + 1] & 15) << 2];
        enc[o++] = '=';
    }
    enc[o] = '\0';
    json_array_append_new(b->dead_letters,
                          json_pack("{s:s, s:i, s:I, s:s, s:s}", "topic", topic, "partition",
                                    partition, "off", (json_int_t)offset, "error", error,
                                    "payload", enc));
    free(enc);
}

void sink_add_request(sink_batch_t *b, lq_codec_t *c, const void *buf, size_t len,
                      const char *topic, int32_t partition, int64_t offset)
{
    lq_chat_request_t r;
    char errstr[256];
    json_t *row;

    if (lq_decode_chat_request(c, buf, len, &r, errstr, sizeof(errstr))) {
        add_dead(b, buf, len, topic, partition, offset, errstr);
        return;
    }
    row = json_object();
    json_object_set_new(row, "id", json_string(r.job_id));
    json_object_set_new(row, "tenant_id", json_string(r.tenant_id));
    json_object_set_new(row, "project_id", str_or_null(r.project_id));
    json_object_set_new(row, "api_key_id", str_or_null(r.api_key_id));
    json_object_set_new(row, "model", json_string(r.model));
    json_object_set_new(row, "mode", json_string(lq_mode_name(r.mode)));
    json_object_set_new(row, "status", json_string("queued"));
    json_object_set_new(row, "status_rank", json_integer(0));
    json_object_set_new(row, "created_ms", json_integer(r.created_at_ms));
    json_array_append_new(b->jobs, row);
    lq_chat_request_clear(&r);
}

static int status_rank(lq_job_status_t s)
{
    switch (s) {
    case LQ_STATUS_QUEUED: return 0;
    case LQ_STATUS_RUNNING: return 1;
    default: return 2;
    }
}

void sink_add_response(sink_batch_t *b, lq_codec_t *c, const void *buf, size_t len,
                       const char *topic, int32_t partition, int64_t offset)
{
    lq_chat_response_t r;
    char errstr[256];
    json_t *row;

    if (lq_decode_chat_response(c, buf, len, &r, errstr, sizeof(errstr))) {
        add_dead(b, buf, len, topic, partition, offset, errstr);
        return;
    }
    row = json_object();
    json_object_set_new(row, "id", json_string(r.job_id));
    json_object_set_new(row, "tenant_id", json_string(r.tenant_id));
    json_object_set_new(row, "project_id", str_or_null(r.project_id));
    json_object_set_new(row, "api_key_id", str_or_null(r.api_key_id));
    json_object_set_new(row, "model", json_string(r.model));
    json_object_set_new(row, "mode", json_string(lq_mode_name(r.mode)));
    json_object_set_new(row, "status", json_string(lq_job_status_name(r.status)));
    json_object_set_new(row, "status_rank", json_integer(status_rank(r.status)));
    json_object_set_new(row, "provider", str_or_null(r.provider));
    json_object_set_new(row, "created_ms", json_integer(r.created_at_ms));
    json_object_set_new(row, "started_ms", ms_or_null(r.started_at_ms));
    json_object_set_new(row, "finished_ms", ms_or_null(r.finished_at_ms));
    if (r.status == LQ_STATUS_SUCCEEDED)
        json_object_set_new(row, "result", lq_openai_completion(&r));
    if (r.has_error)
        json_object_set_new(row, "error", lq_openai_job_error(&r.error));
    json_array_append_new(b->jobs, row);
    lq_chat_response_clear(&r);
}

void sink_add_usage(sink_batch_t *b, lq_codec_t *c, const void *buf, size_t len,
                    const char *topic, int32_t partition, int64_t offset)
{
    lq_usage_event_t u;
    char errstr[256];
    json_t *row;

    if (lq_decode_usage_event(c, buf, len, &u, errstr, sizeof(errstr))) {
        add_dead(b, buf, len, topic, partition, offset, errstr);
        return;
    }
    row = json_object();
    json_object_set_new(row, "event_id", json_string(u.event_id));
    json_object_set_new(row, "job_id", json_string(u.job_id));
    json_object_set_new(row, "tenant_id", json_string(u.tenant_id));
    json_object_set_new(row, "project_id", str_or_null(u.project_id));
    json_object_set_new(row, "api_key_id", str_or_null(u.api_key_id));
    json_object_set_new(row, "model", json_string(u.model));
    json_object_set_new(row, "provider", json_string(u.provider));
    json_object_set_new(row, "provider_model", str_or_null(u.provider_model));
    json_object_set_new(row, "status", json_string(lq_job_status_name(u.status)));
    json_object_set_new(row, "prompt_tokens", json_integer(u.prompt_tokens));
    json_object_set_new(row, "completion_tokens", json_integer(u.completion_tokens));
    json_object_set_new(row, "cost_usd", u.has_cost ? json_real(u.cost_usd) : json_null());
    json_object_set_new(row, "latency_ms", json_integer(u.latency_ms));
    json_object_set_new(row, "ts_ms", json_integer(u.ts_ms));
    json_array_append_new(b->usage, row);
    lq_usage_event_clear(&u);
}

void sink_add_trace(sink_batch_t *b, lq_codec_t *c, const void *buf, size_t len,
                    const char *topic, int32_t partition, int64_t offset)
{
    lq_trace_event_t t;
    char errstr[256];
    json_t *row, *spans;
    size_t i, k;

    if (lq_decode_trace_event(c, buf, len, &t, errstr, sizeof(errstr))) {
        add_dead(b, buf, len, topic, partition, offset, errstr);
        return;
    }
    spans = json_array();
    for (i = 0; i < t.n_spans; i++) {
        json_t *attrs = json_object();
        for (k = 0; k < t.spans[i].n_attrs; k++)
            json_object_set_new(attrs, t.spans[i].attr_keys[k], json_string(t.spans[i].attr_values[k]));
        json_array_append_new(spans, json_pack("{s:s, s:I, s:i, s:o}", "name", t.spans[i].name,
                                               "start_ms", (json_int_t)t.spans[i].start_ms,
                                               "duration_ms", t.spans[i].duration_ms, "attrs", attrs));
    }
    row = json_object();
    json_object_set_new(row, "trace_id", json_string(t.trace_id));
    json_object_set_new(row, "job_id", json_string(t.job_id));
    json_object_set_new(row, "tenant_id", json_string(t.tenant_id));
    json_object_set_new(row, "project_id", str_or_null(t.project_id));
    json_object_set_new(row, "model", json_string(t.model));
    json_object_set_new(row, "provider", json_string(t.provider));
    json_object_set_new(row, "status", json_string(lq_job_status_name(t.status)));
    json_object_set_new(row, "route", json_string(t.route));
    json_object_set_new(row, "worker_id", json_string(t.worker_id));
    json_object_set_new(row, "created_ms", json_integer(t.created_at_ms));
    json_object_set_new(row, "queue_ms", json_integer(t.queue_ms));
    json_object_set_new(row, "provider_ms", json_integer(t.provider_ms));
    json_object_set_new(row, "total_ms", json_integer(t.total_ms));
    json_object_set_new(row, "spans", spans);
    json_array_append_new(b->traces, row);
    lq_trace_event_clear(&t);
}

static lq_err_t run_rows(PGconn *conn, const char *sql, json_t *rows, char *errstr,
                         size_t errstr_size)
{
    char *text;
    const char *params[1];
    PGresult *res;
    lq_err_t err = LQ_OK;

    if (json_array_size(rows) == 0)
        return LQ_OK;
    text = json_dumps(rows, JSON_COMPACT);
    if (!text)
        return LQ_ERR_NOMEM;
    params[0] = text;
    res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(errstr, errstr_size, "postgres: %s", PQerrorMessage(conn));
        err = LQ_ERR_DB;
    }
    PQclear(res);
    free(text);
    return err;
}

lq_err_t sink_batch_write(PGconn *conn, const sink_batch_t *b, char *errstr, size_t errstr_size)
{
    lq_err_t err;
    char ignore[256];

    err = lq_pg_exec(conn, "BEGIN", errstr, errstr_size);
    if (err)
        return err;
    if ((err = run_rows(conn, JOBS_SQL, b->jobs, errstr, errstr_size)) ||
        (err = run_rows(conn, USAGE_SQL, b->usage, errstr, errstr_size)) ||
        (err = run_rows(conn, TRACES_SQL, b->traces, errstr, errstr_size)) ||
        (err = run_rows(conn, DEAD_SQL, b->dead_letters, errstr, errstr_size))) {
        lq_pg_exec(conn, "ROLLBACK", ignore, sizeof(ignore));
        return err;
    }
    return lq_pg_exec(conn, "COMMIT", errstr, errstr_size);
}

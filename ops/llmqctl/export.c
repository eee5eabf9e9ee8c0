/* llmqctl export: usage events, traces or jobs of a time range as an Avro object container
 * file, each row encoded with the schema of its topic (UsageEvent, TraceEvent, ChatResponse),
 * so a file reads like the topic's records. Rows are read through a cursor, a few thousand
 * at a time: memory stays flat whatever the range. */
#include "ops/llmqctl/export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>
#include <jansson.h>

#include "ops/llmqctl/db.h"
#include "schemas/codec.h"

#define FETCH_ROWS      2000
#define FETCH_ROWS_TEXT "2000"
#define FRAMING         10 /* the single-object header: 0xC3 0x01 and the fingerprint */
#define OCF_BLOCK_SIZE  (256 * 1024)

/* Encode one row into the codec's buffer (*buf, *len); 0, or -1 with errstr. */
typedef int (*row_encoder_t)(lq_codec_t *codec, PGresult *res, int row, const void **buf,
                             size_t *len, char *errstr, size_t errstr_size);

typedef struct export_kind {
    const char *name;
    lq_schema_id_t schema;
    const char *sql; /* $1 from, $2 to (timestamptz), $3 tenant or NULL */
    row_encoder_t encode;
} export_kind_t;

static char *opt_str(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static long long num(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static lq_job_status_t status_of(const char *s)
{
    int i;

    for (i = LQ_STATUS_QUEUED; i <= LQ_STATUS_CANCELLED; i++)
        if (s && strcmp(s, lq_job_status_name((lq_job_status_t)i)) == 0)
            return (lq_job_status_t)i;
    return LQ_STATUS_FAILED;
}

/* ---------- usage ---------- */

static int encode_usage(lq_codec_t *codec, PGresult *res, int i, const void **buf, size_t *len,
                        char *errstr, size_t errstr_size)
{
    lq_usage_event_t u;

    memset(&u, 0, sizeof(u));
    u.event_id = opt_str(res, i, 0);
    u.job_id = opt_str(res, i, 1);
    u.tenant_id = opt_str(res, i, 2);
    u.project_id = opt_str(res, i, 3);
    u.api_key_id = opt_str(res, i, 4);
    u.user_id = opt_str(res, i, 5);
    u.model = opt_str(res, i, 6);
    u.provider = opt_str(res, i, 7);
    u.provider_model = opt_str(res, i, 8);
    u.status = status_of(opt_str(res, i, 9));
    u.prompt_tokens = (int32_t)num(res, i, 10);
    u.completion_tokens = (int32_t)num(res, i, 11);
    u.has_cost = !PQgetisnull(res, i, 12);
    u.cost_usd = u.has_cost ? strtod(PQgetvalue(res, i, 12), NULL) : 0;
    u.latency_ms = (int32_t)num(res, i, 13);
    u.ts_ms = num(res, i, 14);
    u.conversation_id = opt_str(res, i, 15);
    return lq_encode_usage_event(codec, &u, buf, len, errstr, errstr_size) ? -1 : 0;
}

/* ---------- traces ---------- */

/* The spans column ([{name, start_ms, duration_ms, attrs}]) as records; the strings stay
 * in spans (json), which the caller frees after encoding. */
static int spans_of(json_t *spans, lq_trace_event_t *t)
{
    size_t i, k;
    json_t *s;

    t->n_spans = json_array_size(spans);
    t->spans = calloc(t->n_spans ? t->n_spans : 1, sizeof(*t->spans));
    if (!t->spans)
        return -1;
    json_array_foreach(spans, i, s)
    {
        lq_span_t *sp = &t->spans[i];
        json_t *attrs = json_object_get(s, "attrs"), *v;
        const char *key;
        sp->name = (char *)json_string_value(json_object_get(s, "name"));
        sp->start_ms = json_integer_value(json_object_get(s, "start_ms"));
        sp->duration_ms = (int32_t)json_integer_value(json_object_get(s, "duration_ms"));
        sp->attr_keys = calloc(json_object_size(attrs) + 1, sizeof(char *));
        sp->attr_values = calloc(json_object_size(attrs) + 1, sizeof(char *));
        if (!sp->attr_keys || !sp->attr_values)
            return -1;
        k = 0;
        json_object_foreach(attrs, key, v)
        {
            sp->attr_keys[k] = (char *)key;
            sp->attr_values[k++] = (char *)(json_string_value(v) ? json_string_value(v) : "");
        }
        sp->n_attrs = k;
        if (!sp->name)
            sp->name = "";
    }
    return 0;
}

static void spans_free(lq_trace_event_t *t)
{
    size_t i;

    for (i = 0; t->spans && i < t->n_spans; i++) {
        free(t->spans[i].attr_keys);
        free(t->spans[i].attr_values);
    }
    free(t->spans);
}

static int encode_trace(lq_codec_t *codec, PGresult *res, int i, const void **buf, size_t *len,
                        char *errstr, size_t errstr_size)
{
    lq_trace_event_t t;
    json_t *spans = json_loads(PQgetvalue(res, i, 15), 0, NULL);
    int rc = -1;

    memset(&t, 0, sizeof(t));
    t.trace_id = opt_str(res, i, 0);
    t.job_id = opt_str(res, i, 1);
    t.tenant_id = opt_str(res, i, 2);
    t.project_id = opt_str(res, i, 3);
    t.api_key_id = opt_str(res, i, 4);
    t.user_id = opt_str(res, i, 5);
    t.model = opt_str(res, i, 6);
    t.provider = opt_str(res, i, 7);
    t.status = status_of(opt_str(res, i, 8));
    t.route = opt_str(res, i, 9);
    t.worker_id = opt_str(res, i, 10);
    t.created_at_ms = num(res, i, 11);
    t.queue_ms = (int32_t)num(res, i, 12);
    t.provider_ms = (int32_t)num(res, i, 13);
    t.total_ms = (int32_t)num(res, i, 14);
    t.conversation_id = opt_str(res, i, 16);
    t.otel_trace_id = opt_str(res, i, 17);
    if (spans && spans_of(spans, &t) == 0)
        rc = lq_encode_trace_event(codec, &t, buf, len, errstr, errstr_size) ? -1 : 0;
    else
        snprintf(errstr, errstr_size, "trace %s: its spans cannot be read", t.trace_id);
    spans_free(&t);
    json_decref(spans);
    return rc;
}

/* ---------- jobs ---------- */

/* A message's fields other than role and content, as JSON text (NULL: none). */
static char *message_extra(json_t *msg)
{
    json_t *rest = json_deep_copy(msg);
    char *text = NULL;

    json_object_del(rest, "role");
    json_object_del(rest, "content");
    if (json_object_size(rest) > 0)
        text = json_dumps(rest, JSON_COMPACT);
    json_decref(rest);
    return text;
}

/* The stored completion (result column) as the record's choices and counts. */
static int choices_of(json_t *result, lq_chat_response_t *r)
{
    json_t *choices = json_object_get(result, "choices"), *ch,
           *usage = json_object_get(result, "usage");
    size_t i;

    r->provider_model = (char *)json_string_value(json_object_get(result, "model"));
    r->prompt_tokens = (int32_t)json_integer_value(json_object_get(usage, "prompt_tokens"));
    r->completion_tokens = (int32_t)json_integer_value(json_object_get(usage, "completion_tokens"));
    r->n_choices = json_array_size(choices);
    r->choices = calloc(r->n_choices ? r->n_choices : 1, sizeof(*r->choices));
    if (!r->choices)
        return -1;
    json_array_foreach(choices, i, ch)
    {
        json_t *msg = json_object_get(ch, "message");
        lq_choice_t *c = &r->choices[i];
        c->index = (int32_t)json_integer_value(json_object_get(ch, "index"));
        c->role = (char *)json_string_value(json_object_get(msg, "role"));
        c->content = (char *)json_string_value(json_object_get(msg, "content"));
        c->finish_reason = (char *)json_string_value(json_object_get(ch, "finish_reason"));
        c->extra_json = message_extra(msg);
        if (!c->role)
            c->role = "assistant";
    }
    return 0;
}

static int encode_job(lq_codec_t *codec, PGresult *res, int i, const void **buf, size_t *len,
                      char *errstr, size_t errstr_size)
{
    lq_chat_response_t r;
    const char *mode = opt_str(res, i, 5);
    json_t *result = PQgetisnull(res, i, 11) ? NULL : json_loads(PQgetvalue(res, i, 11), 0, NULL);
    json_t *error = PQgetisnull(res, i, 12) ? NULL : json_loads(PQgetvalue(res, i, 12), 0, NULL);
    size_t k;
    int rc = -1;

    memset(&r, 0, sizeof(r));
    r.job_id = opt_str(res, i, 0);
    r.tenant_id = opt_str(res, i, 1);
    r.project_id = opt_str(res, i, 2);
    r.api_key_id = opt_str(res, i, 3);
    r.status = status_of(opt_str(res, i, 4));
    r.mode = !mode || !strcmp(mode, "async") ? LQ_MODE_ASYNC
             : !strcmp(mode, "stream")       ? LQ_MODE_STREAM
                                             : LQ_MODE_SYNC;
    r.model = opt_str(res, i, 6);
    r.provider = opt_str(res, i, 7);
    r.created_at_ms = num(res, i, 8);
    r.started_at_ms = num(res, i, 9);
    r.finished_at_ms = num(res, i, 10);
    r.conversation_id = opt_str(res, i, 13);
    r.replay = (int32_t)(num(res, i, 15) / 4);
    if (error) {
        r.has_error = 1;
        r.error.type = (char *)json_string_value(json_object_get(error, "type"));
        r.error.code = (char *)json_string_value(json_object_get(error, "code"));
        r.error.message = (char *)json_string_value(json_object_get(error, "message"));
        r.error.http_status = (int32_t)num(res, i, 14);
        if (!r.error.type)
            r.error.type = "server_error";
        if (!r.error.message)
            r.error.message = "";
    }
    if (!result || choices_of(result, &r) == 0)
        rc = lq_encode_chat_response(codec, &r, buf, len, errstr, errstr_size) ? -1 : 0;
    for (k = 0; k < r.n_choices; k++)
        free(r.choices[k].extra_json);
    free(r.choices);
    json_decref(result);
    json_decref(error);
    return rc;
}

/* ---------- the file ---------- */

static const export_kind_t kinds[] = {
    {"usage", LQ_SCHEMA_USAGE_EVENT,
     "SELECT event_id, job_id, tenant_id, project_id, api_key_id, user_id, model, provider,"
     " provider_model, status, prompt_tokens, completion_tokens, cost_usd, latency_ms,"
     " (extract(epoch FROM ts) * 1000)::bigint, conversation_id FROM usage_events"
     " WHERE ts >= $1 AND ts < $2 AND ($3::text IS NULL OR tenant_id = $3) ORDER BY ts, event_id",
     encode_usage},
    {"traces", LQ_SCHEMA_TRACE_EVENT,
     "SELECT trace_id, job_id, tenant_id, project_id, api_key_id, user_id, model, provider,"
     " status, route, worker_id, (extract(epoch FROM created_at) * 1000)::bigint, queue_ms,"
     " provider_ms, total_ms, spans::text, conversation_id, otel_trace_id FROM traces"
     " WHERE created_at >= $1 AND created_at < $2 AND ($3::text IS NULL OR tenant_id = $3)"
     " ORDER BY created_at, trace_id",
     encode_trace},
    {"jobs", LQ_SCHEMA_CHAT_RESPONSE,
     "SELECT id, tenant_id, project_id, api_key_id, status, mode, model, provider,"
     " (extract(epoch FROM created_at) * 1000)::bigint,"
     " (extract(epoch FROM started_at) * 1000)::bigint,"
     " (extract(epoch FROM finished_at) * 1000)::bigint, result::text, error::text,"
     " conversation_id, error_status, status_rank FROM jobs"
     " WHERE created_at >= $1 AND created_at < $2 AND ($3::text IS NULL OR tenant_id = $3)"
     " ORDER BY created_at, id",
     encode_job},
};

/* Append every row of res to the file; the rows written, or -1. */
static long long write_rows(avro_file_writer_t w, const export_kind_t *k, lq_codec_t *codec,
                            PGresult *res)
{
    int i;
    char errstr[256];

    for (i = 0; i < PQntuples(res); i++) {
        const void *buf;
        size_t len;
        if (k->encode(codec, res, i, &buf, &len, errstr, sizeof(errstr)) || len < FRAMING) {
            fprintf(stderr, "llmqctl: row %d: %s\n", i, errstr);
            return -1;
        }
        if (avro_file_writer_append_encoded(w, (const char *)buf + FRAMING,
                                            (int64_t)(len - FRAMING))) {
            fprintf(stderr, "llmqctl: %s\n", avro_strerror());
            return -1;
        }
    }
    return i;
}

/* The rows of the range through a cursor. */
static long long export_rows(PGconn *conn, avro_file_writer_t w, const export_kind_t *k,
                             const char *const *params)
{
    lq_codec_t *codec = lq_codec_thread();
    PGresult *res;
    char *declare;
    long long total = 0, n;
    size_t dl = strlen(k->sql) + 64;

    if (!codec || !(declare = malloc(dl)))
        return -1;
    snprintf(declare, dl, "DECLARE export NO SCROLL CURSOR FOR %s", k->sql);
    PQclear(ctl_query(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL));
    res = PQexecParams(conn, declare, 3, NULL, params, NULL, NULL, 0);
    free(declare);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "llmqctl: %s", PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    PQclear(res);
    do {
        res = ctl_query(conn, "FETCH " FETCH_ROWS_TEXT " FROM export", 0, NULL);
        n = res ? write_rows(w, k, codec, res) : -1;
        PQclear(res);
        total = n < 0 ? -1 : total + n;
    } while (n == FETCH_ROWS);
    PQclear(ctl_query(conn, "COMMIT", 0, NULL));
    return total;
}

int ctl_export(const ctl_call_t *c, const char *what)
{
    const char *params[3] = {ctl_opt(c, "--from"), ctl_opt(c, "--to"), ctl_opt(c, "--tenant")};
    const char *out = ctl_opt(c, "--out"), *json;
    const export_kind_t *k = NULL;
    avro_schema_t schema;
    avro_file_writer_t w;
    long long n;
    size_t i;

    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].name, what) == 0)
            k = &kinds[i];
    if (!k)
        return ctl_fail(2, "export: usage, traces or jobs");
    json = lq_schema_json(k->schema);
    if (avro_schema_from_json_length(json, strlen(json), &schema))
        return ctl_fail(1, "schema: %s", avro_strerror());
    remove(out); /* avro-c does not replace a file */
    if (avro_file_writer_create_with_codec(out, schema, &w, "deflate", OCF_BLOCK_SIZE)) {
        avro_schema_decref(schema);
        return ctl_fail(1, "%s: %s", out, avro_strerror());
    }
    n = export_rows(c->conn, w, k, params);
    avro_file_writer_close(w);
    avro_schema_decref(schema);
    if (n < 0) {
        remove(out);
        return 1;
    }
    printf("%lld %s record(s) written to %s\n", n, lq_schema_name(k->schema), out);
    return 0;
}

int ctl_export_usage(const ctl_call_t *c)
{
    return ctl_export(c, "usage");
}

int ctl_export_traces(const ctl_call_t *c)
{
    return ctl_export(c, "traces");
}

int ctl_export_jobs(const ctl_call_t *c)
{
    return ctl_export(c, "jobs");
}

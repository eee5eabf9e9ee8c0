/* The sink's rows: a usage event becomes the same row twice, as JSON (the careful, row by row
 * way) and as a line of COPY text (the way a batch is written), with COPY's escapes for the
 * characters that would end a column or a row, \N for NULL, and every column in order; a
 * final response's jobs and traces rows carry their JSON columns (result, spans) as text that
 * reads back as the same JSON. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/codec.h"
#include "sinks/writers.h"
#include "testutil.h"

static void add(sink_batch_t *b, lq_codec_t *c, const lq_usage_event_t *u)
{
    const void *buf;
    size_t len;
    char err[256];

    CHECK(lq_encode_usage_event(c, u, &buf, &len, err, sizeof(err)) == LQ_OK);
    sink_add_usage(b, c, buf, len, "llmq.usage", 3, 42);
}

/* Column k (0-based) of the first line of COPY text p, unescaped (NULL for \N); caller frees. */
static char *column(const char *p, int k)
{
    char *out = malloc(strlen(p) + 1), *o = out;
    int col = 0;

    for (; *p && *p != '\n'; p++) {
        if (*p == '\t') {
            if (col++ == k)
                break;
            continue;
        }
        if (col != k)
            continue;
        if (*p == '\\') {
            p++;
            *o++ = *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p == 't' ? '\t' : *p == 'N' ? 0 : *p;
            if (*p == 'N') {
                free(out);
                return NULL;
            }
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static int columns(const char *p)
{
    int n = 1;

    for (; *p && *p != '\n'; p++)
        n += *p == '\t';
    return n;
}

/* A final response with its usage and trace: one row in each table, both ways. */
static void check_response(lq_codec_t *c)
{
    static char *keys[] = {"note"}, *vals[] = {"a \"quoted\"\tvalue\\"};
    lq_span_t span = {"queue", 1700000000000, 3, keys, vals, 1};
    lq_choice_t choice = {0, "assistant", "line one\nline \"two\"", "stop", NULL};
    lq_chat_response_t r = {.job_id = "0190b6a0-0000-7000-8000-000000000010",
                            .tenant_id = "acme",
                            .model = "mock",
                            .provider = "mock",
                            .status = LQ_STATUS_SUCCEEDED,
                            .mode = LQ_MODE_SYNC,
                            .created_at_ms = 1700000000000,
                            .finished_at_ms = 1700000000100,
                            .choices = &choice,
                            .n_choices = 1,
                            .has_trace = 1,
                            .trace = {.trace_id = "0190b6a0-0000-7000-8000-000000000011",
                                      .job_id = "0190b6a0-0000-7000-8000-000000000010",
                                      .tenant_id = "acme",
                                      .model = "mock",
                                      .provider = "mock",
                                      .status = LQ_STATUS_SUCCEEDED,
                                      .route = "default",
                                      .worker_id = "w1",
                                      .spans = &span,
                                      .n_spans = 1}};
    const void *buf;
    size_t len;
    char err[256], *result, *spans, *started;
    json_t *v;
    sink_batch_t b;

    CHECK(sink_batch_init(&b) == LQ_OK);
    CHECK(lq_encode_chat_response(c, &r, &buf, &len, err, sizeof(err)) == LQ_OK);
    sink_add_response(&b, c, buf, len, "llmq.responses", 0, 7,
                      SINK_JOBS | SINK_USAGE | SINK_TRACES);
    CHECK_INT(b.n_jobs, 1);
    CHECK_INT(b.n_traces, 1);
    CHECK_INT(b.n_usage, 0); /* it carried none */
    CHECK_INT(columns(b.jobs_copy.p), 16);
    CHECK_INT(columns(b.traces_copy.p), 18);
    result = column(b.jobs_copy.p, 12);
    started = column(b.jobs_copy.p, 10);
    CHECK(started == NULL); /* no start time: NULL, not 0 */
    CHECK(result != NULL);
    v = result ? json_loads(result, 0, NULL) : NULL;
    CHECK(v != NULL);
    CHECK(v && strstr(result, "line one\\nline \\\"two\\\"") != NULL);
    json_decref(v);
    spans = column(b.traces_copy.p, 15);
    v = spans ? json_loads(spans, 0, NULL) : NULL;
    CHECK(v != NULL);
    CHECK_STR(
        json_string_value(json_object_get(json_object_get(json_array_get(v, 0), "attrs"), "note")),
        "a \"quoted\"\tvalue\\");
    json_decref(v);
    free(result);
    free(spans);
    free(started);
    sink_batch_clear(&b);
}

int main(void)
{
    lq_codec_t *c;
    sink_batch_t b;
    char err[256];
    lq_usage_event_t u = {.event_id = "0190b6a0-0000-7000-8000-000000000001",
                          .job_id = "0190b6a0-0000-7000-8000-000000000002",
                          .tenant_id = "acme",
                          .project_id = NULL,
                          .api_key_id = "0190b6a0-0000-7000-8000-000000000003",
                          .user_id = "tab\there",
                          .model = "back\\slash new\nline cr\r",
                          .provider = "openai",
                          .provider_model = NULL,
                          .status = LQ_STATUS_FAILED,
                          .prompt_tokens = 12,
                          .completion_tokens = 0,
                          .has_cost = 1,
                          .cost_usd = 0.25,
                          .latency_ms = 7,
                          .ts_ms = 1700000000123,
                          .conversation_id = NULL};
    static const char expected[] =
        "0190b6a0-0000-7000-8000-000000000001\t0190b6a0-0000-7000-8000-000000000002\tacme\t\\N\t"
        "0190b6a0-0000-7000-8000-000000000003\ttab\\there\tback\\\\slash new\\nline cr\\r\topenai\t"
        "\\N\tfailed\t12\t0\t0.25\t7\t1700000000123\t\\N\n";

    CHECK(lq_codec_create(&c, err, sizeof(err)) == LQ_OK);
    CHECK(sink_batch_init(&b) == LQ_OK);
    add(&b, c, &u);
    CHECK_INT(b.n_usage, 1);
    CHECK_INT(b.usage_copy.len, strlen(expected));
    CHECK(b.usage_copy.len == strlen(expected) &&
          !memcmp(b.usage_copy.p, expected, b.usage_copy.len));
    CHECK(strstr(b.usage.p, "\"model\":\"back\\\\slash new\\nline cr\\r\"") != NULL);

    /* no cost: NULL; a second row follows on its own line; a reset keeps nothing */
    u.has_cost = 0;
    add(&b, c, &u);
    CHECK_INT(b.n_usage, 2);
    CHECK(strstr(b.usage_copy.p + strlen(expected), "\t0\t\\N\t7\t") != NULL);
    sink_batch_reset(&b);
    CHECK_INT(b.usage_copy.len, 0);
    CHECK_INT(b.n_usage, 0);
    sink_batch_clear(&b);
    check_response(c);
    lq_codec_destroy(c);
    TEST_DONE();
}

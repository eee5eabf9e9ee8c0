/* llmq-sink-bench: how many rows a sink writes into PostgreSQL per second
 * (docs/benchmarks.md, "The sinks' write rate").
 *
 *   llmq-sink-bench --pg URL [--records N] [--batch N] [--writers usage|jobs,usage,traces]
 *                   [--tenants N]
 *
 * Builds N final responses as a worker publishes them (each carrying its job's usage and
 * trace), encoded with the codec, and hands them to the sink's writers in batches of
 * --batch records (sink.batch_max), each batch written in one transaction as the sink does,
 * on one connection. Each tenant has four keys and three models, so the hourly and daily
 * rollups take many rows into few groups, as in a deployment. Kafka is left out: what is timed is decoding, building the rows and
 * PostgreSQL's write. Prints records/s and rows/s, the share of time in PostgreSQL and the
 * median and p99 batch write. The database must have llmq's schema (llmqctl migrate); the
 * rows it writes are new jobs of tenants named bench-N and stay there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/pg.h"
#include "schemas/codec.h"
#include "sinks/writers.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static unsigned parse_writers(const char *s)
{
    unsigned w = 0;

    if (strstr(s, "jobs"))
        w |= SINK_JOBS;
    if (strstr(s, "usage"))
        w |= SINK_USAGE;
    if (strstr(s, "traces"))
        w |= SINK_TRACES;
    return w;
}

/* One final response of job i, as a worker writes it to llmq.responses. */
static int encode_response(lq_codec_t *c, long i, int tenants, const void **buf, size_t *len)
{
    static char *keys[] = {"worker_wait_ms", "admission_ms", "kafka_ms"};
    static char *vals[] = {"0", "0", "2"};
    static char *akeys[] = {"gen_ai.request.model", "http.status_code", "ttft_ms"};
    static char *avals[] = {"gpt-4o-mini", "200", "180"};
    static const char *models[] = {"gpt-4o-mini", "claude-3-5-haiku", "gemini-2.0-flash"};
    char job[LQ_UUID_STR_LEN + 1], ev[LQ_UUID_STR_LEN + 1], tr[LQ_UUID_STR_LEN + 1];
    char key[LQ_UUID_STR_LEN + 1], tenant[32], err[256];
    int64_t now = lq_wall_ms();
    lq_span_t spans[2] = {{"queue", now - 230, 3, keys, vals, 3},
                          {"attempt", now - 227, 220, akeys, avals, 3}};
    lq_choice_t choice = {0, "assistant",
                          "A durable queue keeps every accepted request until a worker has "
                          "answered it, so a restart loses nothing and every token is counted "
                          "once.",
                          "stop", NULL};
    lq_chat_response_t r;

    lq_uuid7(job, now);
    lq_uuid7(ev, now);
    lq_uuid7(tr, now);
    /* a few keys per tenant, as in a deployment (the rollups group by key) */
    snprintf(key, sizeof(key), "00000000-0000-7000-8000-%012ld", (i % tenants) * 4 + i % 4);
    snprintf(tenant, sizeof(tenant), "bench-%ld", i % tenants);
    memset(&r, 0, sizeof(r));
    r.job_id = job;
    r.tenant_id = tenant;
    r.project_id = "default";
    r.api_key_id = key;
    r.status = LQ_STATUS_SUCCEEDED;
    r.mode = LQ_MODE_ASYNC;
    r.model = (char *)models[i % 3];
    r.provider = "openai";
    r.provider_model = r.model;
    r.created_at_ms = now - 240;
    r.started_at_ms = now - 230;
    r.finished_at_ms = now;
    r.choices = &choice;
    r.n_choices = 1;
    r.prompt_tokens = 120 + (int32_t)(i % 50);
    r.completion_tokens = 40 + (int32_t)(i % 30);
    r.attempts = 1;
    r.worker_id = "worker-1";
    r.has_usage = 1;
    r.usage = (lq_usage_event_t){.event_id = ev,
                                 .job_id = job,
                                 .tenant_id = tenant,
                                 .project_id = "default",
                                 .api_key_id = key,
                                 .model = r.model,
                                 .provider = "openai",
                                 .provider_model = r.model,
                                 .status = LQ_STATUS_SUCCEEDED,
                                 .prompt_tokens = r.prompt_tokens,
                                 .completion_tokens = r.completion_tokens,
                                 .has_cost = 1,
                                 .cost_usd = 0.000042,
                                 .latency_ms = 230,
                                 .ts_ms = now};
    r.has_trace = 1;
    r.trace = (lq_trace_event_t){.trace_id = tr,
                                 .job_id = job,
                                 .tenant_id = tenant,
                                 .project_id = "default",
                                 .api_key_id = key,
                                 .model = r.model,
                                 .provider = "openai",
                                 .status = LQ_STATUS_SUCCEEDED,
                                 .route = "default",
                                 .worker_id = "worker-1",
                                 .created_at_ms = now - 240,
                                 .queue_ms = 3,
                                 .provider_ms = 220,
                                 .total_ms = 240,
                                 .spans = spans,
                                 .n_spans = 2};
    return lq_encode_chat_response(c, &r, buf, len, err, sizeof(err)) == LQ_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *pg = NULL, *writers_s = "usage";
    long records = 200000, batch = 2000, i, n_batches, k = 0;
    int tenants = 10, a;
    unsigned writers;
    lq_codec_t *c;
    PGconn *conn;
    sink_batch_t b;
    char err[512];
    int64_t t0, t_pg = 0, *lat;
    size_t rows = 0;

    for (a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--pg") && a + 1 < argc)
            pg = argv[++a];
        else if (!strcmp(argv[a], "--records") && a + 1 < argc)
            records = atol(argv[++a]);
        else if (!strcmp(argv[a], "--batch") && a + 1 < argc)
            batch = atol(argv[++a]);
        else if (!strcmp(argv[a], "--writers") && a + 1 < argc)
            writers_s = argv[++a];
        else if (!strcmp(argv[a], "--tenants") && a + 1 < argc)
            tenants = atoi(argv[++a]);
        else {
            fprintf(stderr, "usage: llmq-sink-bench --pg URL [--records N] [--batch N] "
                            "[--writers usage|jobs,usage,traces] [--tenants N]\n");
            return 2;
        }
    }
    writers = parse_writers(writers_s);
    if (!pg || records < 1 || batch < 1 || tenants < 1 || !writers) {
        fprintf(stderr, "llmq-sink-bench: --pg, and positive --records, --batch, --tenants and "
                        "a writer are needed\n");
        return 2;
    }
    if (lq_codec_create(&c, err, sizeof(err)) != LQ_OK ||
        lq_pg_connect(pg, "llmq-sink-bench", &conn, err, sizeof(err)) != LQ_OK ||
        sink_batch_init(&b) != LQ_OK) {
        fprintf(stderr, "llmq-sink-bench: %s\n", err);
        return 1;
    }
    n_batches = (records + batch - 1) / batch;
    lat = calloc((size_t)n_batches, sizeof(*lat));
    if (!lat)
        return 1;
    t0 = lq_mono_us();
    for (i = 0; i < records; i++) {
        const void *buf;
        size_t len;

        if (encode_response(c, i, tenants, &buf, &len)) {
            fprintf(stderr, "llmq-sink-bench: encoding failed\n");
            return 1;
        }
        sink_add_response(&b, c, buf, len, "llmq.responses", (int32_t)(i % 8), i, writers);
        if ((i + 1) % batch == 0 || i + 1 == records) {
            int64_t w0 = lq_mono_us();

            rows += sink_batch_rows(&b);
            if (sink_batch_write(conn, &b, err, sizeof(err)) != LQ_OK) {
                fprintf(stderr, "llmq-sink-bench: %s\n", err);
                return 1;
            }
            lat[k] = lq_mono_us() - w0;
            t_pg += lat[k++];
            sink_batch_reset(&b);
        }
    }
    {
        double secs = (double)(lq_mono_us() - t0) / 1e6;

        qsort(lat, (size_t)k, sizeof(*lat), cmp_i64);
        printf("records %ld, batch %ld, writers %s: %.0f records/s, %.0f rows/s; "
               "%.0f %% of the time in PostgreSQL; batch write p50 %.1f ms, p99 %.1f ms\n",
               records, batch, writers_s, (double)records / secs, (double)rows / secs,
               100.0 * (double)t_pg / 1e6 / secs, (double)lat[k / 2] / 1000.0,
               (double)lat[(k * 99) / 100] / 1000.0);
    }
    free(lat);
    sink_batch_clear(&b);
    PQfinish(conn);
    lq_codec_destroy(c);
    return 0;
}

/* llmq-codec-bench: the Avro codec's cost per record (schemas/codec.c), on records shaped like
 * the ones the daemons write: a ChatRequest of four messages (about 1 KB), a ChatResponse
 * with one choice, a UsageEvent and a TraceEvent of four spans. For each it prints the
 * encoded size and ns per encode and per decode (decode includes the *_clear that frees
 * the result), the median of 21 rounds:
 *   llmq-codec-bench [N]     N iterations per record and operation (default 210000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "schemas/codec.h"

typedef struct bench_records {
    lq_message_t msgs[4];
    char *stop[1];
    lq_chat_request_t req;
    lq_choice_t choice;
    lq_chat_response_t resp;
    lq_usage_event_t usage;
    char *keys[5], *vals[5];
    lq_span_t spans[4];
    lq_trace_event_t trace;
} bench_records_t;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void fill_request(bench_records_t *b)
{
    static const char *const turns[4][2] = {
        {"system", "You are a concise assistant for an operations team. Answer in plain English, "
                   "cite the runbook section when one applies, and never invent commands."},
        {"user", "Our Kafka consumer group for the usage sink lags by 40k messages after a "
                 "deploy. The brokers look healthy. What should we check first, in order?"},
        {"assistant", "Check 1) whether the sink instances all joined the group (a rebalance "
                      "loop shows as repeated assignments), 2) the PostgreSQL write latency, "
                      "3) max.poll.interval.ms against the batch time."},
        {"user", "The group is stable and Postgres p99 is 4 ms. Batches take 30 ms. Could the "
                 "new partition count explain it? We went from 12 to 48 partitions yesterday "
                 "and only run 6 sink instances."}};
    int i;

    for (i = 0; i < 4; i++) {
        b->msgs[i].role = (char *)turns[i][0];
        b->msgs[i].content = (char *)turns[i][1];
    }
    b->msgs[3].name = "ops-oncall";
    b->stop[0] = "\n\nUser:";
    b->req = (lq_chat_request_t){.job_id = "0190a5f0-7c1e-7d3a-8f00-3b9e2a1c4d5e",
                                 .tenant_id = "acme-corp",
                                 .project_id = "0190a5f0-0000-7000-8000-00000000cafe",
                                 .api_key_id = "0190a5f0-0000-7000-8000-00000000beef",
                                 .user_id = "0190a5f0-0000-7000-8000-00000000f00d",
                                 .created_at_ms = 1732200000123,
                                 .deadline_ms = 1732200060123,
                                 .mode = LQ_MODE_SYNC,
                                 .reply_topic = "llmq.replies.ingest-1",
                                 .model = "gpt-4o-mini",
                                 .messages = b->msgs,
                                 .n_messages = 4,
                                 .has_max_tokens = 1,
                                 .max_tokens = 512,
                                 .has_temperature = 1,
                                 .temperature = 0.2,
                                 .stop = b->stop,
                                 .n_stop = 1,
                                 .extra_json = "{\"response_format\":{\"type\":\"text\"}}"};
}

static void fill_response(bench_records_t *b)
{
    b->choice.role = "assistant";
    b->choice.content = "Yes. With 48 partitions and 6 instances each sink owns 8 partitions, and "
                        "a sink commits once per batch across all of them: raise the batch size "
                        "or run more instances (up to 48) and watch the lag per partition.";
    b->choice.finish_reason = "stop";
    b->resp = (lq_chat_response_t){.job_id = b->req.job_id,
                                   .tenant_id = b->req.tenant_id,
                                   .project_id = b->req.project_id,
                                   .api_key_id = b->req.api_key_id,
                                   .status = LQ_STATUS_SUCCEEDED,
                                   .mode = LQ_MODE_SYNC,
                                   .model = "gpt-4o-mini",
                                   .provider = "openai",
                                   .provider_model = "gpt-4o-mini-2024-07-18",
                                   .created_at_ms = 1732200000123,
                                   .started_at_ms = 1732200000131,
                                   .finished_at_ms = 1732200001377,
                                   .choices = &b->choice,
                                   .n_choices = 1,
                                   .prompt_tokens = 231,
                                   .completion_tokens = 48,
                                   .attempts = 1,
                                   .worker_id = "worker-3"};
}

static void fill_usage(bench_records_t *b)
{
    b->usage = (lq_usage_event_t){.event_id = b->req.job_id,
                                  .job_id = b->req.job_id,
                                  .tenant_id = b->req.tenant_id,
                                  .project_id = b->req.project_id,
                                  .api_key_id = b->req.api_key_id,
                                  .user_id = b->req.user_id,
                                  .model = "gpt-4o-mini",
                                  .provider = "openai",
                                  .provider_model = "gpt-4o-mini-2024-07-18",
                                  .status = LQ_STATUS_SUCCEEDED,
                                  .prompt_tokens = 231,
                                  .completion_tokens = 48,
                                  .has_cost = 1,
                                  .cost_usd = 0.00006345,
                                  .latency_ms = 1246,
                                  .ts_ms = 1732200001377};
}

static void fill_trace(bench_records_t *b)
{
    static const char *const kv[5][2] = {{"provider", "openai"},
                                         {"attempts", "1"},
                                         {"fallbacks", "0"},
                                         {"history", "[]"},
                                         {"ttft_ms", "212"}};
    static const char *const names[4] = {"queue", "provider", "attempt", "publish"};
    int i;

    for (i = 0; i < 5; i++) {
        b->keys[i] = (char *)kv[i][0];
        b->vals[i] = (char *)kv[i][1];
    }
    for (i = 0; i < 4; i++) {
        b->spans[i].name = (char *)names[i];
        b->spans[i].start_ms = 1732200000123 + i * 10;
        b->spans[i].duration_ms = 8 + i;
        b->spans[i].attr_keys = b->keys;
        b->spans[i].attr_values = b->vals;
        b->spans[i].n_attrs = i == 1 ? 5 : i == 2 ? 3 : 0;
    }
    b->trace = (lq_trace_event_t){.trace_id = b->req.job_id,
                                  .job_id = b->req.job_id,
                                  .tenant_id = b->req.tenant_id,
                                  .project_id = b->req.project_id,
                                  .api_key_id = b->req.api_key_id,
                                  .user_id = b->req.user_id,
                                  .model = "gpt-4o-mini",
                                  .provider = "openai",
                                  .status = LQ_STATUS_SUCCEEDED,
                                  .route = "rule:default",
                                  .worker_id = "worker-3",
                                  .created_at_ms = 1732200000123,
                                  .queue_ms = 8,
                                  .provider_ms = 1246,
                                  .total_ms = 1262,
                                  .spans = b->spans,
                                  .n_spans = 4};
}

static lq_err_t encode_one(lq_codec_t *c, lq_schema_id_t id, const void *rec, const void **buf,
                           size_t *len, char *err, size_t err_size)
{
    switch (id) {
    case LQ_SCHEMA_CHAT_REQUEST:
        return lq_encode_chat_request(c, rec, buf, len, err, err_size);
    case LQ_SCHEMA_CHAT_RESPONSE:
        return lq_encode_chat_response(c, rec, buf, len, err, err_size);
    case LQ_SCHEMA_USAGE_EVENT:
        return lq_encode_usage_event(c, rec, buf, len, err, err_size);
    case LQ_SCHEMA_TRACE_EVENT:
        return lq_encode_trace_event(c, rec, buf, len, err, err_size);
    default:
        return LQ_ERR_INVALID;
    }
}

/* Decode, then free what the decode allocated (a zeroed record when it failed). */
static lq_err_t decode_one(lq_codec_t *c, lq_schema_id_t id, const void *buf, size_t len)
{
    union {
        lq_chat_request_t req;
        lq_chat_response_t resp;
        lq_usage_event_t usage;
        lq_trace_event_t trace;
    } o;
    char err[256];
    lq_err_t e = LQ_ERR_INVALID;

    switch (id) {
    case LQ_SCHEMA_CHAT_REQUEST:
        e = lq_decode_chat_request(c, buf, len, &o.req, err, sizeof(err));
        lq_chat_request_clear(&o.req);
        break;
    case LQ_SCHEMA_CHAT_RESPONSE:
        e = lq_decode_chat_response(c, buf, len, &o.resp, err, sizeof(err));
        lq_chat_response_clear(&o.resp);
        break;
    case LQ_SCHEMA_USAGE_EVENT:
        e = lq_decode_usage_event(c, buf, len, &o.usage, err, sizeof(err));
        lq_usage_event_clear(&o.usage);
        break;
    case LQ_SCHEMA_TRACE_EVENT:
        e = lq_decode_trace_event(c, buf, len, &o.trace, err, sizeof(err));
        lq_trace_event_clear(&o.trace);
        break;
    default:
        break;
    }
    return e;
}

#define ROUNDS 21

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ns per op of the median round: a shared machine's stalls land in a few rounds. */
static double median_round(const double *rounds)
{
    double sorted[ROUNDS];

    memcpy(sorted, rounds, sizeof(sorted));
    qsort(sorted, ROUNDS, sizeof(double), cmp_double);
    return sorted[ROUNDS / 2];
}

/* Rounds of n / ROUNDS encodes, then of as many decodes of the encoded copy; 0 on success. */
static int run(lq_codec_t *c, lq_schema_id_t id, const void *rec, long n)
{
    const char *name = lq_schema_name(id);
    long per = n / ROUNDS > 0 ? n / ROUNDS : 1, i;
    double t_enc[ROUNDS], t_dec[ROUNDS], t0;
    const void *buf = NULL;
    char err[256] = "", *copy = NULL;
    size_t len = 0;
    int r, bad = 0;

    for (r = 0; r < ROUNDS; r++) {
        t0 = now_ns();
        for (i = 0; i < per; i++)
            bad |= encode_one(c, id, rec, &buf, &len, err, sizeof(err)) != LQ_OK;
        t_enc[r] = (now_ns() - t0) / (double)per;
    }
    copy = bad ? NULL : malloc(len);
    if (!copy) {
        fprintf(stderr, "%s: encode failed: %s\n", name, err);
        return -1;
    }
    memcpy(copy, buf, len);
    for (r = 0; r < ROUNDS; r++) {
        t0 = now_ns();
        for (i = 0; i < per; i++)
            bad |= decode_one(c, id, copy, len) != LQ_OK;
        t_dec[r] = (now_ns() - t0) / (double)per;
    }
    free(copy);
    if (bad) {
        fprintf(stderr, "%s: decode failed\n", name);
        return -1;
    }
    printf("%-13s %5zu bytes  encode %7.0f ns/op  decode+clear %7.0f ns/op\n", name, len,
           median_round(t_enc), median_round(t_dec));
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 210000;
    static bench_records_t b;
    lq_codec_t *c = NULL;
    char err[256];
    int rc = 0;

    if (n <= 0 || lq_codec_create(&c, err, sizeof(err)) != LQ_OK) {
        fprintf(stderr, "usage: llmq-codec-bench [iterations]\n");
        return 2;
    }
    fill_request(&b);
    fill_response(&b);
    fill_usage(&b);
    fill_trace(&b);
    rc |= run(c, LQ_SCHEMA_CHAT_REQUEST, &b.req, n);
    rc |= run(c, LQ_SCHEMA_CHAT_RESPONSE, &b.resp, n);
    rc |= run(c, LQ_SCHEMA_USAGE_EVENT, &b.usage, n);
    rc |= run(c, LQ_SCHEMA_TRACE_EVENT, &b.trace, n);
    lq_codec_destroy(c);
    return rc ? 1 : 0;
}

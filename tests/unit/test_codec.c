/* Avro codec: round trips of every record, single-object framing, schema evolution (a
 * reader of the current schema reads records from an older writer), fingerprints. */
#include <stdint.h>

#include "schemas/codec.h"
#include "schemas/fingerprint.h"
#include "testutil.h"

static void test_request_roundtrip(lq_codec_t *c)
{
    lq_message_t msgs[2] = {{"system", "be brief", NULL, NULL, NULL},
                            {"user", "hello ünïcødé", "[{\"type\":\"text\",\"text\":\"hello\"}]",
                             "ann", "{\"tool_call_id\":\"x\"}"}};
    char *stop[2] = {"END", "\n\n"};
    lq_chat_request_t r = {0}, d;
    const void *buf;
    size_t len;
    char err[256];

    r.job_id = "0190a5f0-0000-7000-8000-000000000001";
    r.tenant_id = "acme";
    r.project_id = NULL;
    r.api_key_id = "k1";
    r.created_at_ms = 1732200000123;
    r.deadline_ms = 1732200060123;
    r.mode = LQ_MODE_SYNC;
    r.reply_topic = "llmq.replies.n1";
    r.model = "gpt-4o-mini";
    r.messages = msgs;
    r.n_messages = 2;
    r.has_max_tokens = 1;
    r.max_tokens = 77;
    r.has_temperature = 1;
    r.temperature = 0.25;
    r.stop = stop;
    r.n_stop = 2;
    r.extra_json = "{\"tools\":[]}";
    r.attempt = 2;
    CHECK_INT(lq_encode_chat_request(c, &r, &buf, &len, err, sizeof(err)), LQ_OK);
    CHECK(len > 10);
    CHECK_INT(((const unsigned char *)buf)[0], 0xC3);
    CHECK_INT(((const unsigned char *)buf)[1], 0x01);
    CHECK_INT(lq_decode_chat_request(c, buf, len, &d, err, sizeof(err)), LQ_OK);
    CHECK_STR(d.job_id, r.job_id);
    CHECK_STR(d.tenant_id, "acme");
    CHECK(d.project_id == NULL);
    CHECK_STR(d.api_key_id, "k1");
    CHECK_INT(d.created_at_ms, r.created_at_ms);
    CHECK_INT(d.deadline_ms, r.deadline_ms);
    CHECK_INT(d.mode, LQ_MODE_SYNC);
    CHECK_STR(d.reply_topic, "llmq.replies.n1");
    CHECK_INT(d.n_messages, 2);
    CHECK_STR(d.messages[1].content, "hello ünïcødé");
    CHECK_STR(d.messages[1].name, "ann");
    CHECK_STR(d.messages[1].content_json, msgs[1].content_json);
    CHECK_STR(d.messages[1].extra_json, msgs[1].extra_json);
    CHECK(d.messages[0].name == NULL);
    CHECK_INT(d.has_max_tokens, 1);
    CHECK_INT(d.max_tokens, 77);
    CHECK(d.has_temperature && d.temperature == 0.25);
    CHECK(!d.has_top_p);
    CHECK_INT(d.n_stop, 2);
    CHECK_STR(d.stop[1], "\n\n");
    CHECK_STR(d.extra_json, "{\"tools\":[]}");
    CHECK_INT(d.attempt, 2);
    lq_chat_request_clear(&d);

    /* corrupted input is an error, never a crash */
    {
        unsigned char bad[64];
        memcpy(bad, buf, len < sizeof(bad) ? len : sizeof(bad));
        CHECK(lq_decode_chat_request(c, bad, 5, &d, err, sizeof(err)) != LQ_OK);
        bad[3] ^= 0xff; /* fingerprint */
        CHECK(lq_decode_chat_request(c, bad, sizeof(bad), &d, err, sizeof(err)) != LQ_OK);
        CHECK(strstr(err, "fingerprint") != NULL);
        CHECK(lq_decode_chat_request(c, buf, len / 2, &d, err, sizeof(err)) != LQ_OK);
    }
}

static void test_response_usage_trace(lq_codec_t *c)
{
    lq_choice_t ch = {0, "assistant", "Hi there", "stop", NULL};
    lq_chat_response_t r = {0}, d;
    lq_usage_event_t u = {0}, du;
    lq_trace_event_t t = {0}, dt;
    lq_span_t span = {0};
    char *keys[1] = {"provider"}, *vals[1] = {"mock"};
    const void *buf;
    size_t len;
    char err[256];

    r.job_id = "j1";
    r.tenant_id = "t1";
    r.status = LQ_STATUS_FAILED;
    r.mode = LQ_MODE_ASYNC;
    r.model = "mock";
    r.provider = "mock";
    r.created_at_ms = 5;
    r.finished_at_ms = 9;
    r.choices = &ch;
    r.n_choices = 1;
    r.prompt_tokens = 3;
    r.completion_tokens = 4;
    r.has_error = 1;
    r.error.type = "provider_error";
    r.error.message = "boom";
    r.error.http_status = 502;
    r.attempts = 3;
    CHECK_INT(lq_encode_chat_response(c, &r, &buf, &len, err, sizeof(err)), LQ_OK);
    CHECK_INT(lq_decode_chat_response(c, buf, len, &d, err, sizeof(err)), LQ_OK);
    CHECK_INT(d.status, LQ_STATUS_FAILED);
    CHECK_INT(d.n_choices, 1);
    CHECK_STR(d.choices[0].content, "Hi there");
    CHECK_INT(d.has_error, 1);
    CHECK_STR(d.error.message, "boom");
    CHECK(d.error.code == NULL);
    CHECK_INT(d.error.http_status, 502);
    CHECK_INT(d.started_at_ms, 0);
    CHECK_INT(d.finished_at_ms, 9);
    CHECK_INT(d.attempts, 3);
    lq_chat_response_clear(&d);
    /* a response is not a request: the fingerprint says so */
    {
        lq_chat_request_t wrong;
        CHECK(lq_decode_chat_request(c, buf, len, &wrong, err, sizeof(err)) != LQ_OK);
    }

    u.event_id = "e";
    u.job_id = "j";
    u.tenant_id = "t";
    u.model = "m";
    u.provider = "p";
    u.status = LQ_STATUS_SUCCEEDED;
    u.prompt_tokens = 10;
    u.completion_tokens = 20;
    u.latency_ms = 30;
    u.ts_ms = 40;
    CHECK_INT(lq_encode_usage_event(c, &u, &buf, &len, err, sizeof(err)), LQ_OK);
    {
        /* a length prefix claiming more bytes than the message has is refused before
         * avro-c would allocate it (a hostile or corrupt record must not cost gigabytes) */
        unsigned char bogus[128];
        const unsigned char huge[5] = {0xfe, 0xff, 0xff, 0xff, 0x0f}; /* string of 2^31-1 */
        memcpy(bogus, buf, 10);
        memcpy(bogus + 10, huge, sizeof(huge));
        memcpy(bogus + 15, (const char *)buf + 11, len - 11);
        CHECK(lq_decode_usage_event(c, bogus, len + 4, &du, err, sizeof(err)) != LQ_OK);
        CHECK(strstr(err, "malformed record") != NULL);
    }
    CHECK_INT(lq_decode_usage_event(c, buf, len, &du, err, sizeof(err)), LQ_OK);
    CHECK_INT(du.completion_tokens, 20);
    CHECK_INT(du.has_cost, 0);
    CHECK_INT(du.status, LQ_STATUS_SUCCEEDED);
    lq_usage_event_clear(&du);

    span.name = "provider";
    span.start_ms = 1;
    span.duration_ms = 2;
    span.attr_keys = keys;
    span.attr_values = vals;
    span.n_attrs = 1;
    t.trace_id = "x";
    t.job_id = "x";
    t.tenant_id = "t";
    t.model = "m";
    t.provider = "mock";
    t.route = "r";
    t.worker_id = "w";
    t.spans = &span;
    t.n_spans = 1;
    t.otel_trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    CHECK_INT(lq_encode_trace_event(c, &t, &buf, &len, err, sizeof(err)), LQ_OK);
    CHECK_INT(lq_decode_trace_event(c, buf, len, &dt, err, sizeof(err)), LQ_OK);
    CHECK_INT(dt.n_spans, 1);
    CHECK_STR(dt.otel_trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK_STR(dt.spans[0].attr_values[0], "mock");
    lq_trace_event_clear(&dt);
}

/* Streamed pieces and cancellations; lq_codec_identify tells the record types apart. */
static void test_chunk_cancel(lq_codec_t *c)
{
    lq_chat_chunk_t k = {"job-1", 7, "hel\u00e9lo", NULL, "w1", 1700000000000LL}, dk;
    lq_job_cancel_t x = {"job-1", "tenant-a", "client_disconnected", 1700000000001LL}, dx;
    lq_chat_response_t r = {0}, dr;
    const void *buf;
    size_t len;
    char err[256];

    CHECK_INT(lq_encode_chat_chunk(c, &k, &buf, &len, err, sizeof(err)), LQ_OK);
    CHECK_INT(lq_codec_identify(c, buf, len), LQ_SCHEMA_CHAT_CHUNK);
    CHECK_INT(lq_decode_chat_chunk(c, buf, len, &dk, err, sizeof(err)), LQ_OK);
    CHECK_STR(dk.job_id, "job-1");
    CHECK_INT(dk.seq, 7);
    CHECK_STR(dk.delta, "hel\u00e9lo");
    CHECK(dk.provider_model == NULL);
    CHECK_STR(dk.worker_id, "w1");
    CHECK(dk.ts_ms == 1700000000000LL);
    lq_chat_chunk_clear(&dk);
    /* a chunk is not a response */
    CHECK(lq_decode_chat_response(c, buf, len, &dr, err, sizeof(err)) != LQ_OK);

    CHECK_INT(lq_encode_job_cancel(c, &x, &buf, &len, err, sizeof(err)), LQ_OK);
    CHECK_INT(lq_codec_identify(c, buf, len), LQ_SCHEMA_JOB_CANCEL);
    CHECK_INT(lq_decode_job_cancel(c, buf, len, &dx, err, sizeof(err)), LQ_OK);
    CHECK_STR(dx.tenant_id, "tenant-a");
    CHECK_STR(dx.reason, "client_disconnected");
    lq_job_cancel_clear(&dx);

    r.job_id = r.tenant_id = r.model = "j";
    r.extra_json = "{\"citations\":[\"https://example.org\"]}";
    CHECK_INT(lq_encode_chat_response(c, &r, &buf, &len, err, sizeof(err)), LQ_OK);
    CHECK_INT(lq_codec_identify(c, buf, len), LQ_SCHEMA_CHAT_RESPONSE);
    CHECK_INT(lq_decode_chat_response(c, buf, len, &dr, err, sizeof(err)), LQ_OK);
    CHECK_STR(dr.extra_json, "{\"citations\":[\"https://example.org\"]}");
    lq_chat_response_clear(&dr);
    CHECK_INT(lq_codec_identify(c, "\xc3\x01garbage!", 10), -1);
    CHECK_INT(lq_codec_identify(c, "x", 1), -1);
}

/* An older writer: UsageEvent before cost_usd, provider_model and api_key_id existed. */
static const char *const usage_v0 =
    "{\"type\":\"record\",\"name\":\"UsageEvent\",\"namespace\":\"io.llmq.v1\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"job_id\",\"type\":\"string\"},"
    "{\"name\":\"tenant_id\",\"type\":\"string\"},"
    "{\"name\":\"project_id\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"model\",\"type\":\"string\"},{\"name\":\"provider\",\"type\":\"string\"},"
    "{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"JobStatus\",\"symbols\":"
    "[\"QUEUED\",\"RUNNING\",\"SUCCEEDED\",\"FAILED\",\"CANCELLED\"]}},"
    "{\"name\":\"prompt_tokens\",\"type\":\"int\"},{\"name\":\"completion_tokens\",\"type\":"
    "\"int\"},"
    "{\"name\":\"latency_ms\",\"type\":\"int\"},{\"name\":\"ts_ms\",\"type\":\"long\"}]}";

/* Hand-written Avro binary of a usage_v0 record, framed with its fingerprint. */
static size_t write_v0(unsigned char *out, uint64_t fp)
{
    size_t o = 0;
    int i;

    out[o++] = 0xC3;
    out[o++] = 0x01;
    for (i = 0; i < 8; i++)
        out[o++] = (unsigned char)(fp >> (8 * i));
    out[o++] = 2;
    out[o++] = 'e'; /* event_id "e" (zigzag len 1 = 2) */
    out[o++] = 2;
    out[o++] = 'j'; /* job_id */
    out[o++] = 2;
    out[o++] = 't'; /* tenant_id */
    out[o++] = 0;   /* project_id: null branch */
    out[o++] = 2;
    out[o++] = 'm'; /* model */
    out[o++] = 2;
    out[o++] = 'p'; /* provider */
    out[o++] = 4;   /* status: SUCCEEDED (2) */
    out[o++] = 20;  /* prompt_tokens 10 */
    out[o++] = 40;  /* completion_tokens 20 */
    out[o++] = 60;  /* latency_ms 30 */
    out[o++] = 80;  /* ts_ms 40 */
    return o;
}

static void test_evolution(lq_codec_t *c)
{
    unsigned char buf[64];
    char *canon = NULL, err[256];
    uint64_t fp;
    size_t len;
    lq_usage_event_t u;

    CHECK_INT(lq_avro_canonical_form(usage_v0, &canon, err, sizeof(err)), LQ_OK);
    fp = lq_avro_crc64(canon, strlen(canon));
    free(canon);
    len = write_v0(buf, fp);
    /* unknown writer: refused with a clear error */
    CHECK(lq_decode_usage_event(c, buf, len, &u, err, sizeof(err)) != LQ_OK);
    CHECK(strstr(err, "unknown writer schema") != NULL);
    /* once the older schema is known, the record resolves into the current one */
    err[0] = 0;
    CHECK_INT(lq_codec_register_writer(c, LQ_SCHEMA_USAGE_EVENT, usage_v0, err, sizeof(err)),
              LQ_OK);
    if (err[0])
        fprintf(stderr, "register: %s\n", err);
    CHECK_INT(lq_decode_usage_event(c, buf, len, &u, err, sizeof(err)), LQ_OK);
    CHECK_STR(u.event_id, "e");
    CHECK_STR(u.provider, "p");
    CHECK_INT(u.status, LQ_STATUS_SUCCEEDED);
    CHECK_INT(u.prompt_tokens, 10);
    CHECK_INT(u.completion_tokens, 20);
    CHECK_INT(u.latency_ms, 30);
    CHECK_INT(u.ts_ms, 40);
    CHECK_INT(u.has_cost, 0);        /* filled from the reader's default */
    CHECK(u.provider_model == NULL); /* default null */
    CHECK(u.api_key_id == NULL);
    lq_usage_event_clear(&u);
}

/* Parsing Canonical Form and CRC-64-AVRO against values from the Avro specification's
 * test suite (share/test/data/schema-tests.txt) and an independent implementation. */
static void test_fingerprints(void)
{
    char *canon = NULL, err[256];

    CHECK_INT(lq_avro_canonical_form("{\"type\":\"int\",\"logicalType\":\"date\"}", &canon, err,
                                     sizeof(err)),
              LQ_OK);
    CHECK_STR(canon, "\"int\"");
    free(canon);
    CHECK_INT(lq_avro_canonical_form(
                  "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"a.b\",\"doc\":\"x\","
                  "\"fields\":[{\"name\":\"f\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
                  "\"symbols\":[\"A\"]},\"default\":\"A\"},{\"name\":\"g\",\"type\":\"E\"},"
                  "{\"name\":\"h\",\"type\":{\"type\":\"array\",\"items\":\"long\"}}]}",
                  &canon, err, sizeof(err)),
              LQ_OK);
    CHECK_STR(canon, "{\"name\":\"a.b.R\",\"type\":\"record\",\"fields\":[{\"name\":\"f\",\"type\":"
                     "{\"name\":\"a.b.E\",\"type\":\"enum\",\"symbols\":[\"A\"]}},{\"name\":\"g\","
                     "\"type\":\"a.b.E\"},{\"name\":\"h\",\"type\":{\"type\":\"array\",\"items\":"
                     "\"long\"}}]}");
    free(canon);
    /* the empty-input value and "int" from the specification's fingerprint table */
    CHECK(lq_avro_crc64("", 0) == 0xc15d213aa4d7a795ULL);
    CHECK(lq_avro_crc64("\"int\"", 5) == (uint64_t)8247732601305521295ULL);
}

int main(int argc, char **argv)
{
    static const char *const files[LQ_SCHEMA_COUNT] = {
        "chat_request", "chat_response", "usage_event", "trace_event", "chat_chunk", "job_cancel"};
    lq_codec_t *c = NULL;
    char err[256];
    int i;

    CHECK_INT(lq_codec_create(&c, err, sizeof(err)), LQ_OK);
    if (!c) {
        fprintf(stderr, "codec: %s\n", err);
        return 1;
    }
    if (argc > 2 && strcmp(argv[1], "--write-fuzz-seeds") == 0) {
        /* seeds for tests/fuzz/fuzz_avro_decode.c: the type byte, then an encoded body */
        lq_chat_request_t r = {0};
        lq_message_t m = {"user", "hello", NULL, "n", "{\"a\":1}"};
        char *stop[1] = {"x"};
        lq_chat_response_t resp = {0};
        lq_choice_t ch = {0, "assistant", "hi", "stop", NULL};
        lq_usage_event_t u = {0};
        lq_trace_event_t t = {0};
        lq_span_t span = {0};
        lq_chat_chunk_t chunk = {"id", 3, "del", "m", "w", 5};
        lq_job_cancel_t cancel = {"id", "t", "client_disconnected", 5};
        char *keys[1] = {"k"}, *vals[1] = {"v"};
        const void *buf;
        size_t len;
        for (i = 0; i < LQ_SCHEMA_COUNT; i++) {
            char path[4096];
            FILE *fp;
            lq_err_t e;
            r.job_id = r.tenant_id = r.model = "id";
            r.messages = &m;
            r.n_messages = 1;
            r.stop = stop;
            r.n_stop = 1;
            r.has_max_tokens = 1;
            r.max_tokens = 5;
            resp.job_id = resp.tenant_id = resp.model = "id";
            resp.choices = &ch;
            resp.n_choices = 1;
            resp.has_error = 1;
            resp.error.type = resp.error.message = "e";
            u.event_id = u.job_id = u.tenant_id = u.model = u.provider = "id";
            span.name = "s";
            span.attr_keys = keys;
            span.attr_values = vals;
            span.n_attrs = 1;
            t.trace_id = t.job_id = t.tenant_id = t.model = t.provider = t.route = t.worker_id =
                "id";
            t.spans = &span;
            t.n_spans = 1;
            e = i == 0   ? lq_encode_chat_request(c, &r, &buf, &len, err, sizeof(err))
                : i == 1 ? lq_encode_chat_response(c, &resp, &buf, &len, err, sizeof(err))
                : i == 2 ? lq_encode_usage_event(c, &u, &buf, &len, err, sizeof(err))
                : i == 3 ? lq_encode_trace_event(c, &t, &buf, &len, err, sizeof(err))
                : i == 4 ? lq_encode_chat_chunk(c, &chunk, &buf, &len, err, sizeof(err))
                         : lq_encode_job_cancel(c, &cancel, &buf, &len, err, sizeof(err));
            snprintf(path, sizeof(path), "%s/%s.bin", argv[2], files[i]);
            fp = fopen(path, "wb");
            if (e || !fp)
                return 1;
            fputc(i, fp);
            fwrite((const char *)buf + 10, 1, len - 10, fp);
            fclose(fp);
        }
        lq_codec_destroy(c);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--print-fingerprints") == 0) {
        /* for the end-to-end test that compares with an independent implementation */
        for (i = 0; i < LQ_SCHEMA_COUNT; i++)
            printf("%s %016llx\n", files[i],
                   (unsigned long long)lq_codec_fingerprint(c, (lq_schema_id_t)i));
        lq_codec_destroy(c);
        return 0;
    }
    test_request_roundtrip(c);
    test_response_usage_trace(c);
    test_evolution(c);
    test_chunk_cancel(c);
    test_fingerprints();
    lq_codec_destroy(c);
    TEST_DONE();
}

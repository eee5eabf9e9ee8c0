/* The sink's rows: a usage event becomes the same row twice, as JSON (the careful, row by row
 * way) and as a line of COPY text (the way a batch is written), with COPY's escapes for the
 * characters that would end a column or a row, \N for NULL, and every column in order. */
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
    lq_codec_destroy(c);
    TEST_DONE();
}

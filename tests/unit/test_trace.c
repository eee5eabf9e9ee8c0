/* W3C Trace Context: traceparent parsing (the specification's valid and invalid forms),
 * formatting, tracestate bounds, new ids and sampling. */
#include "common/trace.h"
#include "testutil.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static int parse(const char *s, lq_trace_ctx_t *c)
{
    return lq_traceparent_parse(s, strlen(s), c);
}

static void check_invalid(void)
{
    static const char *const bad[] = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",    /* short */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", /* 00 with more */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   /* upper case */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   /* zero parent */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version ff */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",   /* not hex */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  /* later, no dash */
    };
    lq_trace_ctx_t c;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(bad[i], &c) == 0)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(parse(bad[i], &c) == -1);
    }
}

int main(void)
{
    lq_trace_ctx_t c, d;
    char out[LQ_TRACEPARENT_LEN + 1];
    int i, sampled = 0;

    CHECK_INT(parse(TP, &c), 0);
    CHECK_INT(c.trace_id[0], 0x4b);
    CHECK_INT(c.trace_id[15], 0x36);
    CHECK_INT(c.span_id[7], 0xb7);
    CHECK_INT(c.flags, LQ_TRACE_SAMPLED);
    lq_traceparent_format(&c, out);
    CHECK_STR(out, TP);
    /* spaces around the value are not part of it; a later version with more fields is read */
    CHECK_INT(parse("  " TP "\t", &d), 0);
    CHECK(memcmp(&c, &d, sizeof(c)) == 0);
    CHECK_INT(parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-the-future", &d),
              0);
    CHECK_INT(d.flags, LQ_TRACE_SAMPLED); /* unknown flags are not passed on */
    lq_traceparent_format(&d, out);
    CHECK_STR(out, TP);
    check_invalid();
    { /* the traceparent naming another span of the same trace */
        static const uint8_t child[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        lq_traceparent_of(&c, child, out);
        CHECK_STR(out, "00-4bf92f3577b34da6a3ce929d0e0e4736-0102030405060708-01");
    }

    CHECK(lq_tracestate_valid("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", 39));
    CHECK(!lq_tracestate_valid("a=b\n", 4));
    CHECK(!lq_tracestate_valid("", 0));
    {
        char big[LQ_TRACESTATE_MAX + 2];
        memset(big, 'a', sizeof(big));
        CHECK(lq_tracestate_valid(big, LQ_TRACESTATE_MAX));
        CHECK(!lq_tracestate_valid(big, LQ_TRACESTATE_MAX + 1));
    }

    /* new ids are never zero, differ, and format into something that parses back */
    lq_trace_start(&c, 100);
    lq_trace_start(&d, 100);
    CHECK(memcmp(c.trace_id, d.trace_id, 16) != 0);
    CHECK_INT(c.flags, LQ_TRACE_SAMPLED);
    lq_traceparent_format(&c, out);
    CHECK_INT(parse(out, &d), 0);
    CHECK(memcmp(&c, &d, sizeof(c)) == 0);
    for (i = 0; i < 1000; i++) {
        lq_trace_start(&c, 0);
        CHECK_INT(c.flags, 0);
        lq_trace_start(&c, 30);
        sampled += c.flags;
    }
    CHECK(sampled > 200 && sampled < 400);
    TEST_DONE();
}

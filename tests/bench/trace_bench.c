/* llmq-trace-bench: what tracing costs a request (docs/benchmarks.md, "Tracing").
 *
 *   llmq-trace-bench [N]     N iterations of each step (default 1,000,000); prints ns each
 *
 * The steps a request takes with tracing: a new trace (ids from the per-thread generator), its
 * traceparent formatted, a caller's parsed; and, with an exporter configured, one span encoded
 * into the pending batch (the exporter points at a closed port, so batches are dropped after
 * encoding: what is timed is the request thread's share). Median of 5 runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/otlp.h"
#include "common/trace.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp);
    return v[n / 2];
}

static volatile unsigned sink_byte;

static double ids_and_format(long n)
{
    lq_trace_ctx_t c;
    char out[LQ_TRACEPARENT_LEN + 1];
    int64_t t0 = lq_mono_us();
    long i;

    for (i = 0; i < n; i++) {
        lq_trace_start(&c, 100);
        lq_trace_new_span_id(c.span_id);
        lq_traceparent_format(&c, out);
        sink_byte ^= (unsigned char)out[40];
    }
    return (double)(lq_mono_us() - t0) * 1000.0 / (double)n;
}

static double parse(long n)
{
    static const char tp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    lq_trace_ctx_t c;
    int64_t t0 = lq_mono_us();
    long i;

    for (i = 0; i < n; i++) {
        lq_traceparent_parse(tp, sizeof(tp) - 1, &c);
        sink_byte ^= c.trace_id[3];
    }
    return (double)(lq_mono_us() - t0) * 1000.0 / (double)n;
}

static double span_add(lq_otlp_t *x, long n)
{
    lq_trace_ctx_t c;
    uint8_t span[8];
    lq_span_attr_t a[] = {
        {"gen_ai.operation.name", LQ_ATTR_STR, "chat", 0, 0},
        {"gen_ai.request.model", LQ_ATTR_STR, "gpt-4o-mini", 0, 0},
        {"gen_ai.usage.input_tokens", LQ_ATTR_INT, NULL, 11, 0},
        {"gen_ai.usage.output_tokens", LQ_ATTR_INT, NULL, 7, 0},
        {"llmq.job_id", LQ_ATTR_STR, "0190a1b2-0000-7000-8000-00000000c0c0", 0, 0},
        {"llmq.endpoint", LQ_ATTR_STR, "openai", 0, 0},
    };
    lq_otel_span_t sp = {.trace_id = c.trace_id,
                         .span_id = span,
                         .parent_id = c.span_id,
                         .name = "chat gpt-4o-mini",
                         .kind = LQ_SPAN_CLIENT,
                         .attrs = a,
                         .n_attrs = sizeof(a) / sizeof(a[0])};
    int64_t t0 = lq_mono_us();
    long i;

    lq_trace_start(&c, 100);
    for (i = 0; i < n; i++) {
        lq_trace_new_span_id(span);
        sp.start_us = 1764633600000000 + i;
        sp.end_us = sp.start_us + 20000;
        lq_otlp_add(x, &sp);
    }
    return (double)(lq_mono_us() - t0) * 1000.0 / (double)n;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    double a[5], b[5], c[5];
    lq_otlp_t *x;
    int r;

    lq_log_setup("llmq-trace-bench", "error", 0);
    /* a closed port: every batch fails after it was encoded (the spans are dropped) */
    x = lq_otlp_start("http://127.0.0.1:9/v1/traces", NULL, "bench", 1u << 20);
    if (!x)
        return 1;
    for (r = 0; r < 5; r++) {
        a[r] = ids_and_format(n);
        b[r] = parse(n);
        c[r] = span_add(x, n / 10);
    }
    lq_otlp_stop(x, 0);
    printf("{\"new_trace_and_format_ns\":%.1f,\"parse_ns\":%.1f,\"span_encode_ns\":%.1f}\n",
           median(a, 5), median(b, 5), median(c, 5));
    return 0;
}

/* llmq-stream-mask-bench: the cost of the streamed-answer hold-back (workers/stream_mask.c)
 * per delta, on prose cut into 5-20 byte deltas as providers stream them. Prints one JSON
 * object: {"deltas": N, "ns_per_delta_p50": ..., "held_bytes_max": ...} */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "workers/stream_mask.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static size_t released;

static void sink(void *arg, const char *text, size_t len)
{
    (void)arg;
    (void)text;
    released += len;
}

int main(void)
{
    static const char prose[] =
        "Durable queues let an LLM gateway accept requests faster than providers answer them: "
        "each request is stored once, workers pick them up at their own pace, and a crash "
        "loses nothing. The task asks for skills, such as retries with backoff, fallbacks to a "
        "second provider, and streaming the answer as it is produced.\n\n```python\ndef "
        "handler(event):\n    return {\"status\": 200, \"body\": event}\n```\n";
    size_t len = strlen(prose), cuts[256], n = 0, pos = 0, held_max = 0;
    unsigned seed = 7;
    double t[31];
    int r, i;

    while (pos < len && n < 256) { /* deltas of 5-20 bytes */
        seed = seed * 1103515245u + 12345u;
        pos += 5 + (seed >> 16) % 16;
        cuts[n++] = pos < len ? pos : len;
    }
    for (r = 0; r < 31; r++) {
        double t0 = now_ns();
        for (i = 0; i < 200; i++) {
            stream_mask_t m;
            size_t k, prev = 0;
            memset(&m, 0, sizeof(m));
            for (k = 0; k < n; k++) {
                stream_mask_feed(&m, prose + prev, cuts[k] - prev, sink, NULL);
                prev = cuts[k];
                if (m.len - m.ctx > held_max)
                    held_max = m.len - m.ctx;
            }
            stream_mask_flush(&m, sink, NULL);
            stream_mask_clear(&m);
        }
        t[r] = (now_ns() - t0) / (200.0 * (double)n);
    }
    qsort(t, 31, sizeof(t[0]), cmp_d);
    printf("{\"deltas\": %zu, \"ns_per_delta_p50\": %.0f, \"held_bytes_max\": %zu}\n", n, t[15],
           held_max);
    return released ? 0 : 1;
}

/* Fuzz target: streaming answers (outside input) through the SSE parser and each wire's event
 * handling. The input is fed split at a few points derived from it, then the stream is
 * finished: a failure must always be described, a success must say why it ended, and the
 * text passed to the callback must be what worker_stream_emitted counts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workers/provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count(void *arg, const char *text, size_t len)
{
    size_t *n = arg;

    if (!text || !len)
        abort(); /* no empty deltas */
    *n += len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const worker_wire_t wires[] = {WORKER_WIRE_OPENAI, WORKER_WIRE_ANTHROPIC,
                                          WORKER_WIRE_GEMINI};
    size_t w, i, cuts[4], from, seen;
    uint32_t h = 2166136261u;

    if (size > 262144)
        return 0;
    for (i = 0; i < size && i < 64; i++)
        h = (h ^ data[i]) * 16777619u;
    for (i = 0; i < 4; i++) { /* ascending cut points */
        cuts[i] = size ? (size_t)((h >> (8 * i)) & 0xff) * size / 256 : 0;
        if (i && cuts[i] < cuts[i - 1])
            cuts[i] = cuts[i - 1];
    }
    for (w = 0; w < sizeof(wires) / sizeof(wires[0]); w++) {
        worker_stream_t *s = worker_stream_new(wires[w]);
        worker_result_t r;
        if (!s)
            abort();
        seen = 0;
        from = 0;
        for (i = 0; i <= 4; i++) {
            size_t to = i < 4 ? cuts[i] : size;
            worker_stream_feed(s, (const char *)data + from, to - from, count, &seen);
            from = to;
        }
        if (seen != worker_stream_emitted(s))
            abort();
        worker_stream_finish(s, &r);
        if (!r.ok && (!r.err_type || !r.err_message || r.http_status < 400))
            abort(); /* a failure must be described */
        if (r.ok && (!r.finish_reason || (r.content && strlen(r.content) != seen)))
            abort();
        worker_result_clear(&r);
        worker_stream_free(s);
    }
    return 0;
}

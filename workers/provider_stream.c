/* Streaming answers: the body of a server-sent-events answer through workers/sse.c, each
 * event's JSON handed to its wire's stream_event (the table of workers/providers.c), and at
 * the end one worker_result_t (workers/stream_acc.c). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "workers/provider_adapter.h"
#include "workers/sse.h"

struct worker_stream {
    const worker_wire_ops_t *ops;
    worker_sse_t *sse;
    worker_stream_acc_t acc;
};

worker_stream_t *worker_stream_new(worker_wire_t wire)
{
    const worker_wire_ops_t *ops = worker_wire_ops(wire);
    worker_stream_t *s = ops ? calloc(1, sizeof(*s)) : NULL;

    if (!s)
        return NULL;
    s->ops = ops;
    s->sse = worker_sse_new(WORKER_SSE_DEFAULT_MAX_EVENT);
    if (!s->sse) {
        free(s);
        return NULL;
    }
    return s;
}

void worker_stream_free(worker_stream_t *s)
{
    if (!s)
        return;
    worker_sse_free(s->sse);
    worker_acc_clear(&s->acc);
    free(s);
}

size_t worker_stream_emitted(const worker_stream_t *s)
{
    return s ? s->acc.emitted : 0;
}

static int on_event(void *arg, const char *event, const char *data, size_t len)
{
    worker_stream_t *s = arg;
    const char *end = s->ops->stream_end_data;
    json_error_t jerr;
    json_t *root;

    if (s->acc.ended)
        return 1;
    if (end && len == strlen(end) && memcmp(data, end, len) == 0) {
        s->acc.completed = s->acc.ended = 1;
        return 1;
    }
    root = json_loadb(data, len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        worker_acc_fail_bad(&s->acc,
                            "The provider's stream carried an event that is not a JSON object.");
        return 1;
    }
    s->ops->stream_event(&s->acc, event, root);
    json_decref(root);
    return s->acc.ended;
}

int worker_stream_feed(worker_stream_t *s, const char *data, size_t len, worker_delta_cb cb,
                       void *arg)
{
    int rc;

    if (s->acc.ended)
        return 1;
    s->acc.cb = cb;
    s->acc.arg = arg;
    rc = worker_sse_feed(s->sse, data, len, on_event, s);
    if (rc == WORKER_SSE_TOO_LARGE && !s->acc.ended)
        worker_acc_fail_bad(&s->acc, "The provider's stream carried an event over 1 MiB.");
    else if (rc == WORKER_SSE_NOMEM && !s->acc.ended)
        worker_acc_fail_nomem(&s->acc);
    s->acc.cb = NULL;
    s->acc.arg = NULL;
    return s->acc.ended;
}

void worker_stream_finish(worker_stream_t *s, worker_result_t *out)
{
    const worker_stream_acc_t *a = &s->acc;
    const char *finish;

    if (s->ops->stream_finish_reason)
        finish = s->ops->stream_finish_reason(a->raw_finish, a->n_tools > 0);
    else
        finish = a->finish ? a->finish : a->n_tools ? "tool_calls" : "stop";
    worker_acc_result(a, finish, out);
}

/* The wires, as a table: a wire is one file (workers/provider_<wire>.c, one operations
 * struct) and one row here. The request and answer entry points of workers/provider.h go
 * through the row; nothing else names a wire. */
#include <string.h>

#include "workers/provider_adapter.h"

/* In worker_wire_t's order: the built-in constants index this table. */
static const worker_wire_ops_t *const wires[] = {
    &worker_wire_openai,
    &worker_wire_anthropic,
    &worker_wire_gemini,
};

#define N_WIRES (sizeof(wires) / sizeof(wires[0]))

const worker_wire_ops_t *worker_wire_ops(worker_wire_t wire)
{
    return (unsigned)wire < N_WIRES ? wires[wire] : NULL;
}

const char *worker_wire_name(worker_wire_t w)
{
    const worker_wire_ops_t *ops = worker_wire_ops(w);

    return ops ? ops->name : "unknown";
}

int worker_wire_parse(const char *name)
{
    size_t i;

    if (!name)
        return -1;
    for (i = 0; i < N_WIRES; i++)
        if (strcmp(name, wires[i]->name) == 0)
            return (int)i;
    return -1;
}

int worker_build_request(const lq_chat_request_t *req, const worker_target_t *t, int stream,
                         worker_http_request_t *out)
{
    const worker_wire_ops_t *ops = t ? worker_wire_ops(t->wire) : NULL;

    memset(out, 0, sizeof(*out));
    if (!req || !ops || !t->base_url || !t->model)
        return -1;
    return ops->build_request(req, t, stream, out);
}

void worker_parse_response(worker_wire_t wire, long http_status, const char *body, size_t len,
                           const char *retry_after, const char *transport_error,
                           int transport_timeout, worker_result_t *out)
{
    const worker_wire_ops_t *ops = worker_wire_ops(wire);

    if (!ops)
        ops = wires[WORKER_WIRE_OPENAI];
    ops->parse_response(http_status, body, len, retry_after, transport_error, transport_timeout,
                        out);
}

/* workers/provider_adapter.h — what a wire's file (workers/provider_<wire>.c) provides, and the
 * helpers it may use. A wire is one operations struct, defined in its own file and named in
 * the table of workers/providers.c; nothing in a wire's file calls into the worker or into
 * the table, and the helpers below call no wire. */
#ifndef LQ_WORKER_PROVIDER_ADAPTER_H
#define LQ_WORKER_PROVIDER_ADAPTER_H

#include "workers/provider.h"
#include "workers/provider_errors.h"
#include "workers/provider_http.h"
#include "workers/provider_json.h"
#include "workers/stream_acc.h"

/** A whole (non-streaming) answer parser: worker_parse_response's arguments without the wire. */
typedef void (*worker_parse_fn)(long http_status, const char *body, size_t len,
                                const char *retry_after, const char *transport_error,
                                int transport_timeout, worker_result_t *out);

typedef struct worker_wire_ops {
    const char *name; /* as routing tables spell it */
    /* worker_build_request for this wire; t->base_url and t->model are set */
    int (*build_request)(const lq_chat_request_t *req, const worker_target_t *t, int stream,
                         worker_http_request_t *out);
    worker_parse_fn parse_response;
    /* a data field that ends the stream by itself ("[DONE]"), or NULL */
    const char *stream_end_data;
    /* one server-sent event's data (a JSON object) into the stream's accumulator */
    void (*stream_event)(worker_stream_acc_t *s, const char *event, struct json_t *root);
    /* the canonical finish reason from the one the events kept in s->raw_finish, for a wire
     * that can only tell at the end; NULL: s->finish as the events set it */
    const char *(*stream_finish_reason)(const char *raw, int has_tool_calls);
} worker_wire_ops_t;

/** The table's row for wire, or NULL. */
const worker_wire_ops_t *worker_wire_ops(worker_wire_t wire);

/* The wires (each defined in its own workers/provider_<wire>.c). */
extern const worker_wire_ops_t worker_wire_openai;
extern const worker_wire_ops_t worker_wire_anthropic;
extern const worker_wire_ops_t worker_wire_gemini;

/* The OpenAI wire under its historical names (tests and fuzz targets use them). */
char *worker_openai_request_body(const lq_chat_request_t *req);
void worker_openai_parse_response(long http_status, const char *body, size_t len,
                                  const char *retry_after, const char *transport_error,
                                  int transport_timeout, worker_result_t *out);

#endif

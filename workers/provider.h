/* workers/provider.h — what a provider call produces, and the provider adapters.
 * Adapters are pure translation (canonical request ⇄ wire format); the I/O lives in
 * workers/worker.c so many calls can be in flight on one thread. */
#ifndef LQ_WORKER_PROVIDER_H
#define LQ_WORKER_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "schemas/records.h"

typedef struct worker_result {
    int ok;
    char *content;
    char *finish_reason;
    char *extra_json;     /* other fields of the reply message (tool_calls, ...) */
    char *provider_model; /* the model that actually answered */
    int32_t prompt_tokens;
    int32_t completion_tokens;
    /* when !ok */
    char *err_type;
    char *err_code;
    char *err_message;
    int http_status;        /* the status llmq answers the client with */
    int retriable;
    int64_t retry_after_ms; /* from the provider's Retry-After, or 0 */
} worker_result_t;

void worker_result_clear(worker_result_t *r);

/** Fill *out as a failure. Strings are copied. */
void worker_result_fail(worker_result_t *out, const char *type, const char *code,
                        const char *message, int http_status, int retriable);

/* ---- the built-in mock provider ---- */

/** Deterministic completion for req: the same request gives the same text. At most
 * completion_tokens words (fewer when max_tokens is lower; finish_reason "length").
 * Model "mock-error" fails as a provider would (400, not retriable). */
void worker_mock_complete(const lq_chat_request_t *req, int completion_tokens,
                          worker_result_t *out);

/** Prompt tokens as the mock counts them: ceil(bytes / 4) + 3 per message. */
int32_t worker_mock_prompt_tokens(const lq_chat_request_t *req);

/* ---- OpenAI-compatible chat completions ---- */

/** The JSON body for POST {base}/chat/completions; malloc'ed, NULL on failure. */
char *worker_openai_request_body(const lq_chat_request_t *req);

/** Translate an HTTP answer (status 0 = transport failure, transport_error says which). */
void worker_openai_parse_response(long http_status, const char *body, size_t len,
                                  const char *retry_after, const char *transport_error,
                                  int transport_timeout, worker_result_t *out);

#endif

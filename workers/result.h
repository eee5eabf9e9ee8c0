/* workers/result.h — what a provider call produces: an answer or a failure, in llmq's
 * canonical (OpenAI-shaped) terms. */
#ifndef LQ_WORKER_RESULT_H
#define LQ_WORKER_RESULT_H

#include <stdint.h>

typedef struct worker_result {
    int ok;
    char *content;
    char *finish_reason;       /* canonical: stop, length, tool_calls, content_filter */
    char *extra_json;          /* other fields of the reply message (tool_calls, ...) */
    char *response_extra_json; /* top-level answer fields worth relaying (Perplexity's
                                  citations, search_results) as a JSON object, or NULL */
    char *provider_model;      /* the model that actually answered */
    int32_t prompt_tokens;
    int32_t completion_tokens;
    /* when !ok */
    char *err_type;
    char *err_code;
    char *err_message;
    int http_status; /* the status llmq answers the client with */
    int retriable;
    int64_t retry_after_ms; /* from the provider's Retry-After, or 0 */
} worker_result_t;

void worker_result_clear(worker_result_t *r);

/** Fill *out as a failure. Strings are copied. */
void worker_result_fail(worker_result_t *out, const char *type, const char *code,
                        const char *message, int http_status, int retriable);

#endif

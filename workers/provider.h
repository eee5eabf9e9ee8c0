/* workers/provider.h — the seam between the worker's core and the provider wires: what a call
 * produces (workers/result.h), which wires there are, and the request/answer entry points.
 * The wires themselves (workers/provider_<wire>.c) are pure translation (canonical request ⇄
 * wire format), registered in one table (workers/providers.c); the I/O lives in the worker
 * (workers/http_call.c) so many calls can be in flight on one thread. What a wire's file
 * implements, and the helpers it may use, are in workers/provider_adapter.h. */
#ifndef LQ_WORKER_PROVIDER_H
#define LQ_WORKER_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "schemas/records.h"
#include "workers/result.h"

/* ---- the built-in mock provider ---- */

/** Deterministic completion for req: the same request gives the same text. At most
 * completion_tokens words (fewer when max_tokens is lower; finish_reason "length").
 * Model "mock-error" fails as a provider would (400, not retriable). */
void worker_mock_complete(const lq_chat_request_t *req, int completion_tokens,
                          worker_result_t *out);

/** Prompt tokens as the mock counts them: ceil(bytes / 4) + 3 per message. */
int32_t worker_mock_prompt_tokens(const lq_chat_request_t *req);

/* ---- wire formats ----
 *
 * Error mapping, the same for every wire (what the client sees, in OpenAI's shape):
 *   transport failure        provider_error / provider_unreachable   502 retriable
 *   transport timeout, 408   provider_error / provider_timeout       504 retriable
 *   400, 404, 413, 422       invalid_request_error / provider's code  same status, not retriable
 *   401, 403                 provider_auth_error / provider_auth_error 502, not retriable; the
 *                            provider's text is dropped (it may quote our key)
 *   402                      provider_error / insufficient_credits   502, not retriable
 *   429                      rate_limit_error / provider's code      429 retriable
 *   500, 502, 503, 504       provider_error / provider's code        502 retriable
 *   529, overloaded_error    provider_error / provider_overloaded    503 retriable
 * A provider's message is kept (truncated to 300 bytes, anything shaped like an API key
 * masked) as "The provider answered N: ...". */

/** A wire is a row of the table in workers/providers.c; these name the built-in rows (a wire
 * added later needs no constant: routing finds it by name). */
typedef enum worker_wire {
    WORKER_WIRE_OPENAI = 0,    /* OpenAI, OpenRouter, Perplexity, vLLM, llama.cpp, Ollama */
    WORKER_WIRE_ANTHROPIC = 1, /* Messages API */
    WORKER_WIRE_GEMINI = 2     /* generateContent / streamGenerateContent */
} worker_wire_t;

/** "openai", "anthropic", "gemini" ("unknown" for a wire not in the table);
 * worker_wire_parse returns -1 for an unknown name. */
const char *worker_wire_name(worker_wire_t w);
int worker_wire_parse(const char *name);

/** Where one attempt goes. Every pointer is borrowed. */
typedef struct worker_target {
    worker_wire_t wire;
    const char *base_url;       /* without a trailing slash, e.g. https://api.openai.com/v1 */
    const char *api_key;        /* may be "" (local servers) */
    const char *model;          /* the provider's model name */
    const char *const *headers; /* extra "Name: value" lines (OpenRouter attribution) */
    size_t n_headers;
    int32_t default_max_tokens; /* Anthropic requires max_tokens: used when the request has none */
} worker_target_t;

/** One HTTP request to a provider; everything malloc'ed. */
typedef struct worker_http_request {
    char *url;
    char *body;
    char **headers; /* "Name: value", including Content-Type and the credentials */
    size_t n_headers;
} worker_http_request_t;

/** Build the HTTP request for req on target t; stream=1 asks for server-sent events
 * (OpenAI: stream + stream_options.include_usage; Gemini: :streamGenerateContent?alt=sse).
 * 0 on success, -1 on failure (out cleared). */
int worker_build_request(const lq_chat_request_t *req, const worker_target_t *t, int stream,
                         worker_http_request_t *out);
void worker_http_request_clear(worker_http_request_t *r);

/** Translate a whole (non-streaming) HTTP answer; also used for the error body of a
 * streaming call that did not answer 2xx. http_status 0 = transport failure
 * (transport_error says which, transport_timeout=1 for a timeout). retry_after is the
 * Retry-After header (seconds or an HTTP-date) or NULL. A wire not in the table is read as
 * OpenAI's. */
void worker_parse_response(worker_wire_t wire, long http_status, const char *body, size_t len,
                           const char *retry_after, const char *transport_error,
                           int transport_timeout, worker_result_t *out);

/* ---- streaming answers (server-sent events) ---- */

/** Called for each piece of answer text, in order. */
typedef void (*worker_delta_cb)(void *arg, const char *text, size_t len);

typedef struct worker_stream worker_stream_t;

/** NULL when out of memory or wire is not in the table. */
worker_stream_t *worker_stream_new(worker_wire_t wire);
void worker_stream_free(worker_stream_t *s);

/** Feed body bytes of a 2xx streaming answer, split anywhere. Calls cb for each text delta.
 * Returns 0 to go on, 1 once the stream has ended (completed, or an error event arrived):
 * further bytes are ignored. (Gemini has no end marker: its stream is complete when the
 * transfer ends after a chunk with a finishReason, so feed keeps answering 0 there and a
 * later usage-only chunk is still read.) */
int worker_stream_feed(worker_stream_t *s, const char *data, size_t len, worker_delta_cb cb,
                       void *arg);

/** The outcome once the transfer is over: ok with the whole text, finish reason, usage and
 * model; or the in-stream error (mapped like an HTTP status); or, when the stream stopped
 * before its end marker, provider_error / stream_interrupted 502 retriable. */
void worker_stream_finish(worker_stream_t *s, worker_result_t *out);

/** Bytes of text passed to cb so far (a stream that delivered text cannot be retried). */
size_t worker_stream_emitted(const worker_stream_t *s);

#endif

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
    char *finish_reason;  /* canonical: stop, length, tool_calls, content_filter */
    char *extra_json;     /* other fields of the reply message (tool_calls, ...) */
    char *response_extra_json; /* top-level answer fields worth relaying (Perplexity's
                                  citations, search_results) as a JSON object, or NULL */
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

typedef enum worker_wire {
    WORKER_WIRE_OPENAI = 0,    /* OpenAI, OpenRouter, Perplexity, vLLM, llama.cpp, Ollama */
    WORKER_WIRE_ANTHROPIC = 1, /* Messages API */
    WORKER_WIRE_GEMINI = 2     /* generateContent / streamGenerateContent */
} worker_wire_t;

/** "openai", "anthropic", "gemini"; worker_wire_parse returns -1 for an unknown name. */
const char *worker_wire_name(worker_wire_t w);
int worker_wire_parse(const char *name);

/** Where one attempt goes. Every pointer is borrowed. */
typedef struct worker_target {
    worker_wire_t wire;
    const char *base_url;          /* without a trailing slash, e.g. https://api.openai.com/v1 */
    const char *api_key;           /* may be "" (local servers) */
    const char *model;             /* the provider's model name */
    const char *const *headers;    /* extra "Name: value" lines (OpenRouter attribution) */
    size_t n_headers;
    int32_t default_max_tokens;    /* Anthropic requires max_tokens: used when the request has none */
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
 * Retry-After header (seconds or an HTTP-date) or NULL. */
void worker_parse_response(worker_wire_t wire, long http_status, const char *body, size_t len,
                           const char *retry_after, const char *transport_error,
                           int transport_timeout, worker_result_t *out);

/** Retry-After (delta-seconds or an HTTP-date, relative to now_ms wall clock) in ms,
 * capped at one hour; 0 when absent or unparsable. */
int64_t worker_retry_after_ms(const char *value, int64_t now_ms);

/* The OpenAI wire, kept under its historical names (tests and fuzz targets use them). */
char *worker_openai_request_body(const lq_chat_request_t *req);
void worker_openai_parse_response(long http_status, const char *body, size_t len,
                                  const char *retry_after, const char *transport_error,
                                  int transport_timeout, worker_result_t *out);

/* ---- streaming answers (server-sent events) ---- */

/** Called for each piece of answer text, in order. */
typedef void (*worker_delta_cb)(void *arg, const char *text, size_t len);

typedef struct worker_stream worker_stream_t;

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

/* ---- shared by the wire adapters (workers/provider_*.c); other callers use the functions
 * above ---- */

struct json_t; /* jansson's, kept out of this header */

/** The longest provider message kept in err_message (bytes, before the prefix). */
#define WORKER_PROVIDER_MESSAGE_MAX 300

/** Fill *out (reset first) as the failure the mapping table above gives for http_status
 * (1..999; 0 is worker_fail_transport's). code and message are the provider's, or NULL:
 * the message is masked and truncated here. overloaded=1 when the body said so
 * (Anthropic's overloaded_error) whatever the status. retry_after is the header or NULL. */
void worker_fail_http(worker_result_t *out, long http_status, const char *code,
                      const char *message, int overloaded, const char *retry_after);

/** Fill *out (reset first) as a transport failure (provider_unreachable / provider_timeout). */
void worker_fail_transport(worker_result_t *out, const char *transport_error, int timeout);

/** Fill *out (reset first) as provider_error / bad_provider_response 502 retriable. */
void worker_fail_bad_answer(worker_result_t *out, const char *message);

/** Copy msg into dst (always NUL-terminated): at most max_bytes bytes of it, cut on a UTF-8
 * boundary and ended with "..." when cut, every token shaped like an API key (sk-...,
 * sk-ant-..., AIza..., pplx-..., any run of 24 or more [A-Za-z0-9_-]) shortened to its
 * first 4 characters and "***". */
void worker_mask_secrets(char *dst, size_t dst_size, const char *msg, size_t max_bytes);


/** Append "name: value" to r->headers; 0 or -1 (out of memory). */
int worker_http_request_add_header(worker_http_request_t *r, const char *name,
                                   const char *value);

/** Set r->url to base + path1 + path2 (path2 may be NULL); 0 or -1. */
int worker_http_request_set_url(worker_http_request_t *r, const char *base, const char *path1,
                                const char *path2);

/** Append the target's extra header lines; 0 or -1. */
int worker_http_request_add_target_headers(worker_http_request_t *r, const worker_target_t *t);

/** text parsed as a JSON object (new reference), or NULL when it is not one. */
struct json_t *worker_json_object_load(const char *text);

/** A token count from a JSON number, clamped to 0..INT32_MAX (0 when not an integer). */
int32_t worker_json_tokens(struct json_t *v);

/** An OpenAI tool call {id, type: function, function: {name, arguments}} (new reference, or
 * NULL when out of memory). */
struct json_t *worker_tool_call_new(const char *id, const char *name, const char *arguments);

/** Fill *out (reset first) as server_error / out_of_memory 500 retriable. */
void worker_fail_nomem(worker_result_t *out);

/** A provider's error object (or a 2xx body's "error" member) as *out; see the
 * worker_*_fail_error functions below. */
typedef void (*worker_fail_error_fn)(worker_result_t *out, long http_status, struct json_t *error,
                                     const char *retry_after);

/** The start every answer parser shares. *out is reset; a transport failure (http_status 0)
 * and a non-2xx answer (fail_error with the body's "error" member) fill it, and so does, when
 * error_in_2xx, a 2xx body whose "error" member is an object (fail_error with status 0).
 * Returns 1 when *out is final, 0 to read the answer. Either way *doc is the parsed body (new
 * reference, or NULL: the caller's) and *root the object to read: *doc, or with unwrap_array
 * the first element of a body that is an array. */
int worker_parse_begin(long http_status, const char *body, size_t len, const char *retry_after,
                       const char *transport_error, int transport_timeout, int unwrap_array,
                       int error_in_2xx, worker_fail_error_fn fail_error, struct json_t **doc,
                       struct json_t **root, worker_result_t *out);

/** Append s (NULL: nothing) to the malloc'ed NUL-terminated *text of *len bytes; 0 or -1. */
int worker_text_append(char **text, size_t *len, const char *s);

/** Append an OpenAI tool call (worker_tool_call_new) with args as its arguments text (NULL:
 * "{}") to *calls, created when NULL; 0 or -1 (out of memory). */
int worker_tool_calls_add(struct json_t **calls, const char *id, const char *name,
                          struct json_t *args);

/** Set out->extra_json to {"tool_calls": calls}; 0 or -1 (out of memory). */
int worker_result_set_tool_calls(worker_result_t *out, struct json_t *calls);

/** A provider's error name → HTTP status table, and a lookup in it (dflt when name is NULL
 * or not in the table). */
typedef struct worker_status_map {
    const char *name;
    long status;
} worker_status_map_t;
long worker_status_lookup(const worker_status_map_t *map, size_t n, const char *name, long dflt);

/** Append s to the system text *sys (malloc'ed; joined with a blank line); 0 or -1. */
int worker_system_append(char **sys, const char *s);

/** Set req's temperature, top_p (as top_p_key) and stop sequences (an array as stop_key) in
 * obj, those the request has; 0 or -1 (out of memory). */
int worker_json_set_sampling(struct json_t *obj, const lq_chat_request_t *req,
                             const char *top_p_key, const char *stop_key);

/** How a wire with alternating turns of content blocks (Anthropic, Gemini) writes them. */
typedef struct worker_turn_format {
    const char *assistant_role; /* "assistant", "model" */
    const char *blocks_key;     /* the member of a turn holding its blocks: "content", "parts" */
    /* a non-empty text as a block (new reference, or NULL) */
    struct json_t *(*text)(const char *text);
    /* an image_url part as a block (new reference), or NULL to leave it out: media_type is
     * NULL unless url is a base64 data: URL, then media_type[0..media_type_len) and data are
     * its pieces */
    struct json_t *(*image)(const char *url, const char *media_type, size_t media_type_len,
                            const char *data);
    int keep_other_parts; /* content parts of another type are passed on unchanged */
    /* an assistant's tool call as a block (new reference); args (an object) is stolen */
    struct json_t *(*tool_call)(const char *id, const char *name, struct json_t *args);
    /* append the tool message req->messages[idx] as a block; 0 or -1 */
    int (*tool_result)(const lq_chat_request_t *req, size_t idx, struct json_t *blocks);
} worker_turn_format_t;

/** The turns of req as [{"role": ..., blocks_key: [...]}], consecutive messages of one role
 * merged into a turn (these APIs want alternation); system and developer messages are
 * collected in *sys (worker_system_append) instead. New reference, or NULL (out of memory). */
struct json_t *worker_turns(const lq_chat_request_t *req, const worker_turn_format_t *f,
                            char **sys);

/** The OpenAI tools of extra (tools[].function) as [{name, description, schema_key}] (the
 * parameters under schema_key; with default_schema an empty object schema when there are
 * none); NULL when there are none or out of memory. */
struct json_t *worker_tool_declarations(struct json_t *extra, const char *schema_key,
                                        int default_schema);

/** OpenAI's tool_choice in extra: what it asks for; *name is the function's for NAMED. */
typedef enum worker_tool_choice {
    WORKER_TOOL_CHOICE_UNSET = 0, /* absent or not understood */
    WORKER_TOOL_CHOICE_AUTO,
    WORKER_TOOL_CHOICE_REQUIRED,
    WORKER_TOOL_CHOICE_NONE,
    WORKER_TOOL_CHOICE_NAMED
} worker_tool_choice_t;
worker_tool_choice_t worker_tool_choice(struct json_t *extra, const char **name);

/** Append to r, after the body, URL and content headers of a wire: key_header with the
 * target's API key (when it has one), Accept: text/event-stream when stream, and the target's
 * extra headers; 0 or -1. */
int worker_http_request_add_rest(worker_http_request_t *r, const worker_target_t *t, int stream,
                                 const char *key_header);

/** A growable byte buffer, NUL-terminated after len bytes once anything was added. */
typedef struct worker_buf {
    char *p;
    size_t len, cap;
} worker_buf_t;

/** Append n bytes of s; 0 or -1 (out of memory). */
int worker_buf_add(worker_buf_t *b, const char *s, size_t n);

/** The canonical finish reason for Anthropic's stop_reason / Gemini's finishReason
 * (unknown or NULL: "stop"); has_tool_calls turns Gemini's STOP into tool_calls. */
const char *worker_anthropic_finish_reason(const char *stop_reason);
const char *worker_gemini_finish_reason(const char *finish_reason, int has_tool_calls);

/** Fill *out from a provider's error object: OpenAI's {"message","code","type"} (a numeric
 * code is stringified), Anthropic's {"type","message"}, Gemini's {"code","message","status"}.
 * http_status 0 = an error that arrived inside a 2xx stream: the status is derived from the
 * error itself (502 when it does not say). */
void worker_openai_fail_error(worker_result_t *out, long http_status, struct json_t *error,
                              const char *retry_after);
void worker_anthropic_fail_error(worker_result_t *out, long http_status, struct json_t *error,
                                 const char *retry_after);
void worker_gemini_fail_error(worker_result_t *out, long http_status, struct json_t *error,
                              const char *retry_after);

/** The per-wire halves of worker_build_request and worker_parse_response. */
int worker_openai_build_request(const lq_chat_request_t *req, const worker_target_t *t,
                                int stream, worker_http_request_t *out);
int worker_anthropic_build_request(const lq_chat_request_t *req, const worker_target_t *t,
                                   int stream, worker_http_request_t *out);
int worker_gemini_build_request(const lq_chat_request_t *req, const worker_target_t *t,
                                int stream, worker_http_request_t *out);
void worker_anthropic_parse_response(long http_status, const char *body, size_t len,
                                     const char *retry_after, const char *transport_error,
                                     int transport_timeout, worker_result_t *out);
void worker_gemini_parse_response(long http_status, const char *body, size_t len,
                                  const char *retry_after, const char *transport_error,
                                  int transport_timeout, worker_result_t *out);

#endif

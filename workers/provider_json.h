/* workers/provider_json.h — JSON pieces the wires share: reading answers (tokens, tool calls,
 * the start every answer parser shares) and writing requests (turns of content blocks, tool
 * declarations and choice, sampling parameters). Calls no wire. */
#ifndef LQ_WORKER_PROVIDER_JSON_H
#define LQ_WORKER_PROVIDER_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "schemas/records.h"
#include "workers/result.h"

struct json_t; /* jansson's, kept out of this header */

/** A growable byte buffer, NUL-terminated after len bytes once anything was added. */
typedef struct worker_buf {
    char *p;
    size_t len, cap;
} worker_buf_t;

/** Append n bytes of s; 0 or -1 (out of memory). */
int worker_buf_add(worker_buf_t *b, const char *s, size_t n);

/** text parsed as a JSON object (new reference), or NULL when it is not one. */
struct json_t *worker_json_object_load(const char *text);

/** A token count from a JSON number, clamped to 0..INT32_MAX (0 when not an integer). */
int32_t worker_json_tokens(struct json_t *v);

/** a + b, clamped to INT32_MAX (token counts that add up, such as Gemini's thoughts). */
int32_t worker_tokens_add(int32_t a, int32_t b);

/** An OpenAI tool call {id, type: function, function: {name, arguments}} (new reference, or
 * NULL when out of memory). */
struct json_t *worker_tool_call_new(const char *id, const char *name, const char *arguments);

/** A provider's error object (or a 2xx body's "error" member) as *out: each wire has one.
 * http_status 0 = an error that arrived inside a 2xx answer or stream: the status is derived
 * from the error itself (502 when it does not say). */
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

/** The answer of a wire whose content is a list of blocks (Anthropic's content, Gemini's
 * parts) as it is being read: the text blocks joined, the tool calls in OpenAI's shape. */
typedef struct worker_blocks {
    char *text;
    size_t len;
    int any_text;
    struct json_t *calls;
} worker_blocks_t;

/** Add a text block; 0 or -1 (out of memory). */
int worker_blocks_text(worker_blocks_t *b, const char *text);

/** Fill the ok result from b: content (when there was text, or no tool call), tool calls
 * and finish_reason (copied); 0 or -1 (out of memory). b is cleared either way. */
int worker_blocks_result(worker_blocks_t *b, const char *finish_reason, worker_result_t *out);

/** Free what b holds. */
void worker_blocks_clear(worker_blocks_t *b);

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

#endif

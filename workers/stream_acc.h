/* workers/stream_acc.h — what a streamed answer has delivered so far: the text (passed on to
 * a callback as it comes), tool calls put together from their pieces, usage, model, finish
 * reason, or the failure that ended it. A wire's stream_event fills it; at the end it becomes
 * one worker_result_t. Memory is bounded (answer text + tool arguments). Calls no wire. */
#ifndef LQ_WORKER_STREAM_ACC_H
#define LQ_WORKER_STREAM_ACC_H

#include <stddef.h>
#include <stdint.h>

#include "workers/provider.h"
#include "workers/provider_json.h"

typedef struct worker_tool_acc {
    long key; /* OpenAI: the delta's index; Anthropic: the content block's index */
    char *id;
    char *name;
    worker_buf_t args;
} worker_tool_acc_t;

typedef struct worker_stream_acc {
    int ended;     /* nothing more is read */
    int completed; /* the wire's end marker arrived */
    int failed;    /* fail holds the outcome */
    worker_result_t fail;
    worker_buf_t text;
    size_t emitted, kept;
    char *finish;     /* canonical (OpenAI: as the provider said it) */
    char *raw_finish; /* the provider's own word, mapped at the end (Gemini) */
    char *model;
    int32_t prompt_tokens, completion_tokens;
    worker_tool_acc_t *tools;
    size_t n_tools;
    struct json_t *response_extra; /* Perplexity's citations, search_results */
    worker_delta_cb cb;
    void *arg;
} worker_stream_acc_t;

/** Free what s holds (s itself is the caller's). */
void worker_acc_clear(worker_stream_acc_t *s);

/** End the stream with a failure: the caller fills the returned result (reset). */
worker_result_t *worker_acc_error(worker_stream_acc_t *s);

/** End the stream as bad_provider_response with message / as out of memory; the first
 * failure stands. */
void worker_acc_fail_bad(worker_stream_acc_t *s, const char *message);
void worker_acc_fail_nomem(worker_stream_acc_t *s);

/** n bytes of answer text: kept and passed to the callback. */
void worker_acc_emit(worker_stream_acc_t *s, const char *text, size_t n);

/** The tool call with key, or NULL; worker_acc_tool_add makes one (NULL when the stream
 * failed: too many, or out of memory). */
worker_tool_acc_t *worker_acc_tool_find(worker_stream_acc_t *s, long key);
worker_tool_acc_t *worker_acc_tool_add(worker_stream_acc_t *s, long key);

/** Set a tool call's id or name to v (NULL: nothing), unless set already and !replace. */
void worker_acc_tool_set(worker_stream_acc_t *s, char **dst, const char *v, int replace);

/** Append a piece of a tool call's arguments (NULL: nothing). */
void worker_acc_tool_args(worker_stream_acc_t *s, worker_tool_acc_t *t, const char *a);

/** Set *dst (s->finish, s->raw_finish) to a copy of v. */
void worker_acc_set(worker_stream_acc_t *s, char **dst, const char *v);

/** The answering model, when v is a non-empty string. */
void worker_acc_model(worker_stream_acc_t *s, struct json_t *v);

/** Keep the answer's top-level member key (v) to relay (response_extra_json). */
void worker_acc_extra(worker_stream_acc_t *s, const char *key, struct json_t *v);

/** The outcome (see worker_stream_finish); finish is the canonical finish reason for a
 * completed stream. */
void worker_acc_result(const worker_stream_acc_t *s, const char *finish, worker_result_t *out);

#endif

/* Streaming answers: server-sent events of the three wires (OpenAI chat.completion.chunk,
 * Anthropic Messages events, Gemini streamGenerateContent?alt=sse) turned into text deltas
 * and, at the end, one worker_result_t. Built on workers/sse.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "workers/provider.h"
#include "workers/sse.h"

#define STREAM_MAX_KEPT (32u * 1024 * 1024) /* answer text + tool arguments kept for the end */
#define STREAM_MAX_TOOLS 128

typedef struct tool_acc {
    long key; /* OpenAI: the delta's index; Anthropic: the content block's index */
    char *id;
    char *name;
    worker_buf_t args;
} tool_acc_t;

struct worker_stream {
    worker_wire_t wire;
    worker_sse_t *sse;
    int ended;     /* feed answered 1: the rest is ignored */
    int completed; /* the wire's end marker arrived */
    int failed;    /* fail holds the outcome */
    worker_result_t fail;
    worker_buf_t text;
    size_t emitted, kept;
    char *finish;        /* canonical (OpenAI: as the provider said it) */
    char *gemini_finish; /* Gemini's finishReason, mapped at the end */
    char *model;
    int32_t prompt_tokens, completion_tokens;
    tool_acc_t *tools;
    size_t n_tools;
    json_t *response_extra; /* Perplexity's citations, search_results */
    worker_delta_cb cb;
    void *arg;
};

static int set_str(char **dst, const char *s)
{
    char *d = strdup(s);

    if (!d)
        return -1;
    free(*dst);
    *dst = d;
    return 0;
}

worker_stream_t *worker_stream_new(worker_wire_t wire)
{
    worker_stream_t *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->wire = wire;
    s->sse = worker_sse_new(WORKER_SSE_DEFAULT_MAX_EVENT);
    if (!s->sse) {
        free(s);
        return NULL;
    }
    return s;
}

void worker_stream_free(worker_stream_t *s)
{
    size_t i;

    if (!s)
        return;
    worker_sse_free(s->sse);
    worker_result_clear(&s->fail);
    free(s->text.p);
    free(s->finish);
    free(s->gemini_finish);
    free(s->model);
    for (i = 0; i < s->n_tools; i++) {
        free(s->tools[i].id);
        free(s->tools[i].name);
        free(s->tools[i].args.p);
    }
    free(s->tools);
    json_decref(s->response_extra);
    free(s);
}

size_t worker_stream_emitted(const worker_stream_t *s)
{
    return s ? s->emitted : 0;
}

/* ---- failures: each ends the stream ---- */

static void fail_bad(worker_stream_t *s, const char *message)
{
    if (s->failed)
        return; /* the first failure stands */
    worker_fail_bad_answer(&s->fail, message);
    s->failed = s->ended = 1;
}

static void fail_nomem(worker_stream_t *s)
{
    if (s->failed)
        return;
    worker_fail_nomem(&s->fail);
    s->failed = s->ended = 1;
}

/* the kept-bytes budget; 0 or -1 (and the stream failed) */
static int budget(worker_stream_t *s, size_t n)
{
    if (s->ended)
        return -1;
    if (n > STREAM_MAX_KEPT - s->kept) {
        fail_bad(s, "The provider's streamed answer was too large.");
        return -1;
    }
    s->kept += n;
    return 0;
}

static void emit(worker_stream_t *s, const char *t, size_t n)
{
    if (!n || budget(s, n))
        return;
    if (worker_buf_add(&s->text, t, n)) {
        fail_nomem(s);
        return;
    }
    s->emitted += n;
    if (s->cb)
        s->cb(s->arg, t, n);
}

static tool_acc_t *tool_find(worker_stream_t *s, long key)
{
    size_t i;

    for (i = s->n_tools; i-- > 0;)
        if (s->tools[i].key == key)
            return &s->tools[i];
    return NULL;
}

static tool_acc_t *tool_add(worker_stream_t *s, long key)
{
    tool_acc_t *t;

    if (s->n_tools >= STREAM_MAX_TOOLS) {
        fail_bad(s, "The provider's streamed answer had too many tool calls.");
        return NULL;
    }
    t = realloc(s->tools, (s->n_tools + 1) * sizeof(*t));
    if (!t) {
        fail_nomem(s);
        return NULL;
    }
    s->tools = t;
    t = &s->tools[s->n_tools++];
    memset(t, 0, sizeof(*t));
    t->key = key;
    return t;
}

static void tool_args(worker_stream_t *s, tool_acc_t *t, const char *a)
{
    size_t n = a ? strlen(a) : 0;

    if (!n || budget(s, n))
        return;
    if (worker_buf_add(&t->args, a, n))
        fail_nomem(s);
}

static void tool_set(worker_stream_t *s, char **dst, const char *v, int replace)
{
    if (!v || (*dst && !replace))
        return;
    if (budget(s, strlen(v)) == 0 && set_str(dst, v))
        fail_nomem(s);
}

static void set_model(worker_stream_t *s, json_t *v)
{
    if (json_is_string(v) && *json_string_value(v) && set_str(&s->model, json_string_value(v)))
        fail_nomem(s);
}

/* ---- OpenAI chat.completion.chunk (OpenRouter, Perplexity, ...) ---- */

static void openai_event(worker_stream_t *s, const char *event, json_t *root)
{
    json_t *choice, *delta, *v, *tc;
    size_t i;

    if (json_object_get(root, "error") && !json_is_null(json_object_get(root, "error"))) {
        worker_openai_fail_error(&s->fail, 0, json_object_get(root, "error"), NULL);
        s->failed = s->ended = 1;
        return;
    }
    if (strcmp(event, "error") == 0) { /* "event: error" with the error as the body */
        worker_openai_fail_error(&s->fail, 0, root, NULL);
        s->failed = s->ended = 1;
        return;
    }
    set_model(s, json_object_get(root, "model"));
    choice = json_array_get(json_object_get(root, "choices"), 0);
    delta = json_object_get(choice, "delta");
    v = json_object_get(delta, "content");
    if (json_is_string(v))
        emit(s, json_string_value(v), json_string_length(v));
    json_array_foreach(json_object_get(delta, "tool_calls"), i, tc) {
        json_t *fn = json_object_get(tc, "function"), *ix = json_object_get(tc, "index");
        long key = json_is_integer(ix) ? (long)json_integer_value(ix) : (long)i;
        tool_acc_t *t;
        if (s->ended)
            return;
        t = tool_find(s, key);
        if (!t && !(t = tool_add(s, key)))
            return;
        tool_set(s, &t->id, json_string_value(json_object_get(tc, "id")), 0);
        tool_set(s, &t->name, json_string_value(json_object_get(fn, "name")), 0);
        tool_args(s, t, json_string_value(json_object_get(fn, "arguments")));
    }
    v = json_object_get(choice, "finish_reason");
    if (json_is_string(v) && !s->ended && set_str(&s->finish, json_string_value(v)))
        fail_nomem(s);
    v = json_object_get(root, "usage");
    if (json_is_object(v)) { /* include_usage: the last chunk, with choices: [] */
        s->prompt_tokens = worker_json_tokens(json_object_get(v, "prompt_tokens"));
        s->completion_tokens = worker_json_tokens(json_object_get(v, "completion_tokens"));
    }
    {
        static const char *const keys[] = {"citations", "search_results"};
        for (i = 0; i < sizeof(keys) / sizeof(keys[0]) && !s->ended; i++) {
            v = json_object_get(root, keys[i]);
            if (!v || json_is_null(v))
                continue;
            if (!s->response_extra && !(s->response_extra = json_object())) {
                fail_nomem(s);
                return;
            }
            if (json_object_set(s->response_extra, keys[i], v))
                fail_nomem(s);
        }
    }
}

/* ---- Anthropic Messages events ---- */

static void anthropic_event(worker_stream_t *s, const char *event, json_t *root)
{
    const char *type = json_string_value(json_object_get(root, "type"));
    json_t *v, *usage;
    long key = (long)json_integer_value(json_object_get(root, "index"));

    if (!type)
        type = event;
    if (strcmp(type, "message_start") == 0) {
        json_t *msg = json_object_get(root, "message");
        set_model(s, json_object_get(msg, "model"));
        usage = json_object_get(msg, "usage");
        s->prompt_tokens = worker_json_tokens(json_object_get(usage, "input_tokens"));
        s->completion_tokens = worker_json_tokens(json_object_get(usage, "output_tokens"));
    } else if (strcmp(type, "content_block_start") == 0) {
        json_t *block = json_object_get(root, "content_block");
        const char *bt = json_string_value(json_object_get(block, "type"));
        if (bt && strcmp(bt, "tool_use") == 0) {
            tool_acc_t *t = tool_find(s, key);
            if (!t && !(t = tool_add(s, key)))
                return;
            tool_set(s, &t->id, json_string_value(json_object_get(block, "id")), 1);
            tool_set(s, &t->name, json_string_value(json_object_get(block, "name")), 1);
        } else if (bt && strcmp(bt, "text") == 0) {
            v = json_object_get(block, "text");
            if (json_is_string(v))
                emit(s, json_string_value(v), json_string_length(v));
        }
    } else if (strcmp(type, "content_block_delta") == 0) {
        json_t *d = json_object_get(root, "delta");
        const char *dt = json_string_value(json_object_get(d, "type"));
        if (dt && strcmp(dt, "text_delta") == 0) {
            v = json_object_get(d, "text");
            if (json_is_string(v))
                emit(s, json_string_value(v), json_string_length(v));
        } else if (dt && strcmp(dt, "input_json_delta") == 0) {
            tool_acc_t *t = tool_find(s, key);
            if (t)
                tool_args(s, t, json_string_value(json_object_get(d, "partial_json")));
        } /* thinking_delta, signature_delta, ...: not part of the answer text */
    } else if (strcmp(type, "message_delta") == 0) {
        v = json_object_get(json_object_get(root, "delta"), "stop_reason");
        if (json_is_string(v) &&
            set_str(&s->finish, worker_anthropic_finish_reason(json_string_value(v))))
            fail_nomem(s);
        usage = json_object_get(root, "usage");
        /* cumulative counts: the last one stands */
        if (json_is_integer(json_object_get(usage, "output_tokens")))
            s->completion_tokens = worker_json_tokens(json_object_get(usage, "output_tokens"));
        if (json_is_integer(json_object_get(usage, "input_tokens")))
            s->prompt_tokens = worker_json_tokens(json_object_get(usage, "input_tokens"));
    } else if (strcmp(type, "message_stop") == 0) {
        s->completed = s->ended = 1;
    } else if (strcmp(type, "error") == 0) {
        worker_anthropic_fail_error(&s->fail, 0, json_object_get(root, "error"), NULL);
        s->failed = s->ended = 1;
    } /* ping, content_block_stop, and event types yet to come: nothing to do */
}

/* ---- Gemini: every event is a whole GenerateContentResponse ---- */

static void gemini_event(worker_stream_t *s, json_t *root)
{
    json_t *cand, *part, *v, *usage;
    const char *block;
    size_t i;

    if (json_is_object(json_object_get(root, "error"))) {
        worker_gemini_fail_error(&s->fail, 0, json_object_get(root, "error"), NULL);
        s->failed = s->ended = 1;
        return;
    }
    set_model(s, json_object_get(root, "modelVersion"));
    usage = json_object_get(root, "usageMetadata");
    if (json_is_object(usage)) {
        int32_t c = worker_json_tokens(json_object_get(usage, "candidatesTokenCount"));
        int32_t th = worker_json_tokens(json_object_get(usage, "thoughtsTokenCount"));
        s->prompt_tokens = worker_json_tokens(json_object_get(usage, "promptTokenCount"));
        s->completion_tokens = th > INT32_MAX - c ? INT32_MAX : c + th;
    }
    cand = json_array_get(json_object_get(root, "candidates"), 0);
    block = json_string_value(json_object_get(json_object_get(root, "promptFeedback"),
                                              "blockReason"));
    if (!json_is_object(cand)) {
        if (block) {
            char msg[80], detail[160];
            worker_mask_secrets(msg, sizeof(msg), block, 64);
            snprintf(detail, sizeof(detail), "The provider refused the prompt (blocked: %s).",
                     msg);
            worker_result_clear(&s->fail);
            worker_result_fail(&s->fail, "invalid_request_error", "content_filter", detail, 400,
                               0);
            s->failed = s->ended = 1;
        }
        return;
    }
    json_array_foreach(json_object_get(json_object_get(cand, "content"), "parts"), i, part) {
        json_t *fc = json_object_get(part, "functionCall");
        if (s->ended)
            return;
        if (json_is_true(json_object_get(part, "thought")))
            continue;
        v = json_object_get(part, "text");
        if (json_is_string(v)) {
            emit(s, json_string_value(v), json_string_length(v));
        } else if (json_is_object(fc)) {
            json_t *args = json_object_get(fc, "args");
            const char *id = json_string_value(json_object_get(fc, "id"));
            char idbuf[32], *a;
            tool_acc_t *t = tool_add(s, (long)s->n_tools);
            if (!t)
                return;
            if (!id) {
                snprintf(idbuf, sizeof(idbuf), "call_%zu", s->n_tools - 1);
                id = idbuf;
            }
            tool_set(s, &t->id, id, 1);
            tool_set(s, &t->name, json_string_value(json_object_get(fc, "name")), 1);
            a = args ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            tool_args(s, t, a ? a : "{}");
            free(a);
        }
    }
    v = json_object_get(cand, "finishReason");
    if (json_is_string(v) && !s->ended) {
        /* the last chunk; the connection closes after it */
        if (set_str(&s->gemini_finish, json_string_value(v)))
            fail_nomem(s);
        s->completed = 1;
    }
}

/* ---- feeding ---- */

static int on_event(void *arg, const char *event, const char *data, size_t len)
{
    worker_stream_t *s = arg;
    json_error_t jerr;
    json_t *root;

    if (s->ended)
        return 1;
    if (s->wire == WORKER_WIRE_OPENAI && len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        s->completed = s->ended = 1;
        return 1;
    }
    root = json_loadb(data, len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        fail_bad(s, "The provider's stream carried an event that is not a JSON object.");
        return 1;
    }
    switch (s->wire) {
    case WORKER_WIRE_ANTHROPIC:
        anthropic_event(s, event, root);
        break;
    case WORKER_WIRE_GEMINI:
        gemini_event(s, root);
        break;
    case WORKER_WIRE_OPENAI:
        openai_event(s, event, root);
        break;
    }
    json_decref(root);
    return s->ended;
}

int worker_stream_feed(worker_stream_t *s, const char *data, size_t len, worker_delta_cb cb,
                       void *arg)
{
    int rc;

    if (s->ended)
        return 1;
    s->cb = cb;
    s->arg = arg;
    rc = worker_sse_feed(s->sse, data, len, on_event, s);
    if (rc == WORKER_SSE_TOO_LARGE && !s->ended)
        fail_bad(s, "The provider's stream carried an event over 1 MiB.");
    else if (rc == WORKER_SSE_NOMEM && !s->ended)
        fail_nomem(s);
    s->cb = NULL;
    s->arg = NULL;
    return s->ended;
}

/* The tool calls as {"tool_calls":[...]} text; NULL when out of memory. */
static char *tool_calls_json(const worker_stream_t *s)
{
    json_t *calls = json_array(), *root = NULL;
    char *text = NULL;
    size_t i;

    if (!calls)
        return NULL;
    for (i = 0; i < s->n_tools; i++) {
        const tool_acc_t *t = &s->tools[i];
        json_t *tc = worker_tool_call_new(t->id, t->name, t->args.len ? t->args.p : "{}");
        if (!tc || json_array_append_new(calls, tc))
            goto out;
    }
    root = json_pack("{s:O}", "tool_calls", calls);
    if (root)
        text = json_dumps(root, JSON_COMPACT);
out:
    json_decref(root);
    json_decref(calls);
    return text;
}

void worker_stream_finish(worker_stream_t *s, worker_result_t *out)
{
    const char *finish;

    memset(out, 0, sizeof(*out));
    if (s->failed) {
        worker_result_fail(out, s->fail.err_type ? s->fail.err_type : "provider_error",
                           s->fail.err_code,
                           s->fail.err_message ? s->fail.err_message : "stream failed",
                           s->fail.http_status ? s->fail.http_status : 502, s->fail.retriable);
        out->retry_after_ms = s->fail.retry_after_ms;
        goto check;
    }
    if (!s->completed) {
        char detail[160];
        snprintf(detail, sizeof(detail),
                 "The provider's stream ended before its end marker (after %zu bytes of text).",
                 s->emitted);
        worker_result_fail(out, "provider_error", "stream_interrupted", detail, 502, 1);
        goto check;
    }
    out->ok = 1;
    if (s->text.len || !s->n_tools) {
        out->content = strdup(s->text.len ? s->text.p : "");
        if (!out->content)
            goto nomem;
    }
    if (s->wire == WORKER_WIRE_GEMINI)
        finish = worker_gemini_finish_reason(s->gemini_finish, s->n_tools > 0);
    else
        finish = s->finish ? s->finish : s->n_tools ? "tool_calls" : "stop";
    out->finish_reason = strdup(finish);
    if (!out->finish_reason)
        goto nomem;
    if (s->model && !(out->provider_model = strdup(s->model)))
        goto nomem;
    if (s->n_tools && !(out->extra_json = tool_calls_json(s)))
        goto nomem;
    if (s->response_extra &&
        !(out->response_extra_json = json_dumps(s->response_extra, JSON_COMPACT)))
        goto nomem;
    out->prompt_tokens = s->prompt_tokens;
    out->completion_tokens = s->completion_tokens;
    return;
check:
    if (out->err_type && out->err_message)
        return;
nomem:
    worker_result_clear(out);
    out->ok = 0;
    out->err_type = NULL;
    worker_result_fail(out, "server_error", "out_of_memory", "out of memory", 500, 1);
}

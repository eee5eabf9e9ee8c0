/* The Anthropic wire: the Messages API. The canonical (OpenAI-shaped) request as a Messages
 * request, and a Messages answer, error or stream event as a worker_result_t. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "workers/provider_adapter.h"

#define ANTHROPIC_VERSION            "2023-06-01"
#define ANTHROPIC_DEFAULT_MAX_TOKENS 4096

/* ---- request ---- */

/* An image_url part as an Anthropic image block (new reference), or NULL. */
static json_t *image_block(const char *url, const char *media_type, size_t media_type_len,
                           const char *data)
{
    if (media_type)
        return json_pack("{s:s, s:{s:s, s:s%, s:s}}", "type", "image", "source", "type", "base64",
                         "media_type", media_type, media_type_len, "data", data);
    return json_pack("{s:s, s:{s:s, s:s}}", "type", "image", "source", "type", "url", "url", url);
}

static json_t *text_block(const char *text)
{
    return json_pack("{s:s, s:s}", "type", "text", "text", text);
}

static json_t *tool_use_block(const char *id, const char *name, json_t *input)
{
    return json_pack("{s:s, s:s, s:s, s:o}", "type", "tool_use", "id", id ? id : "", "name", name,
                     "input", input);
}

/* A tool message as a tool_result block; 0 or -1. */
static int tool_result_block(const lq_chat_request_t *req, size_t idx, json_t *blocks)
{
    const lq_message_t *m = &req->messages[idx];
    json_t *extra = worker_json_object_load(m->extra_json);
    const char *id = json_string_value(json_object_get(extra, "tool_call_id"));
    int rc = json_array_append_new(blocks,
                                   json_pack("{s:s, s:s, s:s}", "type", "tool_result",
                                             "tool_use_id", id ? id : "", "content", m->content));

    json_decref(extra);
    return rc;
}

static const worker_turn_format_t anthropic_turns = {
    .assistant_role = "assistant",
    .blocks_key = "content",
    .text = text_block,
    .image = image_block,
    .keep_other_parts = 1, /* already Anthropic's shape, or refused there */
    .tool_call = tool_use_block,
    .tool_result = tool_result_block,
};

/* The messages array (consecutive turns of one role merged: the API wants alternation). */
static json_t *messages(const lq_chat_request_t *req, char **sys)
{
    json_t *msgs = worker_turns(req, &anthropic_turns, sys), *last;
    size_t i;

    /* a lone text block reads better as a plain string */
    json_array_foreach(msgs, i, last)
    {
        json_t *c = json_object_get(last, "content");
        json_t *b0 = json_array_get(c, 0);
        const char *bt = json_string_value(json_object_get(b0, "type"));
        if (json_array_size(c) == 1 && bt && strcmp(bt, "text") == 0)
            json_object_set(last, "content", json_object_get(b0, "text"));
        else if (json_array_size(c) == 0)
            json_object_set_new(last, "content", json_string(""));
    }
    return msgs;
}

/* OpenAI tool_choice (and parallel_tool_calls) as Anthropic's tool_choice, or NULL. */
static json_t *tool_choice(json_t *extra)
{
    json_t *out = NULL;
    const char *name;

    switch (worker_tool_choice(extra, &name)) {
    case WORKER_TOOL_CHOICE_AUTO:
        out = json_pack("{s:s}", "type", "auto");
        break;
    case WORKER_TOOL_CHOICE_REQUIRED:
        out = json_pack("{s:s}", "type", "any");
        break;
    case WORKER_TOOL_CHOICE_NONE:
        out = json_pack("{s:s}", "type", "none");
        break;
    case WORKER_TOOL_CHOICE_NAMED:
        out = json_pack("{s:s, s:s}", "type", "tool", "name", name);
        break;
    case WORKER_TOOL_CHOICE_UNSET:
        break;
    }
    if (json_is_false(json_object_get(extra, "parallel_tool_calls"))) {
        if (!out)
            out = json_pack("{s:s}", "type", "auto");
        if (out && strcmp(json_string_value(json_object_get(out, "type")), "none") != 0)
            json_object_set_new(out, "disable_parallel_tool_use", json_true());
    }
    return out;
}

static char *anthropic_body(const lq_chat_request_t *req, const worker_target_t *t, int stream)
{
    json_t *root = json_object(), *extra = worker_json_object_load(req->extra_json), *v;
    char *sys = NULL, *out = NULL;
    json_int_t max_tokens = ANTHROPIC_DEFAULT_MAX_TOKENS;

    if (!root || json_object_set_new(root, "model", json_string(t->model)))
        goto out;
    v = messages(req, &sys);
    if (!v || json_object_set_new(root, "messages", v))
        goto out;
    if (sys && json_object_set_new(root, "system", json_string(sys)))
        goto out;
    if (req->has_max_tokens)
        max_tokens = req->max_tokens;
    else if (json_is_integer(json_object_get(extra, "max_completion_tokens")))
        max_tokens = json_integer_value(json_object_get(extra, "max_completion_tokens"));
    else if (t->default_max_tokens > 0)
        max_tokens = t->default_max_tokens;
    if (json_object_set_new(root, "max_tokens", json_integer(max_tokens)))
        goto out;
    if (worker_json_set_sampling(root, req, "top_p", "stop_sequences"))
        goto out;
    if ((v = worker_tool_declarations(extra, "input_schema", 1)) != NULL &&
        json_object_set_new(root, "tools", v))
        goto out;
    if ((v = tool_choice(extra)) != NULL && json_object_set_new(root, "tool_choice", v))
        goto out;
    if (req->user)
        json_object_set_new(root, "metadata", json_pack("{s:s}", "user_id", req->user));
    /* Anthropic's own parameters a client may pass; anything else would be refused */
    if (json_is_integer(json_object_get(extra, "top_k")))
        json_object_set(root, "top_k", json_object_get(extra, "top_k"));
    if (json_is_object(json_object_get(extra, "thinking")))
        json_object_set(root, "thinking", json_object_get(extra, "thinking"));
    if (stream && json_object_set_new(root, "stream", json_true()))
        goto out;
    out = json_dumps(root, JSON_COMPACT);
out:
    free(sys);
    json_decref(extra);
    json_decref(root);
    return out;
}

static int build_request(const lq_chat_request_t *req, const worker_target_t *t, int stream,
                         worker_http_request_t *out)
{
    memset(out, 0, sizeof(*out));
    out->body = anthropic_body(req, t, stream);
    if (!out->body || worker_http_request_set_url(out, t->base_url, "/messages", NULL) ||
        worker_http_request_add_header(out, "content-type", "application/json") ||
        worker_http_request_add_header(out, "anthropic-version", ANTHROPIC_VERSION) ||
        worker_http_request_add_rest(out, t, stream, "x-api-key", "")) {
        worker_http_request_clear(out);
        return -1;
    }
    return 0;
}

/* ---- answer ---- */

static const char *finish_reason(const char *r)
{
    if (!r)
        return "stop";
    if (strcmp(r, "max_tokens") == 0 || strcmp(r, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp(r, "tool_use") == 0)
        return "tool_calls";
    if (strcmp(r, "refusal") == 0)
        return "content_filter";
    return "stop"; /* end_turn, stop_sequence, pause_turn, and whatever comes next */
}

static void fail_error(worker_result_t *out, long http_status, json_t *error,
                       const char *retry_after)
{
    static const worker_status_map_t map[] = {
        {"invalid_request_error", 400}, {"authentication_error", 401},
        {"billing_error", 402},         {"permission_error", 403},
        {"not_found_error", 404},       {"request_too_large", 413},
        {"rate_limit_error", 429},      {"api_error", 500},
        {"timeout_error", 504},         {"overloaded_error", 529}};
    const char *type = json_string_value(json_object_get(error, "type"));
    const char *message = json_string_value(json_object_get(error, "message"));

    if (!message && json_is_string(error))
        message = json_string_value(error);
    if (http_status == 0)
        http_status = worker_status_lookup(map, sizeof(map) / sizeof(map[0]), type, 502);
    worker_fail_http(out, http_status, type, message, type && strcmp(type, "overloaded_error") == 0,
                     retry_after);
}

/* The content blocks of a message: text and tool_use; 0 or -1 (out of memory). */
static int read_blocks(json_t *content, worker_blocks_t *b)
{
    json_t *block;
    size_t i;

    json_array_foreach(content, i, block)
    {
        const char *type = json_string_value(json_object_get(block, "type"));
        int rc = 0;
        if (type && strcmp(type, "text") == 0)
            rc = worker_blocks_text(b, json_string_value(json_object_get(block, "text")));
        else if (type && strcmp(type, "tool_use") == 0)
            rc = worker_tool_calls_add(&b->calls, json_string_value(json_object_get(block, "id")),
                                       json_string_value(json_object_get(block, "name")),
                                       json_object_get(block, "input"));
        if (rc)
            return -1;
    }
    return 0;
}

static void parse_response(long http_status, const char *body, size_t len, const char *retry_after,
                           const char *transport_error, int transport_timeout, worker_result_t *out)
{
    worker_blocks_t b = {0};
    json_t *root, *content, *usage, *v;
    const char *finish;

    if (worker_parse_begin(http_status, body, len, retry_after, transport_error, transport_timeout,
                           0, 1, fail_error, &root, &root, out))
        goto out;
    content = json_object_get(root, "content");
    if (!json_is_array(content)) {
        worker_fail_bad_answer(out, "The provider's answer was not a Messages API message.");
        goto out;
    }
    if (read_blocks(content, &b))
        goto nomem;
    v = json_object_get(root, "stop_reason");
    finish = json_is_string(v) ? finish_reason(json_string_value(v))
             : b.calls         ? "tool_calls"
                               : "stop";
    if (worker_blocks_result(&b, finish, out))
        goto nomem;
    v = json_object_get(root, "model");
    out->provider_model = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
    usage = json_object_get(root, "usage");
    out->prompt_tokens = worker_json_tokens(json_object_get(usage, "input_tokens"));
    out->completion_tokens = worker_json_tokens(json_object_get(usage, "output_tokens"));
    goto out;
nomem:
    worker_fail_nomem(out);
out:
    worker_blocks_clear(&b);
    json_decref(root);
}

/* ---- stream: Messages events ---- */

static void stream_message_start(worker_stream_acc_t *s, json_t *root)
{
    json_t *msg = json_object_get(root, "message");
    json_t *usage = json_object_get(msg, "usage");

    worker_acc_model(s, json_object_get(msg, "model"));
    s->prompt_tokens = worker_json_tokens(json_object_get(usage, "input_tokens"));
    s->completion_tokens = worker_json_tokens(json_object_get(usage, "output_tokens"));
}

static void stream_emit_text(worker_stream_acc_t *s, json_t *v)
{
    if (json_is_string(v))
        worker_acc_emit(s, json_string_value(v), json_string_length(v));
}

/* The content block an event is about. */
static long block_index(json_t *root)
{
    return (long)json_integer_value(json_object_get(root, "index"));
}

/* A tool_use block starts: its id and name. */
static void stream_tool_start(worker_stream_acc_t *s, long key, json_t *block)
{
    worker_tool_acc_t *t = worker_acc_tool_find(s, key);

    if (!t && !(t = worker_acc_tool_add(s, key)))
        return;
    worker_acc_tool_set(s, &t->id, json_string_value(json_object_get(block, "id")), 1);
    worker_acc_tool_set(s, &t->name, json_string_value(json_object_get(block, "name")), 1);
}

static void stream_block_start(worker_stream_acc_t *s, json_t *root)
{
    json_t *block = json_object_get(root, "content_block");
    const char *bt = json_string_value(json_object_get(block, "type"));

    if (bt && strcmp(bt, "tool_use") == 0)
        stream_tool_start(s, block_index(root), block);
    else if (bt && strcmp(bt, "text") == 0)
        stream_emit_text(s, json_object_get(block, "text"));
}

/* A piece of a tool_use block's input (JSON text). */
static void stream_tool_input(worker_stream_acc_t *s, long key, json_t *delta)
{
    worker_tool_acc_t *t = worker_acc_tool_find(s, key);

    if (t)
        worker_acc_tool_args(s, t, json_string_value(json_object_get(delta, "partial_json")));
}

/* text_delta and input_json_delta; thinking_delta, signature_delta, ...: not part of the
 * answer text */
static void stream_block_delta(worker_stream_acc_t *s, json_t *root)
{
    json_t *d = json_object_get(root, "delta");
    const char *dt = json_string_value(json_object_get(d, "type"));

    if (dt && strcmp(dt, "text_delta") == 0)
        stream_emit_text(s, json_object_get(d, "text"));
    else if (dt && strcmp(dt, "input_json_delta") == 0)
        stream_tool_input(s, block_index(root), d);
}

static void stream_message_delta(worker_stream_acc_t *s, json_t *root)
{
    json_t *v = json_object_get(json_object_get(root, "delta"), "stop_reason");
    json_t *usage = json_object_get(root, "usage");

    if (json_is_string(v))
        worker_acc_set(s, &s->finish, finish_reason(json_string_value(v)));
    /* cumulative counts: the last one stands */
    if (json_is_integer(json_object_get(usage, "output_tokens")))
        s->completion_tokens = worker_json_tokens(json_object_get(usage, "output_tokens"));
    if (json_is_integer(json_object_get(usage, "input_tokens")))
        s->prompt_tokens = worker_json_tokens(json_object_get(usage, "input_tokens"));
}

static void stream_message_stop(worker_stream_acc_t *s, json_t *root)
{
    (void)root;
    s->completed = s->ended = 1;
}

static void stream_error(worker_stream_acc_t *s, json_t *root)
{
    fail_error(worker_acc_error(s), 0, json_object_get(root, "error"), NULL);
}

static const struct {
    const char *type;
    void (*handle)(worker_stream_acc_t *s, json_t *root);
} stream_events[] = {
    {"message_start", stream_message_start},     {"content_block_start", stream_block_start},
    {"content_block_delta", stream_block_delta}, {"message_delta", stream_message_delta},
    {"message_stop", stream_message_stop},       {"error", stream_error},
};

static void stream_event(worker_stream_acc_t *s, const char *event, json_t *root)
{
    const char *type = json_string_value(json_object_get(root, "type"));
    size_t i;

    if (!type)
        type = event;
    for (i = 0; i < sizeof(stream_events) / sizeof(stream_events[0]); i++)
        if (strcmp(type, stream_events[i].type) == 0) {
            stream_events[i].handle(s, root);
            return;
        }
    /* ping, content_block_stop, and event types yet to come: nothing to do */
}

const worker_wire_ops_t worker_wire_anthropic = {
    .name = "anthropic",
    .build_request = build_request,
    .parse_response = parse_response,
    .stream_end_data = NULL,
    .stream_event = stream_event,
    .stream_finish_reason = NULL,
};

/* Anthropic's Messages API: the canonical (OpenAI-shaped) request as a Messages request, and
 * a Messages answer or error as a worker_result_t. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "workers/provider.h"

#define ANTHROPIC_VERSION "2023-06-01"
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
    int rc = json_array_append_new(blocks, json_pack("{s:s, s:s, s:s}", "type", "tool_result",
                                                     "tool_use_id", id ? id : "", "content",
                                                     m->content));

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
    json_array_foreach(msgs, i, last) {
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
    if ((v = worker_tool_declarations(extra, "input_schema", 1)) != NULL && json_object_set_new(root, "tools", v))
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

int worker_anthropic_build_request(const lq_chat_request_t *req, const worker_target_t *t,
                                   int stream, worker_http_request_t *out)
{
    memset(out, 0, sizeof(*out));
    out->body = anthropic_body(req, t, stream);
    if (!out->body || worker_http_request_set_url(out, t->base_url, "/messages", NULL) ||
        worker_http_request_add_header(out, "content-type", "application/json") ||
        worker_http_request_add_header(out, "anthropic-version", ANTHROPIC_VERSION) ||
        worker_http_request_add_rest(out, t, stream, "x-api-key"))
        goto fail;
    return 0;
fail:
    worker_http_request_clear(out);
    return -1;
}

/* ---- answer ---- */

const char *worker_anthropic_finish_reason(const char *r)
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

void worker_anthropic_fail_error(worker_result_t *out, long http_status, json_t *error,
                                 const char *retry_after)
{
    static const worker_status_map_t map[] = {{"invalid_request_error", 400}, {"authentication_error", 401},
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
    worker_fail_http(out, http_status, type, message,
                     type && strcmp(type, "overloaded_error") == 0, retry_after);
}

void worker_anthropic_parse_response(long http_status, const char *body, size_t len,
                                     const char *retry_after, const char *transport_error,
                                     int transport_timeout, worker_result_t *out)
{
    json_t *root, *content, *block, *calls = NULL, *usage, *v;
    char *text = NULL;
    size_t i, tl = 0;
    int any_text = 0;

    if (worker_parse_begin(http_status, body, len, retry_after, transport_error,
                           transport_timeout, 0, 1, worker_anthropic_fail_error, &root, &root,
                           out))
        goto out;
    content = json_object_get(root, "content");
    if (!json_is_array(content)) {
        worker_fail_bad_answer(out, "The provider's answer was not a Messages API message.");
        goto out;
    }
    text = calloc(1, 1);
    if (!text)
        goto nomem;
    json_array_foreach(content, i, block) {
        const char *type = json_string_value(json_object_get(block, "type"));
        if (!type)
            continue;
        if (strcmp(type, "text") == 0) {
            if (worker_text_append(&text, &tl, json_string_value(json_object_get(block, "text"))))
                goto nomem;
            any_text = 1;
        } else if (strcmp(type, "tool_use") == 0) {
            if (worker_tool_calls_add(&calls, json_string_value(json_object_get(block, "id")),
                                      json_string_value(json_object_get(block, "name")),
                                      json_object_get(block, "input")))
                goto nomem;
        }
    }
    out->ok = 1;
    if (any_text || !calls) {
        out->content = text;
        text = NULL;
    }
    v = json_object_get(root, "stop_reason");
    out->finish_reason = strdup(json_is_string(v) ? worker_anthropic_finish_reason(json_string_value(v))
                                                  : calls ? "tool_calls" : "stop");
    v = json_object_get(root, "model");
    out->provider_model = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
    usage = json_object_get(root, "usage");
    out->prompt_tokens = worker_json_tokens(json_object_get(usage, "input_tokens"));
    out->completion_tokens = worker_json_tokens(json_object_get(usage, "output_tokens"));
    if ((calls && worker_result_set_tool_calls(out, calls)) || !out->finish_reason)
        goto nomem;
    goto out;
nomem:
    worker_fail_nomem(out);
out:
    free(text);
    json_decref(calls);
    json_decref(root);
}

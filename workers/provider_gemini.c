/* The Gemini wire: Google's generateContent / streamGenerateContent. The canonical request as
 * a GenerateContentRequest, and a GenerateContentResponse, error or stream chunk as a
 * worker_result_t. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "workers/provider_adapter.h"

/* ---- request ---- */

/* An image_url part as a Gemini part (new reference), or NULL. */
static json_t *image_part(const char *url, const char *media_type, size_t media_type_len,
                          const char *data)
{
    if (media_type)
        return json_pack("{s:{s:s%, s:s}}", "inlineData", "mimeType", media_type, media_type_len,
                         "data", data);
    return json_pack("{s:{s:s}}", "fileData", "fileUri", url);
}

static json_t *text_part(const char *text)
{
    return json_pack("{s:s}", "text", text);
}

static json_t *function_call_part(const char *id, const char *name, json_t *args)
{
    (void)id;
    return json_pack("{s:{s:s, s:o}}", "functionCall", "name", name, "args", args);
}

/* The function name of tool call id among the messages before index upto, or NULL. */
static char *tool_name(const lq_chat_request_t *req, size_t upto, const char *id)
{
    char *name = NULL;
    size_t i, j;

    for (i = upto; i-- > 0 && !name;) {
        json_t *extra, *tc;
        if (strcmp(req->messages[i].role, "assistant") != 0 || !req->messages[i].extra_json)
            continue;
        extra = worker_json_object_load(req->messages[i].extra_json);
        json_array_foreach(json_object_get(extra, "tool_calls"), j, tc)
        {
            const char *tid = json_string_value(json_object_get(tc, "id"));
            const char *n =
                json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
            if (tid && n && strcmp(tid, id) == 0) {
                name = strdup(n);
                break;
            }
        }
        json_decref(extra);
    }
    return name;
}

/* A tool message as a functionResponse part; 0 or -1. */
static int function_response_part(const lq_chat_request_t *req, size_t idx, json_t *out)
{
    const lq_message_t *m = &req->messages[idx];
    json_t *extra = worker_json_object_load(m->extra_json), *resp;
    const char *id = json_string_value(json_object_get(extra, "tool_call_id"));
    char *name = id ? tool_name(req, idx, id) : NULL;
    const char *n = name ? name : json_string_value(json_object_get(extra, "name"));
    json_error_t jerr;
    int rc;

    resp = json_loads(m->content, 0, &jerr);
    if (!json_is_object(resp)) { /* Gemini wants an object */
        json_decref(resp);
        resp = json_pack("{s:s}", "content", m->content);
    }
    rc = json_array_append_new(out,
                               json_pack("{s:{s:s, s:o}}", "functionResponse", "name",
                                         n ? n : (m->name ? m->name : "tool"), "response", resp));
    free(name);
    json_decref(extra);
    return rc;
}

static const worker_turn_format_t gemini_turns = {
    .assistant_role = "model",
    .blocks_key = "parts",
    .text = text_part,
    .image = image_part,
    .keep_other_parts = 0,
    .tool_call = function_call_part,
    .tool_result = function_response_part,
};

/* contents[]: roles user and model, consecutive turns of one role merged. */
static json_t *contents(const lq_chat_request_t *req, char **sys)
{
    json_t *out = worker_turns(req, &gemini_turns, sys), *turn;
    size_t i;

    json_array_foreach(out, i, turn)
    { /* a turn needs at least one part */
        json_t *p = json_object_get(turn, "parts");
        if (json_array_size(p) == 0 && json_array_append_new(p, json_pack("{s:s}", "text", ""))) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static json_t *tools(json_t *extra)
{
    json_t *decls = worker_tool_declarations(extra, "parameters", 0);

    return decls ? json_pack("[{s:o}]", "functionDeclarations", decls) : NULL;
}

static json_t *tool_config(json_t *extra)
{
    const char *name;

    switch (worker_tool_choice(extra, &name)) {
    case WORKER_TOOL_CHOICE_AUTO:
        return json_pack("{s:{s:s}}", "functionCallingConfig", "mode", "AUTO");
    case WORKER_TOOL_CHOICE_REQUIRED:
        return json_pack("{s:{s:s}}", "functionCallingConfig", "mode", "ANY");
    case WORKER_TOOL_CHOICE_NONE:
        return json_pack("{s:{s:s}}", "functionCallingConfig", "mode", "NONE");
    case WORKER_TOOL_CHOICE_NAMED:
        return json_pack("{s:{s:s, s:[s]}}", "functionCallingConfig", "mode", "ANY",
                         "allowedFunctionNames", name);
    case WORKER_TOOL_CHOICE_UNSET:
        break;
    }
    return NULL;
}

static char *gemini_body(const lq_chat_request_t *req, const worker_target_t *t)
{
    json_t *root = json_object(), *extra = worker_json_object_load(req->extra_json), *v;
    json_t *gc = json_object();
    char *sys = NULL, *out = NULL;

    (void)t;
    if (!root || !gc)
        goto out;
    v = contents(req, &sys);
    if (!v || json_object_set_new(root, "contents", v))
        goto out;
    if (sys && json_object_set_new(root, "systemInstruction",
                                   json_pack("{s:[{s:s}]}", "parts", "text", sys)))
        goto out;
    if (req->has_max_tokens)
        json_object_set_new(gc, "maxOutputTokens", json_integer(req->max_tokens));
    else if (json_is_integer(json_object_get(extra, "max_completion_tokens")))
        json_object_set(gc, "maxOutputTokens", json_object_get(extra, "max_completion_tokens"));
    if (worker_json_set_sampling(gc, req, "topP", "stopSequences"))
        goto out;
    if (json_object_size(gc) && json_object_set(root, "generationConfig", gc))
        goto out;
    if ((v = tools(extra)) != NULL && json_object_set_new(root, "tools", v))
        goto out;
    if ((v = tool_config(extra)) != NULL && json_object_set_new(root, "toolConfig", v))
        goto out;
    out = json_dumps(root, JSON_COMPACT);
out:
    free(sys);
    json_decref(gc);
    json_decref(extra);
    json_decref(root);
    return out;
}

/* model percent-encoded for a URL path segment (a leading "models/" dropped); NULL when out
 * of memory. */
static char *model_segment(const char *model)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n, o = 0;
    char *s;

    if (strncmp(model, "models/", 7) == 0)
        model += 7;
    n = strlen(model);
    s = malloc(n * 3 + 1);
    if (!s)
        return NULL;
    for (; *model; model++) {
        unsigned char c = (unsigned char)*model;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_') {
            s[o++] = (char)c;
        } else {
            s[o++] = '%';
            s[o++] = hex[c >> 4];
            s[o++] = hex[c & 15];
        }
    }
    s[o] = '\0';
    return s;
}

static int build_request(const lq_chat_request_t *req, const worker_target_t *t, int stream,
                         worker_http_request_t *out)
{
    char *seg = NULL, *path = NULL;
    size_t n;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    out->body = gemini_body(req, t);
    seg = model_segment(t->model);
    if (!out->body || !seg)
        goto out;
    n = strlen(seg) + 48;
    path = malloc(n);
    if (!path)
        goto out;
    /* the key goes in a header, never in the URL (URLs end up in logs) */
    snprintf(path, n, "/models/%s:%s", seg,
             stream ? "streamGenerateContent?alt=sse" : "generateContent");
    if (worker_http_request_set_url(out, t->base_url, path, NULL) ||
        worker_http_request_add_header(out, "Content-Type", "application/json") ||
        worker_http_request_add_rest(out, t, stream, "x-goog-api-key", ""))
        goto out;
    rc = 0;
out:
    free(seg);
    free(path);
    if (rc)
        worker_http_request_clear(out);
    return rc;
}

/* ---- answer ---- */

static const char *finish_reason(const char *r, int has_tool_calls)
{
    static const char *const filtered[] = {
        "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"};
    size_t i;

    if (r && strcmp(r, "MAX_TOKENS") == 0)
        return "length";
    for (i = 0; r && i < sizeof(filtered) / sizeof(filtered[0]); i++)
        if (strcmp(r, filtered[i]) == 0)
            return "content_filter";
    return has_tool_calls ? "tool_calls" : "stop";
}

/* 1 when a Gemini 400 is really a bad key (API_KEY_INVALID in details[].reason). */
static int key_invalid(json_t *error)
{
    json_t *d;
    size_t i;

    json_array_foreach(json_object_get(error, "details"), i, d)
    {
        const char *r = json_string_value(json_object_get(d, "reason"));
        if (r && strcmp(r, "API_KEY_INVALID") == 0)
            return 1;
    }
    return 0;
}

static void fail_error(worker_result_t *out, long http_status, json_t *error,
                       const char *retry_after)
{
    static const worker_status_map_t map[] = {
        {"INVALID_ARGUMENT", 400},   {"FAILED_PRECONDITION", 400},
        {"OUT_OF_RANGE", 400},       {"UNAUTHENTICATED", 401},
        {"PERMISSION_DENIED", 403},  {"NOT_FOUND", 404},
        {"RESOURCE_EXHAUSTED", 429}, {"INTERNAL", 500},
        {"UNAVAILABLE", 503},        {"DEADLINE_EXCEEDED", 504}};
    const char *status = json_string_value(json_object_get(error, "status"));
    const char *message = json_string_value(json_object_get(error, "message"));
    json_int_t code = json_integer_value(json_object_get(error, "code"));

    if (http_status == 0)
        http_status = code >= 400 && code <= 599
                          ? (long)code
                          : worker_status_lookup(map, sizeof(map) / sizeof(map[0]), status, 502);
    if (http_status == 400 && key_invalid(error))
        http_status = 401; /* "API key not valid" comes as a 400 */
    worker_fail_http(out, http_status, status, message, 0, retry_after);
}

/* The prompt's block reason when the answer has no candidate, or NULL. */
static const char *block_reason(json_t *root)
{
    return json_string_value(
        json_object_get(json_object_get(root, "promptFeedback"), "blockReason"));
}

/* Prompt and completion tokens (thinking tokens are billed as output, as OpenAI counts
 * reasoning in completion_tokens). */
static void read_usage(json_t *usage, int32_t *prompt, int32_t *completion)
{
    *prompt = worker_json_tokens(json_object_get(usage, "promptTokenCount"));
    *completion =
        worker_tokens_add(worker_json_tokens(json_object_get(usage, "candidatesTokenCount")),
                          worker_json_tokens(json_object_get(usage, "thoughtsTokenCount")));
}

/* A functionCall's id, or one made up from its position (Gemini may send none). */
static const char *call_id(json_t *fc, size_t position, char *buf, size_t size)
{
    const char *id = json_string_value(json_object_get(fc, "id"));

    if (id)
        return id;
    snprintf(buf, size, "call_%zu", position);
    return buf;
}

/* A candidate's parts: text and functionCall (thought summaries are not the answer); 0 or
 * -1 (out of memory). */
static int read_parts(json_t *cand, worker_blocks_t *b)
{
    json_t *part;
    size_t i;

    json_array_foreach(json_object_get(json_object_get(cand, "content"), "parts"), i, part)
    {
        json_t *fc = json_object_get(part, "functionCall");
        const char *t = json_string_value(json_object_get(part, "text"));
        char idbuf[32];
        int rc = 0;
        if (json_is_true(json_object_get(part, "thought")))
            continue;
        if (t)
            rc = worker_blocks_text(b, t);
        else if (json_is_object(fc))
            rc = worker_tool_calls_add(
                &b->calls,
                call_id(fc, b->calls ? json_array_size(b->calls) : 0, idbuf, sizeof(idbuf)),
                json_string_value(json_object_get(fc, "name")), json_object_get(fc, "args"));
        if (rc)
            return -1;
    }
    return 0;
}

/* A 2xx GenerateContentResponse as *out. */
static void read_answer(json_t *root, worker_result_t *out)
{
    worker_blocks_t b = {0};
    json_t *cand = json_array_get(json_object_get(root, "candidates"), 0), *v;
    const char *finish;

    if (!json_is_object(cand) && block_reason(root)) {
        worker_fail_prompt_blocked(out, block_reason(root));
        return;
    }
    if (!json_is_object(cand)) {
        worker_fail_bad_answer(out, "The provider's answer had no candidate.");
        return;
    }
    finish = NULL;
    if (read_parts(cand, &b) == 0) {
        finish = finish_reason(json_string_value(json_object_get(cand, "finishReason")),
                               b.calls != NULL);
        if (worker_blocks_result(&b, finish, out))
            finish = NULL;
    }
    worker_blocks_clear(&b);
    if (!finish) {
        worker_fail_nomem(out);
        return;
    }
    v = json_object_get(root, "modelVersion");
    out->provider_model = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
    read_usage(json_object_get(root, "usageMetadata"), &out->prompt_tokens,
               &out->completion_tokens);
}

static void parse_response(long http_status, const char *body, size_t len, const char *retry_after,
                           const char *transport_error, int transport_timeout, worker_result_t *out)
{
    json_t *doc, *root;

    /* some errors come wrapped in an array */
    if (!worker_parse_begin(http_status, body, len, retry_after, transport_error, transport_timeout,
                            1, 1, fail_error, &doc, &root, out))
        read_answer(root, out);
    json_decref(doc);
}

/* ---- stream: every event is a whole GenerateContentResponse ---- */

static void stream_function_call(worker_stream_acc_t *s, json_t *fc)
{
    json_t *args = json_object_get(fc, "args");
    worker_tool_acc_t *t = worker_acc_tool_add(s, (long)s->n_tools);
    char idbuf[32], *a;

    if (!t)
        return;
    worker_acc_tool_set(s, &t->id, call_id(fc, s->n_tools - 1, idbuf, sizeof(idbuf)), 1);
    worker_acc_tool_set(s, &t->name, json_string_value(json_object_get(fc, "name")), 1);
    a = args ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    worker_acc_tool_args(s, t, a ? a : "{}");
    free(a);
}

static void stream_parts(worker_stream_acc_t *s, json_t *cand)
{
    json_t *part, *v;
    size_t i;

    json_array_foreach(json_object_get(json_object_get(cand, "content"), "parts"), i, part)
    {
        json_t *fc = json_object_get(part, "functionCall");
        if (s->ended)
            return;
        if (json_is_true(json_object_get(part, "thought")))
            continue;
        v = json_object_get(part, "text");
        if (json_is_string(v))
            worker_acc_emit(s, json_string_value(v), json_string_length(v));
        else if (json_is_object(fc))
            stream_function_call(s, fc);
    }
}

static void stream_event(worker_stream_acc_t *s, const char *event, json_t *root)
{
    json_t *cand, *v;

    (void)event;
    if (json_is_object(json_object_get(root, "error"))) {
        fail_error(worker_acc_error(s), 0, json_object_get(root, "error"), NULL);
        return;
    }
    worker_acc_model(s, json_object_get(root, "modelVersion"));
    if (json_is_object(json_object_get(root, "usageMetadata")))
        read_usage(json_object_get(root, "usageMetadata"), &s->prompt_tokens,
                   &s->completion_tokens);
    cand = json_array_get(json_object_get(root, "candidates"), 0);
    if (!json_is_object(cand)) {
        if (block_reason(root))
            worker_fail_prompt_blocked(worker_acc_error(s), block_reason(root));
        return;
    }
    stream_parts(s, cand);
    v = json_object_get(cand, "finishReason");
    if (json_is_string(v) && !s->ended) {
        /* the last chunk; the connection closes after it */
        worker_acc_set(s, &s->raw_finish, json_string_value(v));
        s->completed = 1;
    }
}

const worker_wire_ops_t worker_wire_gemini = {
    .name = "gemini",
    .build_request = build_request,
    .parse_response = parse_response,
    .stream_end_data = NULL,
    .stream_event = stream_event,
    .stream_finish_reason = finish_reason,
};

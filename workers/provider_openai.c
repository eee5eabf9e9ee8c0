/* The OpenAI wire: Chat Completions (and the servers that speak it: OpenRouter, Perplexity,
 * vLLM, llama.cpp, Ollama): request body, answer and error translation, stream events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "workers/provider_adapter.h"

/* Perplexity's top-level answer members relayed to the client. */
static const char *const relayed_keys[] = {"citations", "search_results"};
#define N_RELAYED (sizeof(relayed_keys) / sizeof(relayed_keys[0]))

/* ---- request ---- */

/* Merge the members of a JSON object text into obj (existing keys win when keep_existing). */
static void merge_json(json_t *obj, const char *text, int keep_existing)
{
    json_t *extra = worker_json_object_load(text), *v;
    const char *k;

    if (!extra)
        return;
    json_object_foreach(extra, k, v)
    {
        if (keep_existing && json_object_get(obj, k))
            continue;
        json_object_set(obj, k, v);
    }
    json_decref(extra);
}

/* One message as the wire writes it, appended to msgs; 0 or -1. */
static int add_message(json_t *msgs, const lq_message_t *m)
{
    json_t *jm = json_object(), *content = NULL;

    if (!jm || json_array_append_new(msgs, jm))
        return -1;
    json_object_set_new(jm, "role", json_string(m->role));
    if (m->content_json) {
        json_error_t jerr;
        content = json_loads(m->content_json, 0, &jerr);
    }
    if (!content && !m->content[0] && strcmp(m->role, "assistant") == 0 && m->extra_json &&
        strstr(m->extra_json, "\"tool_calls\""))
        content = json_null(); /* an assistant turn that only called tools */
    json_object_set_new(jm, "content", content ? content : json_string(m->content));
    if (m->name)
        json_object_set_new(jm, "name", json_string(m->name));
    merge_json(jm, m->extra_json, 1);
    return 0;
}

/* The client's stream settings are replaced by the call's own; 0 or -1. */
static int set_stream(json_t *root, int stream)
{
    json_t *opts;
    int rc;

    json_object_del(root, "stream");
    json_object_del(root, "stream_options");
    if (!stream)
        return 0;
    opts = json_pack("{s:b}", "include_usage", 1);
    rc = !opts || json_object_set_new(root, "stream", json_true()) ||
         json_object_set(root, "stream_options", opts);
    json_decref(opts);
    return rc ? -1 : 0;
}

/* The body for model; stream=1 asks for server-sent events with a usage chunk at the end. */
static char *openai_body(const lq_chat_request_t *req, const char *model, int stream)
{
    json_t *root = json_object(), *msgs = json_array();
    char *out = NULL;
    size_t i;

    if (!root || !msgs || json_object_set_new(root, "model", json_string(model)))
        goto out;
    for (i = 0; i < req->n_messages; i++)
        if (add_message(msgs, &req->messages[i]))
            goto out;
    if (json_object_set(root, "messages", msgs))
        goto out;
    if (req->has_max_tokens)
        json_object_set_new(root, "max_tokens", json_integer(req->max_tokens));
    if (worker_json_set_sampling(root, req, "top_p", "stop"))
        goto out;
    if (req->user)
        json_object_set_new(root, "user", json_string(req->user));
    merge_json(root, req->extra_json, 1);
    /* newer OpenAI models take max_completion_tokens; a client that sent it gets it alone */
    if (json_object_get(root, "max_completion_tokens"))
        json_object_del(root, "max_tokens");
    if (set_stream(root, stream) == 0)
        out = json_dumps(root, JSON_COMPACT);
out:
    json_decref(root);
    json_decref(msgs);
    return out;
}

char *worker_openai_request_body(const lq_chat_request_t *req)
{
    return openai_body(req, req->model, 0);
}

static int build_request(const lq_chat_request_t *req, const worker_target_t *t, int stream,
                         worker_http_request_t *out)
{
    memset(out, 0, sizeof(*out));
    out->body = openai_body(req, t->model, stream);
    if (!out->body || worker_http_request_set_url(out, t->base_url, "/chat/completions", NULL) ||
        worker_http_request_add_header(out, "Content-Type", "application/json") ||
        (stream && worker_http_request_add_header(out, "Accept", "text/event-stream")) ||
        worker_http_request_add_rest(out, t, 0, "Authorization", "Bearer ")) {
        worker_http_request_clear(out);
        return -1;
    }
    return 0;
}

/* ---- answer ---- */

static void fail_error(worker_result_t *out, long http_status, json_t *error,
                       const char *retry_after)
{
    json_t *c = json_object_get(error, "code");
    const char *message = json_string_value(json_object_get(error, "message"));
    const char *code = json_string_value(c);
    char num[32];

    if (!message && json_is_string(error))
        message = json_string_value(error); /* {"error": "text"} from some servers */
    if (json_is_integer(c)) {               /* OpenRouter: the HTTP status as a number */
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(c));
        code = num;
        if (http_status == 0 && json_integer_value(c) >= 400 && json_integer_value(c) <= 599)
            http_status = (long)json_integer_value(c);
    }
    if (http_status == 0)
        http_status = 502;
    worker_fail_http(out, http_status, code, message, 0, retry_after);
}

/* Perplexity's top-level citations and search_results, as a JSON object text or NULL. */
static char *response_extra(json_t *root)
{
    json_t *o = NULL, *v;
    char *text = NULL;
    size_t i;

    for (i = 0; i < N_RELAYED; i++) {
        v = json_object_get(root, relayed_keys[i]);
        if (!v || json_is_null(v))
            continue;
        if (!o && !(o = json_object()))
            return NULL;
        json_object_set(o, relayed_keys[i], v);
    }
    if (o)
        text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* The reply message's members other than role and content (tool_calls, ...), or NULL. */
static char *message_extra(json_t *msg)
{
    json_t *extra = NULL, *v;
    const char *k;
    char *text;

    json_object_foreach(msg, k, v)
    {
        if (!strcmp(k, "role") || !strcmp(k, "content") || json_is_null(v))
            continue;
        if (!extra && !(extra = json_object()))
            break;
        json_object_set(extra, k, v);
    }
    if (!extra)
        return NULL;
    text = json_dumps(extra, JSON_COMPACT);
    json_decref(extra);
    return text;
}

/* A chat completion's choice and usage as *out; 0, or -1 when out of memory. */
static int read_completion(json_t *root, json_t *choice, json_t *msg, worker_result_t *out)
{
    json_t *usage = json_object_get(root, "usage"), *v;

    out->ok = 1;
    v = json_object_get(msg, "content");
    out->content = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
    if (json_is_string(v) && !out->content)
        return -1;
    v = json_object_get(choice, "finish_reason");
    out->finish_reason = strdup(json_is_string(v) ? json_string_value(v) : "stop");
    v = json_object_get(root, "model");
    out->provider_model = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
    out->prompt_tokens = worker_json_tokens(json_object_get(usage, "prompt_tokens"));
    out->completion_tokens = worker_json_tokens(json_object_get(usage, "completion_tokens"));
    out->extra_json = message_extra(msg);
    out->response_extra_json = response_extra(root);
    return out->finish_reason ? 0 : -1;
}

void worker_openai_parse_response(long http_status, const char *body, size_t len,
                                  const char *retry_after, const char *transport_error,
                                  int transport_timeout, worker_result_t *out)
{
    json_t *root, *choice, *msg;

    if (worker_parse_begin(http_status, body, len, retry_after, transport_error, transport_timeout,
                           0, 0, fail_error, &root, &root, out))
        goto out;
    choice = json_array_get(json_object_get(root, "choices"), 0);
    msg = json_object_get(choice, "message");
    if (!json_is_object(msg) && json_is_object(json_object_get(root, "error")))
        /* OpenRouter may answer 200 with an error (the upstream failed after the headers) */
        fail_error(out, 0, json_object_get(root, "error"), retry_after);
    else if (!root || !json_is_object(msg))
        worker_fail_bad_answer(out, "The provider's answer was not a chat completion.");
    else if (read_completion(root, choice, msg, out))
        worker_fail_nomem(out);
out:
    json_decref(root);
}

/* ---- stream: chat.completion.chunk events ---- */

static void stream_tool_calls(worker_stream_acc_t *s, json_t *calls)
{
    json_t *tc;
    size_t i;

    json_array_foreach(calls, i, tc)
    {
        json_t *fn = json_object_get(tc, "function"), *ix = json_object_get(tc, "index");
        long key = json_is_integer(ix) ? (long)json_integer_value(ix) : (long)i;
        worker_tool_acc_t *t;
        if (s->ended)
            return;
        t = worker_acc_tool_find(s, key);
        if (!t && !(t = worker_acc_tool_add(s, key)))
            return;
        worker_acc_tool_set(s, &t->id, json_string_value(json_object_get(tc, "id")), 0);
        worker_acc_tool_set(s, &t->name, json_string_value(json_object_get(fn, "name")), 0);
        worker_acc_tool_args(s, t, json_string_value(json_object_get(fn, "arguments")));
    }
}

/* Usage (include_usage: the last chunk, with choices: []) and Perplexity's extras. */
static void stream_tail(worker_stream_acc_t *s, json_t *root)
{
    json_t *v = json_object_get(root, "usage");
    size_t i;

    if (json_is_object(v)) {
        s->prompt_tokens = worker_json_tokens(json_object_get(v, "prompt_tokens"));
        s->completion_tokens = worker_json_tokens(json_object_get(v, "completion_tokens"));
    }
    for (i = 0; i < N_RELAYED && !s->ended; i++) {
        v = json_object_get(root, relayed_keys[i]);
        if (v && !json_is_null(v))
            worker_acc_extra(s, relayed_keys[i], v);
    }
}

static void stream_event(worker_stream_acc_t *s, const char *event, json_t *root)
{
    json_t *choice, *delta, *v;

    if (json_object_get(root, "error") && !json_is_null(json_object_get(root, "error"))) {
        fail_error(worker_acc_error(s), 0, json_object_get(root, "error"), NULL);
        return;
    }
    if (strcmp(event, "error") == 0) { /* "event: error" with the error as the body */
        fail_error(worker_acc_error(s), 0, root, NULL);
        return;
    }
    worker_acc_model(s, json_object_get(root, "model"));
    choice = json_array_get(json_object_get(root, "choices"), 0);
    delta = json_object_get(choice, "delta");
    v = json_object_get(delta, "content");
    if (json_is_string(v))
        worker_acc_emit(s, json_string_value(v), json_string_length(v));
    stream_tool_calls(s, json_object_get(delta, "tool_calls"));
    if (s->ended)
        return;
    v = json_object_get(choice, "finish_reason");
    if (json_is_string(v))
        worker_acc_set(s, &s->finish, json_string_value(v));
    stream_tail(s, root);
}

const worker_wire_ops_t worker_wire_openai = {
    .name = "openai",
    .build_request = build_request,
    .parse_response = worker_openai_parse_response,
    .stream_end_data = "[DONE]",
    .stream_event = stream_event,
    .stream_finish_reason = NULL,
};

/* OpenAI Chat Completions (and the servers that speak it: OpenRouter, Perplexity, vLLM,
 * llama.cpp, Ollama): request body and response/error translation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "workers/provider.h"

/* Merge the members of a JSON object text into obj (existing keys win when keep_existing). */
static void merge_json(json_t *obj, const char *text, int keep_existing)
{
    json_t *extra = worker_json_object_load(text), *v;
    const char *k;

    if (!extra)
        return;
    json_object_foreach(extra, k, v) {
        if (keep_existing && json_object_get(obj, k))
            continue;
        json_object_set(obj, k, v);
    }
    json_decref(extra);
}

/* The body for model; stream=1 asks for server-sent events with a usage chunk at the end. */
static char *openai_body(const lq_chat_request_t *req, const char *model, int stream)
{
    json_t *root = json_object(), *msgs = json_array(), *opts = NULL;
    char *out = NULL;
    size_t i;

    if (!root || !msgs || json_object_set_new(root, "model", json_string(model)))
        goto out;
    for (i = 0; i < req->n_messages; i++) {
        const lq_message_t *m = &req->messages[i];
        json_t *jm = json_object(), *content = NULL;
        if (!jm || json_array_append_new(msgs, jm))
            goto out;
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
    }
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
    json_object_del(root, "stream");
    json_object_del(root, "stream_options");
    if (stream) {
        opts = json_pack("{s:b}", "include_usage", 1);
        if (!opts || json_object_set_new(root, "stream", json_true()) ||
            json_object_set(root, "stream_options", opts))
            goto out;
    }
    out = json_dumps(root, JSON_COMPACT);
out:
    json_decref(root);
    json_decref(msgs);
    json_decref(opts);
    return out;
}

char *worker_openai_request_body(const lq_chat_request_t *req)
{
    return openai_body(req, req->model, 0);
}

int worker_openai_build_request(const lq_chat_request_t *req, const worker_target_t *t,
                                int stream, worker_http_request_t *out)
{
    memset(out, 0, sizeof(*out));
    out->body = openai_body(req, t->model, stream);
    if (!out->body || worker_http_request_set_url(out, t->base_url, "/chat/completions", NULL) ||
        worker_http_request_add_header(out, "Content-Type", "application/json"))
        goto fail;
    if (stream && worker_http_request_add_header(out, "Accept", "text/event-stream"))
        goto fail;
    if (t->api_key && *t->api_key) {
        size_t n = strlen(t->api_key) + 8;
        char *v = malloc(n);
        int rc;
        if (!v)
            goto fail;
        snprintf(v, n, "Bearer %s", t->api_key);
        rc = worker_http_request_add_header(out, "Authorization", v);
        free(v);
        if (rc)
            goto fail;
    }
    if (worker_http_request_add_target_headers(out, t))
        goto fail;
    return 0;
fail:
    worker_http_request_clear(out);
    return -1;
}

void worker_openai_fail_error(worker_result_t *out, long http_status, json_t *error,
                              const char *retry_after)
{
    json_t *c = json_object_get(error, "code");
    const char *message = json_string_value(json_object_get(error, "message"));
    const char *code = json_string_value(c);
    char num[32];

    if (!message && json_is_string(error))
        message = json_string_value(error); /* {"error": "text"} from some servers */
    if (json_is_integer(c)) { /* OpenRouter: the HTTP status as a number */
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
    static const char *const keys[] = {"citations", "search_results"};
    json_t *o = NULL, *v;
    char *text = NULL;
    size_t i;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        v = json_object_get(root, keys[i]);
        if (!v || json_is_null(v))
            continue;
        if (!o && !(o = json_object()))
            return NULL;
        json_object_set(o, keys[i], v);
    }
    if (o)
        text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

void worker_openai_parse_response(long http_status, const char *body, size_t len,
                                  const char *retry_after, const char *transport_error,
                                  int transport_timeout, worker_result_t *out)
{
    json_t *root, *choice, *msg, *usage, *v;
    const char *k;

    if (worker_parse_begin(http_status, body, len, retry_after, transport_error,
                           transport_timeout, 0, 0, worker_openai_fail_error, &root, &root, out)) {
        json_decref(root);
        return;
    }
    choice = json_array_get(json_object_get(root, "choices"), 0);
    msg = json_object_get(choice, "message");
    if (!json_is_object(msg) && json_is_object(json_object_get(root, "error"))) {
        /* OpenRouter may answer 200 with an error (the upstream failed after the headers) */
        worker_openai_fail_error(out, 0, json_object_get(root, "error"), retry_after);
        json_decref(root);
        return;
    }
    if (!root || !json_is_object(msg)) {
        worker_fail_bad_answer(out, "The provider's answer was not a chat completion.");
        json_decref(root);
        return;
    }
    out->ok = 1;
    v = json_object_get(msg, "content");
    out->content = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
    v = json_object_get(choice, "finish_reason");
    out->finish_reason = strdup(json_is_string(v) ? json_string_value(v) : "stop");
    v = json_object_get(root, "model");
    out->provider_model = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
    usage = json_object_get(root, "usage");
    out->prompt_tokens = worker_json_tokens(json_object_get(usage, "prompt_tokens"));
    out->completion_tokens = worker_json_tokens(json_object_get(usage, "completion_tokens"));
    {
        json_t *extra = NULL;
        json_object_foreach(msg, k, v) {
            if (!strcmp(k, "role") || !strcmp(k, "content") || json_is_null(v))
                continue;
            if (!extra && !(extra = json_object()))
                break;
            json_object_set(extra, k, v);
        }
        if (extra) {
            out->extra_json = json_dumps(extra, JSON_COMPACT);
            json_decref(extra);
        }
    }
    out->response_extra_json = response_extra(root);
    if ((json_is_string(json_object_get(msg, "content")) && !out->content) ||
        !out->finish_reason) {
        json_decref(root);
        worker_fail_nomem(out);
        return;
    }
    json_decref(root);
}

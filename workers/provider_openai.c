/* OpenAI Chat Completions (and servers that speak it): request body and response/error
 * translation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "workers/provider.h"

/* Merge the members of a JSON object text into obj (existing keys win when keep_existing). */
static void merge_json(json_t *obj, const char *text, int keep_existing)
{
    json_error_t jerr;
    json_t *extra, *v;
    const char *k;

    if (!text)
        return;
    extra = json_loads(text, 0, &jerr);
    if (!json_is_object(extra)) {
        json_decref(extra);
        return;
    }
    json_object_foreach(extra, k, v) {
        if (keep_existing && json_object_get(obj, k))
            continue;
        json_object_set(obj, k, v);
    }
    json_decref(extra);
}

char *worker_openai_request_body(const lq_chat_request_t *req)
{
    json_t *root = json_object(), *msgs = json_array();
    char *out = NULL;
    size_t i;

    if (!root || !msgs)
        goto out;
    json_object_set_new(root, "model", json_string(req->model));
    for (i = 0; i < req->n_messages; i++) {
        const lq_message_t *m = &req->messages[i];
        json_t *jm = json_object(), *content = NULL;
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
        json_array_append_new(msgs, jm);
    }
    json_object_set_new(root, "messages", msgs);
    msgs = NULL;
    if (req->has_max_tokens)
        json_object_set_new(root, "max_tokens", json_integer(req->max_tokens));
    if (req->has_temperature)
        json_object_set_new(root, "temperature", json_real(req->temperature));
    if (req->has_top_p)
        json_object_set_new(root, "top_p", json_real(req->top_p));
    if (req->n_stop) {
        json_t *stop = json_array();
        for (i = 0; i < req->n_stop; i++)
            json_array_append_new(stop, json_string(req->stop[i]));
        json_object_set_new(root, "stop", stop);
    }
    if (req->user)
        json_object_set_new(root, "user", json_string(req->user));
    merge_json(root, req->extra_json, 1);
    json_object_del(root, "stream"); /* this adapter asks for a whole response */
    json_object_del(root, "stream_options");
    out = json_dumps(root, JSON_COMPACT);
out:
    json_decref(root);
    json_decref(msgs);
    return out;
}

static int64_t parse_retry_after(const char *v)
{
    long long s;

    if (!v)
        return 0;
    s = atoll(v);
    if (s <= 0)
        return 0;
    return s > 3600 ? 3600000 : s * 1000;
}

void worker_openai_parse_response(long http_status, const char *body, size_t len,
                                  const char *retry_after, const char *transport_error,
                                  int transport_timeout, worker_result_t *out)
{
    json_error_t jerr;
    json_t *root = NULL, *choice, *msg, *usage, *v;
    const char *k;
    char detail[400];

    memset(out, 0, sizeof(*out));
    if (http_status == 0) {
        snprintf(detail, sizeof(detail), "The provider could not be reached: %s",
                 transport_error ? transport_error : "connection failed");
        worker_result_fail(out, "provider_error", transport_timeout ? "provider_timeout" : "provider_unreachable",
                           detail, transport_timeout ? 504 : 502, 1);
        return;
    }
    root = body && len ? json_loadb(body, len, 0, &jerr) : NULL;
    if (http_status < 200 || http_status >= 300) {
        json_t *err = json_object_get(root, "error");
        const char *message = json_string_value(json_object_get(err, "message"));
        const char *code = json_string_value(json_object_get(err, "code"));
        int status, retriable = 0;
        const char *type = "provider_error";

        if (!message && json_is_string(err))
            message = json_string_value(err);
        snprintf(detail, sizeof(detail), "The provider answered %ld: %s", http_status,
                 message ? message : "no error message");
        if (http_status == 429) {
            status = 429;
            type = "rate_limit_error";
            retriable = 1;
        } else if (http_status >= 500) {
            status = 502;
            retriable = 1;
        } else if (http_status == 401 || http_status == 403) {
            status = 502; /* our credentials, not the client's: never a 401 to the client */
            type = "provider_auth_error";
            code = "provider_auth_error"; /* not the provider's code: it would blame the client's key */
            snprintf(detail, sizeof(detail),
                     "The provider refused llmq's credentials (%ld); an operator must fix the "
                     "provider key.", http_status);
        } else if (http_status == 400 || http_status == 404 || http_status == 422) {
            status = (int)http_status;
            type = "invalid_request_error";
        } else {
            status = 502;
        }
        worker_result_fail(out, type, code, detail, status, retriable);
        out->retry_after_ms = parse_retry_after(retry_after);
        json_decref(root);
        return;
    }
    choice = json_array_get(json_object_get(root, "choices"), 0);
    msg = json_object_get(choice, "message");
    if (!root || !json_is_object(msg)) {
        worker_result_fail(out, "provider_error", "bad_provider_response",
                           "The provider's answer was not a chat completion.", 502, 1);
        json_decref(root);
        return;
    }
    out->ok = 1;
    v = json_object_get(msg, "content");
    out->content = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
    v = json_object_get(choice, "finish_reason");
    out->finish_reason = json_is_string(v) ? strdup(json_string_value(v)) : strdup("stop");
    v = json_object_get(root, "model");
    out->provider_model = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
    usage = json_object_get(root, "usage");
    out->prompt_tokens = (int32_t)json_integer_value(json_object_get(usage, "prompt_tokens"));
    out->completion_tokens =
        (int32_t)json_integer_value(json_object_get(usage, "completion_tokens"));
    {
        json_t *extra = NULL;
        json_object_foreach(msg, k, v) {
            if (!strcmp(k, "role") || !strcmp(k, "content") || json_is_null(v))
                continue;
            if (!extra)
                extra = json_object();
            json_object_set(extra, k, v);
        }
        if (extra) {
            out->extra_json = json_dumps(extra, JSON_COMPACT);
            json_decref(extra);
        }
    }
    json_decref(root);
}

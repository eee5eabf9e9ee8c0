#include "common/openai_json.h"

#include <stdio.h>

json_t *lq_openai_completion(const lq_chat_response_t *r)
{
    json_t *root = json_object(), *choices = json_array(), *usage = json_object();
    char id[64];
    size_t i;

    if (!root || !choices || !usage)
        goto fail;
    snprintf(id, sizeof(id), "chatcmpl-%s", r->job_id);
    json_object_set_new(root, "id", json_string(id));
    json_object_set_new(root, "object", json_string("chat.completion"));
    json_object_set_new(root, "created", json_integer(r->created_at_ms / 1000));
    json_object_set_new(root, "model", json_string(r->provider_model ? r->provider_model : r->model));
    for (i = 0; i < r->n_choices; i++) {
        const lq_choice_t *c = &r->choices[i];
        json_t *ch = json_object(), *msg = NULL;
        if (!ch)
            goto fail;
        if (c->extra_json) {
            json_error_t jerr;
            msg = json_loads(c->extra_json, 0, &jerr);
            if (msg && !json_is_object(msg)) {
                json_decref(msg);
                msg = NULL;
            }
        }
        if (!msg)
            msg = json_object();
        json_object_set_new(msg, "role", json_string(c->role ? c->role : "assistant"));
        json_object_set_new(msg, "content", c->content ? json_string(c->content) : json_null());
        json_object_set_new(ch, "index", json_integer(c->index));
        json_object_set_new(ch, "message", msg);
        json_object_set_new(ch, "logprobs", json_null());
        json_object_set_new(ch, "finish_reason",
                            c->finish_reason ? json_string(c->finish_reason) : json_null());
        json_array_append_new(choices, ch);
    }
    json_object_set_new(root, "choices", choices);
    choices = NULL;
    json_object_set_new(usage, "prompt_tokens", json_integer(r->prompt_tokens));
    json_object_set_new(usage, "completion_tokens", json_integer(r->completion_tokens));
    json_object_set_new(usage, "total_tokens",
                        json_integer((json_int_t)r->prompt_tokens + r->completion_tokens));
    json_object_set_new(root, "usage", usage);
    return root;
fail:
    json_decref(root);
    json_decref(choices);
    json_decref(usage);
    return NULL;
}

json_t *lq_openai_error(const char *message, const char *type, const char *param,
                        const char *code)
{
    return json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "message", message, "type", type,
                     "param", param ? json_string(param) : json_null(), "code",
                     code ? json_string(code) : json_null());
}

json_t *lq_openai_job_error(const lq_job_error_t *e)
{
    return json_pack("{s:s, s:s, s:n, s:o}", "message", e->message ? e->message : "",
                     "type", e->type ? e->type : "server_error", "param", "code",
                     e->code ? json_string(e->code) : json_null());
}

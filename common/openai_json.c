#include "common/openai_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lq_openai_write_completion(lq_jsonw_t *w, const lq_chat_response_t *r)
{
    char id[64];
    size_t i;

    snprintf(id, sizeof(id), "chatcmpl-%s", r->job_id);
    lq_jsonw_obj_open(w);
    lq_jsonw_kstr(w, "id", id);
    lq_jsonw_kstr(w, "object", "chat.completion");
    lq_jsonw_kint(w, "created", r->created_at_ms / 1000);
    lq_jsonw_kstr(w, "model", r->provider_model ? r->provider_model : r->model);
    lq_jsonw_key(w, "choices");
    lq_jsonw_arr_open(w);
    for (i = 0; i < r->n_choices; i++) {
        const lq_choice_t *ch = &r->choices[i];
        lq_jsonw_obj_open(w);
        lq_jsonw_kint(w, "index", ch->index);
        lq_jsonw_key(w, "message");
        lq_jsonw_obj_open(w);
        lq_jsonw_kstr(w, "role", ch->role ? ch->role : "assistant");
        lq_jsonw_kstr(w, "content", ch->content);
        if (ch->extra_json) { /* provider fields such as tool_calls: re-serialised, never trusted */
            json_error_t jerr;
            json_t *extra = json_loads(ch->extra_json, 0, &jerr), *v;
            const char *k;
            json_object_foreach(extra, k, v) {
                char *text;
                if (!strcmp(k, "role") || !strcmp(k, "content"))
                    continue;
                text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                if (text) {
                    lq_jsonw_key(w, k);
                    lq_jsonw_raw(w, text);
                    free(text);
                }
            }
            json_decref(extra);
        }
        lq_jsonw_obj_close(w);
        lq_jsonw_key(w, "logprobs");
        lq_jsonw_null(w);
        lq_jsonw_kstr(w, "finish_reason", ch->finish_reason);
        lq_jsonw_obj_close(w);
    }
    lq_jsonw_arr_close(w);
    lq_jsonw_key(w, "usage");
    lq_jsonw_obj_open(w);
    lq_jsonw_kint(w, "prompt_tokens", r->prompt_tokens);
    lq_jsonw_kint(w, "completion_tokens", r->completion_tokens);
    lq_jsonw_kint(w, "total_tokens", (int64_t)r->prompt_tokens + r->completion_tokens);
    lq_jsonw_obj_close(w);
    lq_jsonw_obj_close(w);
}

void lq_openai_write_job_error(lq_jsonw_t *w, const lq_job_error_t *e)
{
    lq_jsonw_obj_open(w);
    lq_jsonw_kstr(w, "message", e->message ? e->message : "");
    lq_jsonw_kstr(w, "type", e->type ? e->type : "server_error");
    lq_jsonw_key(w, "param");
    lq_jsonw_null(w);
    lq_jsonw_kstr(w, "code", e->code);
    lq_jsonw_obj_close(w);
}

json_t *lq_openai_error(const char *message, const char *type, const char *param,
                        const char *code)
{
    return json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "message", message, "type", type,
                     "param", param ? json_string(param) : json_null(), "code",
                     code ? json_string(code) : json_null());
}

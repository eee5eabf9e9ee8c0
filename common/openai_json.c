#include "common/openai_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const message_keys[] = {"role", "content", NULL};
static const char *const top_keys[] = {"id",      "object", "created", "model",
                                       "choices", "usage",  "error",   NULL};

/* The members of a JSON object text (provider fields such as tool_calls or citations) into
 * the object being written: re-serialised, never trusted; reserved keys are skipped.
 * with_index: give every element of a "tool_calls" array an "index" (stream deltas). */
static void write_members(lq_jsonw_t *w, const char *json_text, const char *const *reserved,
                          int with_index)
{
    json_error_t jerr;
    json_t *extra, *v;
    const char *k;
    size_t i;

    if (!json_text)
        return;
    extra = json_loads(json_text, 0, &jerr);
    json_object_foreach(extra, k, v)
    {
        char *text;
        int skip = 0;
        for (i = 0; reserved[i]; i++)
            skip |= strcmp(k, reserved[i]) == 0;
        if (skip)
            continue;
        if (with_index && !strcmp(k, "tool_calls") && json_is_array(v)) {
            json_t *e;
            json_array_foreach(v, i, e) if (json_is_object(e) && !json_object_get(e, "index"))
                json_object_set_new(e, "index", json_integer((json_int_t)i));
        }
        text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text) {
            lq_jsonw_key(w, k);
            lq_jsonw_raw(w, text);
            free(text);
        }
    }
    json_decref(extra);
}

static void write_usage(lq_jsonw_t *w, int32_t prompt, int32_t completion)
{
    lq_jsonw_key(w, "usage");
    lq_jsonw_obj_open(w);
    lq_jsonw_kint(w, "prompt_tokens", prompt);
    lq_jsonw_kint(w, "completion_tokens", completion);
    lq_jsonw_kint(w, "total_tokens", (int64_t)prompt + completion);
    lq_jsonw_obj_close(w);
}

void lq_openai_write_message(lq_jsonw_t *w, const lq_choice_t *ch)
{
    lq_jsonw_obj_open(w);
    lq_jsonw_kstr(w, "role", ch->role ? ch->role : "assistant");
    lq_jsonw_kstr(w, "content", ch->content);
    write_members(w, ch->extra_json, message_keys, 0);
    lq_jsonw_obj_close(w);
}

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
        lq_openai_write_message(w, ch);
        lq_jsonw_key(w, "logprobs");
        lq_jsonw_null(w);
        lq_jsonw_kstr(w, "finish_reason", ch->finish_reason);
        lq_jsonw_obj_close(w);
    }
    lq_jsonw_arr_close(w);
    write_usage(w, r->prompt_tokens, r->completion_tokens);
    write_members(w, r->extra_json, top_keys, 0);
    lq_jsonw_obj_close(w);
}

void lq_openai_write_chunk(lq_jsonw_t *w, const lq_openai_chunk_t *k)
{
    char id[64];

    snprintf(id, sizeof(id), "chatcmpl-%s", k->job_id);
    lq_jsonw_obj_open(w);
    lq_jsonw_kstr(w, "id", id);
    lq_jsonw_kstr(w, "object", "chat.completion.chunk");
    lq_jsonw_kint(w, "created", k->created_s);
    lq_jsonw_kstr(w, "model", k->model);
    lq_jsonw_key(w, "choices");
    lq_jsonw_arr_open(w);
    if (!k->usage_only) {
        lq_jsonw_obj_open(w);
        lq_jsonw_kint(w, "index", 0);
        lq_jsonw_key(w, "delta");
        lq_jsonw_obj_open(w);
        if (k->role)
            lq_jsonw_kstr(w, "role", k->role);
        if (k->content) {
            lq_jsonw_key(w, "content");
            lq_jsonw_strn(w, k->content, k->content_len);
        }
        write_members(w, k->message_extra_json, message_keys, 1);
        lq_jsonw_obj_close(w);
        lq_jsonw_key(w, "logprobs");
        lq_jsonw_null(w);
        lq_jsonw_kstr(w, "finish_reason", k->finish_reason);
        lq_jsonw_obj_close(w);
    }
    lq_jsonw_arr_close(w);
    if (k->usage_only) {
        write_usage(w, k->prompt_tokens, k->completion_tokens);
    }
    write_members(w, k->top_extra_json, top_keys, 0);
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

json_t *lq_openai_error(const char *message, const char *type, const char *param, const char *code)
{
    return json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "message", message, "type", type, "param",
                     param ? json_string(param) : json_null(), "code",
                     code ? json_string(code) : json_null());
}

/* What a streamed answer has delivered so far, filled by a wire's stream_event, and the one
 * worker_result_t it becomes at the end. Calls no wire. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "workers/provider_errors.h"
#include "workers/stream_acc.h"

#define STREAM_MAX_KEPT  (32u * 1024 * 1024) /* answer text + tool arguments kept for the end */
#define STREAM_MAX_TOOLS 128

static int set_str(char **dst, const char *s)
{
    char *d = strdup(s);

    if (!d)
        return -1;
    free(*dst);
    *dst = d;
    return 0;
}

void worker_acc_clear(worker_stream_acc_t *s)
{
    size_t i;

    worker_result_clear(&s->fail);
    free(s->text.p);
    free(s->finish);
    free(s->raw_finish);
    free(s->model);
    for (i = 0; i < s->n_tools; i++) {
        free(s->tools[i].id);
        free(s->tools[i].name);
        free(s->tools[i].args.p);
    }
    free(s->tools);
    json_decref(s->response_extra);
    memset(s, 0, sizeof(*s));
}

/* ---- failures: each ends the stream ---- */

worker_result_t *worker_acc_error(worker_stream_acc_t *s)
{
    s->failed = s->ended = 1;
    return &s->fail;
}

void worker_acc_fail_bad(worker_stream_acc_t *s, const char *message)
{
    if (s->failed)
        return; /* the first failure stands */
    worker_fail_bad_answer(worker_acc_error(s), message);
}

void worker_acc_fail_nomem(worker_stream_acc_t *s)
{
    if (s->failed)
        return;
    worker_fail_nomem(worker_acc_error(s));
}

/* the kept-bytes budget; 0 or -1 (and the stream failed) */
static int budget(worker_stream_acc_t *s, size_t n)
{
    if (s->ended)
        return -1;
    if (n > STREAM_MAX_KEPT - s->kept) {
        worker_acc_fail_bad(s, "The provider's streamed answer was too large.");
        return -1;
    }
    s->kept += n;
    return 0;
}

/* ---- what the events deliver ---- */

void worker_acc_emit(worker_stream_acc_t *s, const char *t, size_t n)
{
    if (!n || budget(s, n))
        return;
    if (worker_buf_add(&s->text, t, n)) {
        worker_acc_fail_nomem(s);
        return;
    }
    s->emitted += n;
    if (s->cb)
        s->cb(s->arg, t, n);
}

worker_tool_acc_t *worker_acc_tool_find(worker_stream_acc_t *s, long key)
{
    size_t i;

    for (i = s->n_tools; i-- > 0;)
        if (s->tools[i].key == key)
            return &s->tools[i];
    return NULL;
}

worker_tool_acc_t *worker_acc_tool_add(worker_stream_acc_t *s, long key)
{
    worker_tool_acc_t *t;

    if (s->n_tools >= STREAM_MAX_TOOLS) {
        worker_acc_fail_bad(s, "The provider's streamed answer had too many tool calls.");
        return NULL;
    }
    t = realloc(s->tools, (s->n_tools + 1) * sizeof(*t));
    if (!t) {
        worker_acc_fail_nomem(s);
        return NULL;
    }
    s->tools = t;
    t = &s->tools[s->n_tools++];
    memset(t, 0, sizeof(*t));
    t->key = key;
    return t;
}

void worker_acc_tool_args(worker_stream_acc_t *s, worker_tool_acc_t *t, const char *a)
{
    size_t n = a ? strlen(a) : 0;

    if (!n || budget(s, n))
        return;
    if (worker_buf_add(&t->args, a, n))
        worker_acc_fail_nomem(s);
}

void worker_acc_tool_set(worker_stream_acc_t *s, char **dst, const char *v, int replace)
{
    if (!v || (*dst && !replace))
        return;
    if (budget(s, strlen(v)) == 0 && set_str(dst, v))
        worker_acc_fail_nomem(s);
}

void worker_acc_set(worker_stream_acc_t *s, char **dst, const char *v)
{
    if (set_str(dst, v))
        worker_acc_fail_nomem(s);
}

void worker_acc_model(worker_stream_acc_t *s, json_t *v)
{
    if (json_is_string(v) && *json_string_value(v))
        worker_acc_set(s, &s->model, json_string_value(v));
}

void worker_acc_extra(worker_stream_acc_t *s, const char *key, json_t *v)
{
    if (!s->response_extra && !(s->response_extra = json_object())) {
        worker_acc_fail_nomem(s);
        return;
    }
    if (json_object_set(s->response_extra, key, v))
        worker_acc_fail_nomem(s);
}

/* ---- the outcome ---- */

/* The tool calls as {"tool_calls":[...]} text; NULL when out of memory. */
static char *tool_calls_json(const worker_stream_acc_t *s)
{
    json_t *calls = json_array(), *root = NULL;
    char *text = NULL;
    size_t i;

    if (!calls)
        return NULL;
    for (i = 0; i < s->n_tools; i++) {
        const worker_tool_acc_t *t = &s->tools[i];
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

/* The failure that ended the stream, or the interruption; 0, or -1 when out of memory. */
static int failed_result(const worker_stream_acc_t *s, worker_result_t *out)
{
    char detail[160];

    if (s->failed) {
        worker_result_fail(out, s->fail.err_type ? s->fail.err_type : "provider_error",
                           s->fail.err_code,
                           s->fail.err_message ? s->fail.err_message : "stream failed",
                           s->fail.http_status ? s->fail.http_status : 502, s->fail.retriable);
        out->retry_after_ms = s->fail.retry_after_ms;
    } else {
        snprintf(detail, sizeof(detail),
                 "The provider's stream ended before its end marker (after %zu bytes of text).",
                 s->emitted);
        worker_result_fail(out, "provider_error", "stream_interrupted", detail, 502, 1);
    }
    return out->err_type && out->err_message ? 0 : -1;
}

/* The completed answer; 0, or -1 when out of memory. */
static int ok_result(const worker_stream_acc_t *s, const char *finish, worker_result_t *out)
{
    out->ok = 1;
    if ((s->text.len || !s->n_tools) && !(out->content = strdup(s->text.len ? s->text.p : "")))
        return -1;
    if (!(out->finish_reason = strdup(finish)))
        return -1;
    if (s->model && !(out->provider_model = strdup(s->model)))
        return -1;
    if (s->n_tools && !(out->extra_json = tool_calls_json(s)))
        return -1;
    if (s->response_extra &&
        !(out->response_extra_json = json_dumps(s->response_extra, JSON_COMPACT)))
        return -1;
    out->prompt_tokens = s->prompt_tokens;
    out->completion_tokens = s->completion_tokens;
    return 0;
}

void worker_acc_result(const worker_stream_acc_t *s, const char *finish, worker_result_t *out)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if (s->failed || !s->completed)
        rc = failed_result(s, out);
    else
        rc = ok_result(s, finish, out);
    if (rc == 0)
        return;
    worker_result_clear(out);
    worker_result_fail(out, "server_error", "out_of_memory", "out of memory", 500, 1);
}

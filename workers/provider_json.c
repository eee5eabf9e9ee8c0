/* JSON pieces the wires share: reading answers and writing requests. Calls no wire. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "workers/provider_errors.h"
#include "workers/provider_json.h"

/* ---- reading answers ---- */

int worker_parse_begin(long http_status, const char *body, size_t len, const char *retry_after,
                       const char *transport_error, int transport_timeout, int unwrap_array,
                       int error_in_2xx, worker_fail_error_fn fail_error, json_t **doc,
                       json_t **root, worker_result_t *out)
{
    json_error_t jerr;

    memset(out, 0, sizeof(*out));
    *doc = *root = NULL;
    if (http_status == 0) {
        worker_fail_transport(out, transport_error, transport_timeout);
        return 1;
    }
    *doc = body && len ? json_loadb(body, len, 0, &jerr) : NULL;
    *root = unwrap_array && json_is_array(*doc) ? json_array_get(*doc, 0) : *doc;
    if (http_status < 200 || http_status >= 300) {
        fail_error(out, http_status, json_object_get(*root, "error"), retry_after);
        return 1;
    }
    if (error_in_2xx && json_is_object(json_object_get(*root, "error"))) {
        fail_error(out, 0, json_object_get(*root, "error"), retry_after);
        return 1;
    }
    return 0;
}

int worker_text_append(char **text, size_t *len, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    char *p = realloc(*text, *len + n + 1);

    if (!p)
        return -1;
    *text = p;
    memcpy(p + *len, s ? s : "", n + 1);
    *len += n;
    return 0;
}

int worker_tool_calls_add(json_t **calls, const char *id, const char *name, json_t *args)
{
    char *a = args ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_t *tc = worker_tool_call_new(id, name, a ? a : "{}");

    free(a);
    if (!tc || (!*calls && !(*calls = json_array())) || json_array_append_new(*calls, tc))
        return -1;
    return 0;
}

int worker_result_set_tool_calls(worker_result_t *out, json_t *calls)
{
    json_t *extra = json_pack("{s:O}", "tool_calls", calls);

    out->extra_json = extra ? json_dumps(extra, JSON_COMPACT) : NULL;
    json_decref(extra);
    return out->extra_json ? 0 : -1;
}

json_t *worker_json_object_load(const char *text)
{
    json_error_t jerr;
    json_t *j;

    if (!text)
        return NULL;
    j = json_loads(text, 0, &jerr);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

json_t *worker_tool_call_new(const char *id, const char *name, const char *arguments)
{
    json_t *fn = json_object(), *tc = json_object();

    if (!fn || !tc || json_object_set_new(fn, "name", json_string(name ? name : "")) ||
        json_object_set_new(fn, "arguments", json_string(arguments ? arguments : "{}")) ||
        json_object_set_new(tc, "id", json_string(id ? id : "")) ||
        json_object_set_new(tc, "type", json_string("function")) ||
        json_object_set(tc, "function", fn)) {
        json_decref(fn);
        json_decref(tc);
        return NULL;
    }
    json_decref(fn);
    return tc;
}

int32_t worker_json_tokens(json_t *v)
{
    json_int_t n = json_integer_value(v);

    if (n <= 0)
        return 0;
    return n > INT32_MAX ? INT32_MAX : (int32_t)n;
}

int32_t worker_tokens_add(int32_t a, int32_t b)
{
    return b > INT32_MAX - a ? INT32_MAX : a + b;
}

int worker_blocks_text(worker_blocks_t *b, const char *text)
{
    b->any_text = 1;
    return worker_text_append(&b->text, &b->len, text);
}

int worker_blocks_result(worker_blocks_t *b, const char *finish_reason, worker_result_t *out)
{
    int rc = 0;

    out->ok = 1;
    if (b->any_text || !b->calls) {
        out->content = b->text ? b->text : strdup("");
        b->text = NULL;
        rc = out->content ? 0 : -1;
    }
    out->finish_reason = strdup(finish_reason);
    if (!out->finish_reason || (b->calls && worker_result_set_tool_calls(out, b->calls)))
        rc = -1;
    worker_blocks_clear(b);
    return rc;
}

void worker_blocks_clear(worker_blocks_t *b)
{
    free(b->text);
    json_decref(b->calls);
    memset(b, 0, sizeof(*b));
}

int worker_buf_add(worker_buf_t *b, const char *s, size_t n)
{
    size_t need = b->len + n + 1;
    char *np;

    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < need)
            cap *= 2;
        np = realloc(b->p, cap);
        if (!np)
            return -1;
        b->p = np;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* ---- request pieces ---- */

int worker_system_append(char **sys, const char *s)
{
    size_t old = *sys ? strlen(*sys) : 0, n = strlen(s);
    char *p = realloc(*sys, old + n + 3);

    if (!p)
        return -1;
    if (old) {
        memcpy(p + old, "\n\n", 2);
        old += 2;
    }
    memcpy(p + old, s, n + 1);
    *sys = p;
    return 0;
}

int worker_json_set_sampling(json_t *obj, const lq_chat_request_t *req, const char *top_p_key,
                             const char *stop_key)
{
    json_t *stop;
    size_t i;

    if (req->has_temperature)
        json_object_set_new(obj, "temperature", json_real(req->temperature));
    if (req->has_top_p)
        json_object_set_new(obj, top_p_key, json_real(req->top_p));
    if (!req->n_stop)
        return 0;
    stop = json_array();
    if (!stop || json_object_set_new(obj, stop_key, stop))
        return -1;
    for (i = 0; i < req->n_stop; i++)
        if (json_array_append_new(stop, json_string(req->stop[i])))
            return -1;
    return 0;
}

/* An image_url part through f->image, or NULL (no URL, a malformed data: URL). */
static json_t *image_block(const worker_turn_format_t *f, json_t *part)
{
    json_t *iu = json_object_get(part, "image_url");
    const char *url =
        json_is_string(iu) ? json_string_value(iu) : json_string_value(json_object_get(iu, "url"));
    const char *semi, *comma;

    if (!url)
        return NULL;
    if (strncmp(url, "data:", 5) != 0)
        return f->image(url, NULL, 0, NULL);
    semi = strchr(url, ';');
    comma = strchr(url, ',');
    if (!semi || !comma || semi > comma || strncmp(semi, ";base64,", 8) != 0)
        return NULL;
    return f->image(url, url + 5, (size_t)(semi - (url + 5)), comma + 1);
}

/* Append a text block unless text is empty (the APIs refuse those); 0 or -1. */
static int add_text(const worker_turn_format_t *f, json_t *blocks, const char *text)
{
    if (!text || !*text)
        return 0;
    return json_array_append_new(blocks, f->text(text));
}

/* The content of a user or assistant message as blocks; 0 or -1. */
static int content_blocks(const worker_turn_format_t *f, const lq_message_t *m, json_t *blocks)
{
    json_error_t jerr;
    json_t *parts = m->content_json ? json_loads(m->content_json, 0, &jerr) : NULL, *part;
    size_t i;
    int rc = 0;

    if (!json_is_array(parts)) {
        json_decref(parts);
        return add_text(f, blocks, m->content);
    }
    json_array_foreach(parts, i, part)
    {
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *b;
        if (!type)
            continue;
        if (strcmp(type, "text") == 0) {
            rc = add_text(f, blocks, json_string_value(json_object_get(part, "text")));
        } else if (strcmp(type, "image_url") == 0) {
            b = image_block(f, part);
            if (b)
                rc = json_array_append_new(blocks, b);
        } else if (f->keep_other_parts) {
            rc = json_array_append(blocks, part);
        }
        if (rc)
            break;
    }
    json_decref(parts);
    return rc;
}

/* The tool_calls of an assistant message (its extra_json) as blocks; 0 or -1. */
static int tool_call_blocks(const worker_turn_format_t *f, const lq_message_t *m, json_t *blocks)
{
    json_t *extra = worker_json_object_load(m->extra_json), *tc, *args;
    size_t i;
    int rc = 0;

    json_array_foreach(json_object_get(extra, "tool_calls"), i, tc)
    {
        json_t *fn = json_object_get(tc, "function");
        const char *a = json_string_value(json_object_get(fn, "arguments"));
        const char *id = json_string_value(json_object_get(tc, "id"));
        const char *name = json_string_value(json_object_get(fn, "name"));
        json_error_t jerr;
        if (!name)
            continue;
        args = a ? json_loads(a, 0, &jerr) : NULL;
        if (!json_is_object(args)) {
            json_decref(args);
            args = json_object();
        }
        rc = json_array_append_new(blocks, f->tool_call(id, name, args));
        if (rc)
            break;
    }
    json_decref(extra);
    return rc;
}

json_t *worker_turns(const lq_chat_request_t *req, const worker_turn_format_t *f, char **sys)
{
    json_t *turns = json_array(), *blocks = NULL;
    const char *prev_role = NULL;
    size_t i;

    if (!turns)
        return NULL;
    for (i = 0; i < req->n_messages; i++) {
        const lq_message_t *m = &req->messages[i];
        const char *role = strcmp(m->role, "assistant") == 0 ? f->assistant_role : "user";
        int rc;
        if (strcmp(m->role, "system") == 0 || strcmp(m->role, "developer") == 0) {
            if (worker_system_append(sys, m->content))
                goto fail;
            continue;
        }
        if (!prev_role || strcmp(prev_role, role) != 0) {
            blocks = json_array();
            if (!blocks || json_array_append_new(
                               turns, json_pack("{s:s, s:o}", "role", role, f->blocks_key, blocks)))
                goto fail;
            prev_role = role;
        }
        if (strcmp(m->role, "tool") == 0)
            rc = f->tool_result(req, i, blocks);
        else if (strcmp(m->role, "assistant") == 0)
            rc = content_blocks(f, m, blocks) || tool_call_blocks(f, m, blocks);
        else
            rc = content_blocks(f, m, blocks);
        if (rc)
            goto fail;
    }
    return turns;
fail:
    json_decref(turns);
    return NULL;
}

json_t *worker_tool_declarations(json_t *extra, const char *schema_key, int default_schema)
{
    json_t *out = NULL, *t;
    size_t i;

    json_array_foreach(json_object_get(extra, "tools"), i, t)
    {
        json_t *fn = json_object_get(t, "function"), *schema, *d;
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!name)
            continue;
        if (!out && !(out = json_array()))
            return NULL;
        schema = json_object_get(fn, "parameters");
        d = json_pack("{s:s}", "name", name);
        if (!d || json_array_append_new(out, d)) {
            json_decref(out);
            return NULL;
        }
        if (json_is_string(json_object_get(fn, "description")))
            json_object_set(d, "description", json_object_get(fn, "description"));
        if (json_is_object(schema))
            json_object_set(d, schema_key, schema);
        else if (default_schema)
            json_object_set_new(d, schema_key,
                                json_pack("{s:s, s:{}}", "type", "object", "properties"));
    }
    return out;
}

worker_tool_choice_t worker_tool_choice(json_t *extra, const char **name)
{
    json_t *tc = json_object_get(extra, "tool_choice");
    const char *s = json_string_value(tc);

    *name = json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
    if (s && strcmp(s, "auto") == 0)
        return WORKER_TOOL_CHOICE_AUTO;
    if (s && strcmp(s, "required") == 0)
        return WORKER_TOOL_CHOICE_REQUIRED;
    if (s && strcmp(s, "none") == 0)
        return WORKER_TOOL_CHOICE_NONE;
    return *name ? WORKER_TOOL_CHOICE_NAMED : WORKER_TOOL_CHOICE_UNSET;
}

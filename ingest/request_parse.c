#include "ingest/request_parse.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static lq_err_t fail(ingest_parse_error_t *perr, const char *param, const char *code,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static lq_err_t fail(ingest_parse_error_t *perr, const char *param, const char *code,
                     const char *fmt, ...)
{
    va_list ap;

    perr->status = 400;
    snprintf(perr->param, sizeof(perr->param), "%s", param ? param : "");
    snprintf(perr->code, sizeof(perr->code), "%s", code ? code : "");
    va_start(ap, fmt);
    vsnprintf(perr->message, sizeof(perr->message), fmt, ap);
    va_end(ap);
    return LQ_ERR_INVALID;
}

static int valid_role(const char *r)
{
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool",
                                        "function"};
    size_t i;

    for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        if (strcmp(r, roles[i]) == 0)
            return 1;
    return 0;
}

/* Join the text parts of a content array; other part types stay in content_json. */
static lq_err_t content_from_parts(json_t *parts, size_t mi, lq_message_t *m,
                                   ingest_parse_error_t *perr)
{
    size_t i, total = 0, o = 0, n_text = 0;
    json_t *part;
    char param[64];

    snprintf(param, sizeof(param), "messages[%zu].content", mi);
    json_array_foreach(parts, i, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        if (!json_is_object(part) || !type)
            return fail(perr, param, "invalid_value",
                        "each content part must be an object with a \"type\"");
        if (strcmp(type, "text") == 0) {
            const char *t = json_string_value(json_object_get(part, "text"));
            if (!t)
                return fail(perr, param, "invalid_value", "a text part needs a string \"text\"");
            total += strlen(t) + 1;
        }
    }
    m->content = malloc(total + 1);
    if (!m->content)
        return LQ_ERR_NOMEM;
    json_array_foreach(parts, i, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        if (strcmp(type, "text") == 0) {
            const char *t = json_string_value(json_object_get(part, "text"));
            size_t n = strlen(t);
            if (n_text++)
                m->content[o++] = '\n';
            memcpy(m->content + o, t, n);
            o += n;
        }
    }
    m->content[o] = '\0';
    m->content_json = json_dumps(parts, JSON_COMPACT);
    return m->content_json ? LQ_OK : LQ_ERR_NOMEM;
}

static lq_err_t parse_message(json_t *msg, size_t mi, lq_message_t *m,
                              ingest_parse_error_t *perr)
{
    json_t *role, *content, *name, *extra = NULL;
    const char *key;
    json_t *val;
    char param[64];
    lq_err_t err;

    snprintf(param, sizeof(param), "messages[%zu]", mi);
    if (!json_is_object(msg))
        return fail(perr, param, "invalid_type", "%s must be an object", param);
    role = json_object_get(msg, "role");
    snprintf(param, sizeof(param), "messages[%zu].role", mi);
    if (!json_is_string(role))
        return fail(perr, param, "missing_required_parameter", "%s is required", param);
    if (!valid_role(json_string_value(role)))
        return fail(perr, param, "invalid_value",
                    "%s must be one of system, developer, user, assistant, tool, function", param);
    m->role = strdup(json_string_value(role));
    if (!m->role)
        return LQ_ERR_NOMEM;
    content = json_object_get(msg, "content");
    snprintf(param, sizeof(param), "messages[%zu].content", mi);
    if (json_is_string(content)) {
        m->content = strdup(json_string_value(content));
        if (!m->content)
            return LQ_ERR_NOMEM;
    } else if (json_is_array(content)) {
        err = content_from_parts(content, mi, m, perr);
        if (err)
            return err;
    } else if (!content || json_is_null(content)) {
        if (strcmp(m->role, "assistant") != 0 || !json_object_get(msg, "tool_calls"))
            return fail(perr, param, "missing_required_parameter", "%s is required", param);
        m->content = strdup("");
        if (!m->content)
            return LQ_ERR_NOMEM;
    } else {
        return fail(perr, param, "invalid_type", "%s must be a string or an array of parts",
                    param);
    }
    name = json_object_get(msg, "name");
    if (name) {
        snprintf(param, sizeof(param), "messages[%zu].name", mi);
        if (!json_is_string(name))
            return fail(perr, param, "invalid_type", "%s must be a string", param);
        m->name = strdup(json_string_value(name));
        if (!m->name)
            return LQ_ERR_NOMEM;
    }
    json_object_foreach(msg, key, val) {
        if (!strcmp(key, "role") || !strcmp(key, "content") || !strcmp(key, "name"))
            continue;
        if (!extra)
            extra = json_object();
        if (!extra)
            return LQ_ERR_NOMEM;
        json_object_set(extra, key, val);
    }
    if (extra) {
        m->extra_json = json_dumps(extra, JSON_COMPACT);
        json_decref(extra);
        if (!m->extra_json)
            return LQ_ERR_NOMEM;
    }
    return LQ_OK;
}

static int is_modelled(const char *key)
{
    static const char *const keys[] = {"model", "messages", "max_tokens", "max_completion_tokens",
                                       "temperature", "top_p", "stop", "user", "stream", "n",
                                       "stream_options"};
    size_t i;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(key, keys[i]) == 0)
            return 1;
    return 0;
}

static lq_err_t parse_number(json_t *root, const char *key, double lo, double hi, double *out,
                             int *present, ingest_parse_error_t *perr)
{
    json_t *v = json_object_get(root, key);

    *present = 0;
    if (!v || json_is_null(v))
        return LQ_OK;
    if (!json_is_number(v))
        return fail(perr, key, "invalid_type", "%s must be a number", key);
    *out = json_number_value(v);
    if (!isfinite(*out) || *out < lo || *out > hi)
        return fail(perr, key, "invalid_value", "%s must be between %g and %g", key, lo, hi);
    *present = 1;
    return LQ_OK;
}

/* The deepest nesting of arrays and objects, outside strings (a linear pre-scan: a
 * hostile body is refused before a parser builds anything). */
static size_t json_depth(const char *p, size_t len)
{
    size_t i, depth = 0, deepest = 0;
    int in_str = 0;

    for (i = 0; i < len; i++) {
        char ch = p[i];
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = 0;
        } else if (ch == '"') {
            in_str = 1;
        } else if (ch == '[' || ch == '{') {
            if (++depth > deepest)
                deepest = depth;
        } else if ((ch == ']' || ch == '}') && depth) {
            depth--;
        }
    }
    return deepest;
}

lq_err_t ingest_parse_chat(const char *body, size_t len, const ingest_limits_t *lim,
                           lq_chat_request_t *out, int *stream, ingest_parse_error_t *perr)
{
    json_error_t jerr;
    json_t *root = NULL, *model, *messages, *v, *extra = NULL, *val;
    const char *key, *mt_key = "max_completion_tokens";
    lq_err_t err = LQ_ERR_NOMEM;
    size_t i, n;
    int keep_completion_key = 0;

    memset(out, 0, sizeof(*out));
    *stream = 0;
    if (lim->max_depth && json_depth(body, len) > lim->max_depth)
        return fail(perr, "", "invalid_json", "the body nests arrays and objects deeper than %zu",
                    lim->max_depth);
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        err = fail(perr, NULL, "invalid_json",
                   "We could not parse the JSON body of your request: %s (line %d, column %d)",
                   jerr.text, jerr.line, jerr.column);
        goto out;
    }
    if (!json_is_object(root)) {
        err = fail(perr, NULL, "invalid_json", "The request body must be a JSON object");
        goto out;
    }
    model = json_object_get(root, "model");
    if (!json_is_string(model) || !json_string_length(model)) {
        err = fail(perr, "model", "missing_required_parameter",
                   "you must provide a model parameter");
        goto out;
    }
    if (json_string_length(model) > lim->max_model_len) {
        err = fail(perr, "model", "invalid_value", "model is longer than %zu characters",
                   lim->max_model_len);
        goto out;
    }
    out->model = strdup(json_string_value(model));
    if (!out->model)
        goto out;
    messages = json_object_get(root, "messages");
    if (!json_is_array(messages)) {
        err = fail(perr, "messages", "missing_required_parameter",
                   "messages is required and must be an array");
        goto out;
    }
    n = json_array_size(messages);
    if (n == 0) {
        err = fail(perr, "messages", "invalid_value", "messages must not be empty");
        goto out;
    }
    if (n > lim->max_messages) {
        err = fail(perr, "messages", "too_many_messages",
                   "messages has %zu entries; the limit is %zu", n, lim->max_messages);
        goto out;
    }
    out->messages = calloc(n, sizeof(*out->messages));
    if (!out->messages)
        goto out;
    for (i = 0; i < n; i++) {
        out->n_messages = i + 1;
        err = parse_message(json_array_get(messages, i), i, &out->messages[i], perr);
        if (err)
            goto out;
    }
    {
        v = json_object_get(root, mt_key);
        if (!v || json_is_null(v)) {
            mt_key = "max_tokens";
            v = json_object_get(root, mt_key);
        }
        if (v && !json_is_null(v) &&
            (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 10000000)) {
            err = fail(perr, mt_key, "invalid_value", "%s must be an integer of at least 1", mt_key);
            goto out;
        }
    }
    if (v && !json_is_null(v)) {
        out->has_max_tokens = 1;
        out->max_tokens = (int32_t)json_integer_value(v);
        /* newer OpenAI models refuse max_tokens: remember which name the client used */
        keep_completion_key = strcmp(mt_key, "max_completion_tokens") == 0;
    }
    err = parse_number(root, "temperature", 0, 2, &out->temperature, &out->has_temperature, perr);
    if (err)
        goto out;
    err = parse_number(root, "top_p", 0, 1, &out->top_p, &out->has_top_p, perr);
    if (err)
        goto out;
    err = LQ_ERR_NOMEM;
    v = json_object_get(root, "stop");
    if (json_is_string(v)) {
        out->stop = calloc(1, sizeof(char *));
        if (!out->stop || !(out->stop[0] = strdup(json_string_value(v))))
            goto out;
        out->n_stop = 1;
    } else if (json_is_array(v)) {
        json_t *s;
        if (json_array_size(v) > lim->max_stop) {
            err = fail(perr, "stop", "invalid_value", "stop may hold at most %zu sequences",
                       lim->max_stop);
            goto out;
        }
        out->stop = calloc(json_array_size(v) + 1, sizeof(char *));
        if (!out->stop)
            goto out;
        json_array_foreach(v, i, s) {
            if (!json_is_string(s)) {
                err = fail(perr, "stop", "invalid_type", "stop must be a string or strings");
                goto out;
            }
            out->stop[i] = strdup(json_string_value(s));
            if (!out->stop[i])
                goto out;
            out->n_stop = i + 1;
        }
    } else if (v && !json_is_null(v)) {
        err = fail(perr, "stop", "invalid_type", "stop must be a string or an array of strings");
        goto out;
    }
    v = json_object_get(root, "user");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v)) {
            err = fail(perr, "user", "invalid_type", "user must be a string");
            goto out;
        }
        out->user = strdup(json_string_value(v));
        if (!out->user)
            goto out;
    }
    v = json_object_get(root, "n");
    if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 1)) {
        err = fail(perr, "n", "unsupported_value", "only n = 1 is supported");
        goto out;
    }
    v = json_object_get(root, "stream");
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v)) {
            err = fail(perr, "stream", "invalid_type", "stream must be a boolean");
            goto out;
        }
        *stream = json_is_true(v) ? INGEST_STREAM : 0;
    }
    v = json_object_get(root, "stream_options");
    if (v && !json_is_null(v)) {
        json_t *iu = json_object_get(v, "include_usage");
        if (!json_is_object(v) || (iu && !json_is_boolean(iu))) {
            err = fail(perr, "stream_options", "invalid_type",
                       "stream_options must be an object whose include_usage is a boolean");
            goto out;
        }
        if (!*stream) {
            err = fail(perr, "stream_options", "invalid_value",
                       "stream_options is only allowed when stream is true");
            goto out;
        }
        if (json_is_true(iu))
            *stream |= INGEST_STREAM_USAGE;
    }
    json_object_foreach(root, key, val) {
        if (is_modelled(key) && !(keep_completion_key && !strcmp(key, "max_completion_tokens")))
            continue;
        if (!extra && !(extra = json_object()))
            goto out;
        json_object_set(extra, key, val);
    }
    if (extra) {
        out->extra_json = json_dumps(extra, JSON_COMPACT);
        if (!out->extra_json)
            goto out;
    }
    err = LQ_OK;
out:
    json_decref(extra);
    json_decref(root);
    if (err) {
        if (err == LQ_ERR_NOMEM) {
            perr->status = 500;
            snprintf(perr->message, sizeof(perr->message), "out of memory");
        }
        lq_chat_request_clear(out);
    }
    return err;
}

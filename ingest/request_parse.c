#include "ingest/request_parse.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/ids.h"

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
    static const char *const roles[] = {"system",    "developer", "user",
                                        "assistant", "tool",      "function"};
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
    json_array_foreach(parts, i, part)
    {
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
    json_array_foreach(parts, i, part)
    {
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

static lq_err_t message_role(json_t *msg, size_t mi, lq_message_t *m, ingest_parse_error_t *perr)
{
    json_t *role = json_object_get(msg, "role");
    char param[64];

    snprintf(param, sizeof(param), "messages[%zu].role", mi);
    if (!json_is_string(role))
        return fail(perr, param, "missing_required_parameter", "%s is required", param);
    if (!valid_role(json_string_value(role)))
        return fail(perr, param, "invalid_value",
                    "%s must be one of system, developer, user, assistant, tool, function", param);
    m->role = strdup(json_string_value(role));
    return m->role ? LQ_OK : LQ_ERR_NOMEM;
}

/* A string, an array of parts, or nothing for an assistant's tool calls. */
static lq_err_t message_content(json_t *msg, size_t mi, lq_message_t *m, ingest_parse_error_t *perr)
{
    json_t *content = json_object_get(msg, "content");
    char param[64];

    snprintf(param, sizeof(param), "messages[%zu].content", mi);
    if (json_is_array(content))
        return content_from_parts(content, mi, m, perr);
    if (json_is_string(content)) {
        m->content = strdup(json_string_value(content));
    } else if (!content || json_is_null(content)) {
        if (strcmp(m->role, "assistant") != 0 || !json_object_get(msg, "tool_calls"))
            return fail(perr, param, "missing_required_parameter", "%s is required", param);
        m->content = strdup("");
    } else {
        return fail(perr, param, "invalid_type", "%s must be a string or an array of parts", param);
    }
    return m->content ? LQ_OK : LQ_ERR_NOMEM;
}

static lq_err_t message_name(json_t *msg, size_t mi, lq_message_t *m, ingest_parse_error_t *perr)
{
    json_t *name = json_object_get(msg, "name");
    char param[64];

    if (!name)
        return LQ_OK;
    snprintf(param, sizeof(param), "messages[%zu].name", mi);
    if (!json_is_string(name))
        return fail(perr, param, "invalid_type", "%s must be a string", param);
    m->name = strdup(json_string_value(name));
    return m->name ? LQ_OK : LQ_ERR_NOMEM;
}

/* Every other field of a message (tool_calls, tool_call_id, ...) travels as it is. */
static lq_err_t message_extra(json_t *msg, lq_message_t *m)
{
    json_t *extra = NULL, *val;
    const char *key;

    json_object_foreach(msg, key, val)
    {
        if (!strcmp(key, "role") || !strcmp(key, "content") || !strcmp(key, "name"))
            continue;
        if (!extra && !(extra = json_object()))
            return LQ_ERR_NOMEM;
        json_object_set(extra, key, val);
    }
    if (!extra)
        return LQ_OK;
    m->extra_json = json_dumps(extra, JSON_COMPACT);
    json_decref(extra);
    return m->extra_json ? LQ_OK : LQ_ERR_NOMEM;
}

lq_err_t ingest_parse_message(json_t *msg, size_t mi, lq_message_t *m, ingest_parse_error_t *perr)
{
    char param[64];
    lq_err_t err;

    snprintf(param, sizeof(param), "messages[%zu]", mi);
    if (!json_is_object(msg))
        return fail(perr, param, "invalid_type", "%s must be an object", param);
    err = message_role(msg, mi, m, perr);
    if (!err)
        err = message_content(msg, mi, m, perr);
    if (!err)
        err = message_name(msg, mi, m, perr);
    if (!err)
        err = message_extra(msg, m);
    return err;
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

/* ---------- the modelled fields ---------- */

typedef struct parse_state {
    json_t *root;
    const ingest_limits_t *lim;
    lq_chat_request_t *out;
    int *stream;
    ingest_parse_error_t *perr;
    int keep_completion_key; /* the client said max_completion_tokens: it travels on too */
} parse_state_t;

/* "conversation": the id of a server-side conversation this request is a turn of. */
static lq_err_t check_conversation(parse_state_t *st, json_t *v)
{
    const char *s = json_string_value(v);

    if (!v || json_is_null(v))
        return LQ_OK;
    if (!s || !lq_uuid_valid(s))
        return fail(st->perr, "conversation", "invalid_value",
                    "conversation must be the id of a conversation");
    st->out->conversation_id = strdup(s);
    return st->out->conversation_id ? LQ_OK : LQ_ERR_NOMEM;
}

static lq_err_t check_model(parse_state_t *st, json_t *v)
{
    if (!v && st->out->conversation_id)
        return LQ_OK; /* the conversation's model (conversation_turn.c) */
    if (!json_is_string(v) || !json_string_length(v))
        return fail(st->perr, "model", "missing_required_parameter",
                    "you must provide a model parameter");
    if (json_string_length(v) > st->lim->max_model_len)
        return fail(st->perr, "model", "invalid_value", "model is longer than %zu characters",
                    st->lim->max_model_len);
    st->out->model = strdup(json_string_value(v));
    return st->out->model ? LQ_OK : LQ_ERR_NOMEM;
}

static lq_err_t check_messages(parse_state_t *st, json_t *v)
{
    size_t i, n = json_array_size(v);
    lq_err_t err;

    if (!json_is_array(v))
        return fail(st->perr, "messages", "missing_required_parameter",
                    "messages is required and must be an array");
    if (n == 0)
        return fail(st->perr, "messages", "invalid_value", "messages must not be empty");
    if (n > st->lim->max_messages)
        return fail(st->perr, "messages", "too_many_messages",
                    "messages has %zu entries; the limit is %zu", n, st->lim->max_messages);
    st->out->messages = calloc(n, sizeof(*st->out->messages));
    if (!st->out->messages)
        return LQ_ERR_NOMEM;
    for (i = 0; i < n; i++) {
        st->out->n_messages = i + 1;
        err = ingest_parse_message(json_array_get(v, i), i, &st->out->messages[i], st->perr);
        if (err)
            return err;
    }
    return LQ_OK;
}

/* max_completion_tokens, else max_tokens. */
static lq_err_t check_max_tokens(parse_state_t *st, json_t *v)
{
    const char *key = "max_completion_tokens";

    if (!v || json_is_null(v)) {
        key = "max_tokens";
        v = json_object_get(st->root, key);
    }
    if (!v || json_is_null(v))
        return LQ_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 10000000)
        return fail(st->perr, key, "invalid_value", "%s must be an integer of at least 1", key);
    st->out->has_max_tokens = 1;
    st->out->max_tokens = (int32_t)json_integer_value(v);
    /* newer OpenAI models refuse max_tokens: remember which name the client used */
    st->keep_completion_key = strcmp(key, "max_completion_tokens") == 0;
    return LQ_OK;
}

static lq_err_t check_number(parse_state_t *st, json_t *v, const char *key, double lo, double hi,
                             double *out, int *present)
{
    *present = 0;
    if (!v || json_is_null(v))
        return LQ_OK;
    if (!json_is_number(v))
        return fail(st->perr, key, "invalid_type", "%s must be a number", key);
    *out = json_number_value(v);
    if (!isfinite(*out) || *out < lo || *out > hi)
        return fail(st->perr, key, "invalid_value", "%s must be between %g and %g", key, lo, hi);
    *present = 1;
    return LQ_OK;
}

static lq_err_t check_temperature(parse_state_t *st, json_t *v)
{
    return check_number(st, v, "temperature", 0, 2, &st->out->temperature,
                        &st->out->has_temperature);
}

static lq_err_t check_top_p(parse_state_t *st, json_t *v)
{
    return check_number(st, v, "top_p", 0, 1, &st->out->top_p, &st->out->has_top_p);
}

static lq_err_t stop_list(parse_state_t *st, json_t *v)
{
    lq_chat_request_t *out = st->out;
    json_t *s;
    size_t i;

    if (json_array_size(v) > st->lim->max_stop)
        return fail(st->perr, "stop", "invalid_value", "stop may hold at most %zu sequences",
                    st->lim->max_stop);
    out->stop = calloc(json_array_size(v) + 1, sizeof(char *));
    if (!out->stop)
        return LQ_ERR_NOMEM;
    json_array_foreach(v, i, s)
    {
        if (!json_is_string(s))
            return fail(st->perr, "stop", "invalid_type", "stop must be a string or strings");
        out->stop[i] = strdup(json_string_value(s));
        if (!out->stop[i])
            return LQ_ERR_NOMEM;
        out->n_stop = i + 1;
    }
    return LQ_OK;
}

static lq_err_t check_stop(parse_state_t *st, json_t *v)
{
    lq_chat_request_t *out = st->out;

    if (json_is_array(v))
        return stop_list(st, v);
    if (v && !json_is_null(v) && !json_is_string(v))
        return fail(st->perr, "stop", "invalid_type",
                    "stop must be a string or an array of strings");
    if (!json_is_string(v))
        return LQ_OK;
    out->stop = calloc(1, sizeof(char *));
    if (!out->stop || !(out->stop[0] = strdup(json_string_value(v))))
        return LQ_ERR_NOMEM;
    out->n_stop = 1;
    return LQ_OK;
}

static lq_err_t check_user(parse_state_t *st, json_t *v)
{
    if (!v || json_is_null(v))
        return LQ_OK;
    if (!json_is_string(v))
        return fail(st->perr, "user", "invalid_type", "user must be a string");
    st->out->user = strdup(json_string_value(v));
    return st->out->user ? LQ_OK : LQ_ERR_NOMEM;
}

static lq_err_t check_n(parse_state_t *st, json_t *v)
{
    if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 1))
        return fail(st->perr, "n", "unsupported_value", "only n = 1 is supported");
    return LQ_OK;
}

static lq_err_t check_stream(parse_state_t *st, json_t *v)
{
    if (!v || json_is_null(v))
        return LQ_OK;
    if (!json_is_boolean(v))
        return fail(st->perr, "stream", "invalid_type", "stream must be a boolean");
    *st->stream = json_is_true(v) ? INGEST_STREAM : 0;
    return LQ_OK;
}

static lq_err_t check_stream_options(parse_state_t *st, json_t *v)
{
    json_t *iu = json_object_get(v, "include_usage");

    if (!v || json_is_null(v))
        return LQ_OK;
    if (!json_is_object(v) || (iu && !json_is_boolean(iu)))
        return fail(st->perr, "stream_options", "invalid_type",
                    "stream_options must be an object whose include_usage is a boolean");
    if (!*st->stream)
        return fail(st->perr, "stream_options", "invalid_value",
                    "stream_options is only allowed when stream is true");
    if (json_is_true(iu))
        *st->stream |= INGEST_STREAM_USAGE;
    return LQ_OK;
}

/* The fields llmq models, checked in this order (the first error is the answer). Every
 * other field travels to the provider in extra_json. */
static const struct modelled_field {
    const char *name;
    lq_err_t (*check)(parse_state_t *st, json_t *v); /* NULL: checked with another */
} modelled[] = {
    {"conversation", check_conversation},
    {"model", check_model},
    {"messages", check_messages},
    {"max_completion_tokens", check_max_tokens},
    {"max_tokens", NULL},
    {"temperature", check_temperature},
    {"top_p", check_top_p},
    {"stop", check_stop},
    {"user", check_user},
    {"n", check_n},
    {"stream", check_stream},
    {"stream_options", check_stream_options},
};

#define N_MODELLED (sizeof(modelled) / sizeof(modelled[0]))

static lq_err_t check_fields(parse_state_t *st)
{
    size_t i;
    lq_err_t err;

    for (i = 0; i < N_MODELLED; i++) {
        if (!modelled[i].check)
            continue;
        err = modelled[i].check(st, json_object_get(st->root, modelled[i].name));
        if (err)
            return err;
    }
    return LQ_OK;
}

static int travels_as_extra(const parse_state_t *st, const char *key)
{
    size_t i;

    if (st->keep_completion_key && !strcmp(key, "max_completion_tokens"))
        return 1;
    for (i = 0; i < N_MODELLED; i++)
        if (!strcmp(key, modelled[i].name))
            return 0;
    return 1;
}

static lq_err_t collect_extra(parse_state_t *st)
{
    json_t *extra = NULL, *val;
    const char *key;

    json_object_foreach(st->root, key, val)
    {
        if (!travels_as_extra(st, key))
            continue;
        if (!extra && !(extra = json_object()))
            return LQ_ERR_NOMEM;
        json_object_set(extra, key, val);
    }
    if (!extra)
        return LQ_OK;
    st->out->extra_json = json_dumps(extra, JSON_COMPACT);
    json_decref(extra);
    return st->out->extra_json ? LQ_OK : LQ_ERR_NOMEM;
}

lq_err_t ingest_parse_chat(const char *body, size_t len, const ingest_limits_t *lim,
                           lq_chat_request_t *out, int *stream, ingest_parse_error_t *perr)
{
    parse_state_t st = {NULL, lim, out, stream, perr, 0};
    json_error_t jerr;
    lq_err_t err;

    memset(out, 0, sizeof(*out));
    *stream = 0;
    if (lim->max_depth && json_depth(body, len) > lim->max_depth)
        return fail(perr, "", "invalid_json", "the body nests arrays and objects deeper than %zu",
                    lim->max_depth);
    st.root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!st.root)
        err = fail(perr, NULL, "invalid_json",
                   "We could not parse the JSON body of your request: %s (line %d, column %d)",
                   jerr.text, jerr.line, jerr.column);
    else if (!json_is_object(st.root))
        err = fail(perr, NULL, "invalid_json", "The request body must be a JSON object");
    else
        err = check_fields(&st);
    if (!err)
        err = collect_extra(&st);
    json_decref(st.root);
    if (err == LQ_ERR_NOMEM) {
        perr->status = 500;
        snprintf(perr->message, sizeof(perr->message), "out of memory");
    }
    if (err)
        lq_chat_request_clear(out);
    return err;
}

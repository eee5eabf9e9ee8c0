#include "ingest/batch_lines.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

void ingest_line_reader_init(ingest_line_reader_t *r, size_t max_line)
{
    memset(r, 0, sizeof(*r));
    r->max_line = max_line;
}

void ingest_line_reader_free(ingest_line_reader_t *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

int ingest_line_reader_feed(ingest_line_reader_t *r, const void *data, size_t n)
{
    if (r->off) { /* drop what was taken */
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
    }
    if (r->len + n > r->cap) {
        size_t ncap = (r->len + n) * 2;
        char *nb = realloc(r->buf, ncap);
        if (!nb)
            return -1;
        r->buf = nb;
        r->cap = ncap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    return 0;
}

/* A line past max_line: its start is kept, the rest dropped up to its newline. */
static int cut_long(ingest_line_reader_t *r, const char **line, size_t *len, int *too_long)
{
    char *nl = memchr(r->buf + r->off, '\n', r->len - r->off);

    if (!nl && !r->eof) { /* keep the start, drop what came after it */
        r->len = r->off + r->max_line;
        r->too_long = 1;
        return 0;
    }
    *line = r->buf + r->off;
    *len = r->max_line;
    *too_long = 1;
    r->off = nl ? (size_t)(nl - r->buf) + 1 : r->len;
    r->too_long = 0;
    r->line++;
    return 1;
}

int ingest_line_reader_next(ingest_line_reader_t *r, const char **line, size_t *len, int *too_long)
{
    size_t avail = r->len - r->off, n;
    char *nl;

    if (avail == 0)
        return 0;
    nl = memchr(r->buf + r->off, '\n', avail);
    n = nl ? (size_t)(nl - (r->buf + r->off)) : avail;
    if (r->too_long || n > r->max_line)
        return cut_long(r, line, len, too_long);
    if (!nl && !r->eof)
        return 0;
    *line = r->buf + r->off;
    *len = n && (*line)[n - 1] == '\r' ? n - 1 : n;
    *too_long = 0;
    r->off += nl ? n + 1 : n;
    r->line++;
    return 1;
}

int ingest_line_blank(const char *line, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
            return 0;
    return 1;
}

static int fail(ingest_line_error_t *err, const char *code, const char *param, const char *msg)
{
    snprintf(err->code, sizeof(err->code), "%s", code);
    snprintf(err->param, sizeof(err->param), "%s", param ? param : "");
    snprintf(err->message, sizeof(err->message), "%s", msg);
    return -1;
}

/* The line's envelope: custom_id, method, url and a body object. */
static int check_envelope(json_t *o, const char *endpoint, char *custom_id, size_t cid_size,
                          ingest_line_error_t *err)
{
    json_t *cid = json_object_get(o, "custom_id"), *method = json_object_get(o, "method"),
           *url = json_object_get(o, "url");
    const char *key;
    json_t *v;

    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "custom_id") && strcmp(key, "method") && strcmp(key, "url") &&
            strcmp(key, "body"))
            return fail(err, "invalid_request", key, "A line has custom_id, method, url and body.");
    }
    if (!json_is_string(cid) || json_string_length(cid) == 0 ||
        json_string_length(cid) > INGEST_CUSTOM_ID_MAX)
        return fail(err, "missing_required_parameter", "custom_id",
                    "custom_id: a string of 1 to 512 characters.");
    snprintf(custom_id, cid_size, "%s", json_string_value(cid));
    if (!json_is_string(method) || strcmp(json_string_value(method), "POST") != 0)
        return fail(err, "invalid_request", "method", "method: POST.");
    if (!json_is_string(url) || strcmp(json_string_value(url), endpoint) != 0)
        return fail(err, "invalid_url", "url", "url: must be the batch's endpoint.");
    if (!json_is_object(json_object_get(o, "body")))
        return fail(err, "missing_required_parameter", "body", "body: a JSON object.");
    return 0;
}

/* The body as a chat request, and the policy on it. */
static int check_body(json_t *body, const ingest_limits_t *lim, const ingest_policy_t *policy,
                      lq_chat_request_t *out, ingest_line_error_t *err)
{
    char *text = json_dumps(body, JSON_COMPACT);
    ingest_parse_error_t perr;
    policy_verdict_t v;
    char msg[300];
    int stream = 0;

    if (!text)
        return fail(err, "server_error", NULL, "out of memory");
    if (ingest_parse_chat(text, strlen(text), lim, out, &stream, &perr) != LQ_OK) {
        free(text);
        return fail(err, perr.code[0] ? perr.code : "invalid_request", perr.param, perr.message);
    }
    free(text);
    if (stream) {
        lq_chat_request_clear(out);
        return fail(err, "unsupported_value", "body.stream", "stream: batches do not stream.");
    }
    if (out->conversation_id) { /* a turn needs the conversation's lock and history */
        lq_chat_request_clear(out);
        return fail(err, "unsupported_value", "body.conversation",
                    "conversation: a batch line cannot be a conversation's turn.");
    }
    ingest_policy_apply(policy, out, &v);
    if (v.blocked) {
        lq_chat_request_clear(out);
        snprintf(msg, sizeof(msg), "The request was blocked by the policy %s (%s %s in %s).",
                 v.policy, strcmp(v.policy, "blocked_keyword") == 0 ? "the keyword" : "a", v.what,
                 v.param);
        return fail(err, "policy_violation", v.param, msg);
    }
    return 0;
}

int ingest_batch_line_parse(const char *line, size_t len, const char *endpoint,
                            const ingest_limits_t *lim, const ingest_policy_t *policy,
                            lq_chat_request_t *out, char *custom_id, size_t custom_id_size,
                            ingest_line_error_t *err)
{
    json_error_t jerr;
    json_t *o;
    int rc;

    custom_id[0] = '\0';
    memset(out, 0, sizeof(*out));
    o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        return fail(err, "invalid_json", NULL, "The line is not a JSON object.");
    }
    rc = check_envelope(o, endpoint, custom_id, custom_id_size, err);
    if (rc == 0)
        rc = check_body(json_object_get(o, "body"), lim, policy, out, err);
    json_decref(o);
    return rc;
}

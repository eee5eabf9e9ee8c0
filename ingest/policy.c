#include "ingest/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static policy_action_t action_of(const char *s, policy_action_t def)
{
    return !s                     ? def
           : !strcmp(s, "block")  ? POLICY_BLOCK
           : !strcmp(s, "redact") ? POLICY_REDACT
           : !strcmp(s, "allow")  ? POLICY_ALLOW
                                  : def;
}

void ingest_policy_default(ingest_policy_t *p)
{
    int k;

    memset(p, 0, sizeof(*p));
    for (k = 0; k < LQ_SECRET_KIND_COUNT; k++)
        p->action[k] = lq_secret_severity((lq_secret_kind_t)k) == LQ_SEVERITY_HIGH ? POLICY_BLOCK
                                                                                   : POLICY_REDACT;
}

void ingest_policy_parse(const char *text, ingest_policy_t *p)
{
    json_error_t jerr;
    json_t *root, *v;
    const char *k;
    size_t i;
    int kind;

    ingest_policy_default(p);
    if (!text || !*text || !(root = json_loads(text, 0, &jerr)))
        return;
    v = json_object_get(root, "secrets");
    if (json_is_string(v)) {
        policy_action_t a = action_of(json_string_value(v), POLICY_BLOCK);
        for (kind = 0; kind < LQ_SECRET_KIND_COUNT; kind++) /* medium stays at most redact */
            p->action[kind] =
                (unsigned char)(a == POLICY_BLOCK && lq_secret_severity((lq_secret_kind_t)kind) !=
                                                         LQ_SEVERITY_HIGH
                                    ? POLICY_REDACT
                                    : a);
    }
    json_object_foreach(json_object_get(root, "kinds"), k, v)
    {
        if ((kind = lq_secret_kind_parse(k)) >= 0 && json_is_string(v))
            p->action[kind] = (unsigned char)action_of(json_string_value(v), p->action[kind]);
    }
    json_array_foreach(json_object_get(root, "blocked_keywords"), i, v)
    {
        if (p->n_keywords < POLICY_MAX_KEYWORDS && json_is_string(v) &&
            strlen(json_string_value(v)) < sizeof(p->keywords[0]))
            snprintf(p->keywords[p->n_keywords++], sizeof(p->keywords[0]), "%s",
                     json_string_value(v));
    }
    json_decref(root);
}

/* One text of message i: block, or mask in place. Returns 1 when blocked. */
static int check_text(const ingest_policy_t *p, char *text, size_t msg, policy_verdict_t *v)
{
    lq_secret_finding_t f[16];
    size_t n, k, len, off;
    int w;

    if (!text || !*text)
        return 0;
    len = strlen(text);
    for (w = 0; w < p->n_keywords; w++) {
        if (lq_contains_word(text, len, p->keywords[w])) {
            v->blocked = 1;
            snprintf(v->policy, sizeof(v->policy), "blocked_keyword");
            snprintf(v->what, sizeof(v->what), "%s", p->keywords[w]);
            snprintf(v->param, sizeof(v->param), "messages[%zu]", msg);
            return 1;
        }
    }
    /* until a scan finds nothing to mask (masking can expose a neighbour; each pass masks
     * at least one finding or stops) */
    for (;;) {
        size_t masked = 0;
        for (off = 0; off < len;) {
            n = lq_secret_scan(text + off, len - off, f, 16);
            for (k = 0; k < n && k < 16; k++) {
                policy_action_t a = (policy_action_t)p->action[f[k].kind];
                f[k].start += off;
                if (a == POLICY_BLOCK) {
                    v->blocked = 1;
                    snprintf(v->policy, sizeof(v->policy), "secret_detected");
                    snprintf(v->what, sizeof(v->what), "%s", lq_secret_kind_name(f[k].kind));
                    snprintf(v->param, sizeof(v->param), "messages[%zu]", msg);
                    return 1;
                }
                if (a == POLICY_REDACT) {
                    lq_secret_mask(text, &f[k], 1);
                    v->redacted++;
                    masked++;
                }
            }
            if (n <= 16)
                break;
            off = f[15].start + f[15].len; /* more than 16: go on after the last one seen */
        }
        if (!masked)
            return 0;
    }
}

/* Every string inside a JSON value, decoded: checked, and replaced by its masked form when
 * something was masked. (Never scan serialized JSON: its escapes hide word boundaries and
 * masking could run over its syntax.) Returns 1 when blocked. */
static int check_json_value(const ingest_policy_t *p, json_t *j, size_t msg, policy_verdict_t *v,
                            int *changed)
{
    size_t i;
    const char *k;
    json_t *e;

    if (json_is_string(j)) {
        char *copy = strdup(json_string_value(j));
        int before = v->redacted, blocked;
        if (!copy)
            return 0;
        blocked = check_text(p, copy, msg, v);
        if (!blocked && v->redacted != before) {
            json_string_set(j, copy);
            *changed = 1;
        }
        free(copy);
        return blocked;
    }
    if (json_is_array(j)) {
        json_array_foreach(j, i, e) if (check_json_value(p, e, msg, v, changed)) return 1;
    } else if (json_is_object(j)) {
        json_object_foreach(j, k, e) if (check_json_value(p, e, msg, v, changed)) return 1;
    }
    return 0;
}

/* Could the decoded strings of this JSON text hold anything the policy acts on? The raw
 * text answers for almost every request without parsing it: a secret reads the same in
 * JSON as decoded (escapes count as word boundaries for the scanner), a keyword too when
 * matched anywhere; only \u and \/ escapes can hide one, so those are decoded. */
static int worth_decoding(const ingest_policy_t *p, const char *text)
{
    lq_secret_finding_t f;
    int w;

    if (strstr(text, "\\u") || strstr(text, "\\/") || lq_secret_scan(text, strlen(text), &f, 1))
        return 1;
    for (w = 0; w < p->n_keywords; w++)
        if (strcasestr(text, p->keywords[w]))
            return 1;
    return 0;
}

/* A JSON text field of a message (content parts, tool calls): check its strings and
 * re-serialize it when one was masked. */
static int check_json_text(const ingest_policy_t *p, char **text, size_t msg, policy_verdict_t *v)
{
    json_error_t jerr;
    json_t *root;
    int changed = 0, blocked;

    if (!*text || !worth_decoding(p, *text))
        return 0;
    root = json_loads(*text, JSON_DECODE_ANY, &jerr);
    if (!root) /* not JSON (the parser made it, so this does not happen): as text */
        return check_text(p, *text, msg, v);
    blocked = check_json_value(p, root, msg, v, &changed);
    if (!blocked && changed) {
        char *out = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY);
        if (out) {
            free(*text);
            *text = out;
        }
    }
    json_decref(root);
    return blocked;
}

void ingest_policy_apply(const ingest_policy_t *p, lq_chat_request_t *req, policy_verdict_t *v)
{
    size_t i;

    memset(v, 0, sizeof(*v));
    for (i = 0; i < req->n_messages; i++) {
        lq_message_t *m = &req->messages[i];
        if (check_text(p, m->content, i, v) || check_text(p, m->name, i, v) ||
            check_json_text(p, &m->content_json, i, v) || check_json_text(p, &m->extra_json, i, v))
            return;
    }
    /* fields of the request llmq passes through (tools, metadata, ...) and the user id */
    if (check_text(p, req->user, req->n_messages, v) ||
        check_json_text(p, &req->extra_json, req->n_messages, v)) {
        snprintf(v->param, sizeof(v->param), "%s", "request");
        return;
    }
}

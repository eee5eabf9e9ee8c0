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

typedef struct policy_sweep {
    const ingest_policy_t *p;
    policy_verdict_t *v;
    size_t msg;
    int blocked; /* by this text */
} policy_sweep_t;

/* A finding: block the request, mask it, or leave it (its kind's action). */
static lq_sweep_action_t policy_visit(void *arg, const lq_secret_finding_t *f)
{
    policy_sweep_t *c = arg;
    policy_action_t a = (policy_action_t)c->p->action[f->kind];

    if (a == POLICY_BLOCK) {
        c->blocked = c->v->blocked = 1;
        snprintf(c->v->policy, sizeof(c->v->policy), "secret_detected");
        snprintf(c->v->what, sizeof(c->v->what), "%s", lq_secret_kind_name(f->kind));
        snprintf(c->v->param, sizeof(c->v->param), "messages[%zu]", c->msg);
        return LQ_SWEEP_STOP;
    }
    if (a == POLICY_REDACT) {
        c->v->redacted++;
        return LQ_SWEEP_MASK;
    }
    return LQ_SWEEP_KEEP;
}

/* One text of message i: block, or mask in place. Returns 1 when blocked. */
static int check_text(const ingest_policy_t *p, char *text, size_t msg, policy_verdict_t *v)
{
    policy_sweep_t ctx = {p, v, msg, 0};
    size_t len;
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
    lq_secret_sweep(text, len, 0, policy_visit, &ctx);
    return ctx.blocked;
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

/* The "text" string of a text part, or NULL. */
static json_t *text_of(json_t *part)
{
    const char *type = json_string_value(json_object_get(part, "type"));

    return type && strcmp(type, "text") == 0 && json_is_string(json_object_get(part, "text"))
               ? json_object_get(part, "text")
               : NULL;
}

/* Can this content array hold two text parts? Each text part writes the token "text" twice
 * (its "type" value and its key) unless escaped as \u, which worth_decoding catches; fewer
 * than four tokens means one text part at most, nothing to join. Counting more (a "text"
 * elsewhere) only costs a decode. */
static int may_join(const char *raw)
{
    int n = 0;

    for (; (raw = strstr(raw, "\"text\"")) != NULL; raw += 6)
        if (++n >= 4)
            return 1;
    return 0;
}

/* Could the joined text parts of this content array hold a finding? content holds the
 * parts' texts joined by '\n' (request_parse.c): when no part holds a newline of its own
 * (no \n escape in the raw JSON; \u ones make worth_decoding answer), removing the
 * newlines gives the joined text without decoding the JSON. */
static int joined_worth_decoding(const ingest_policy_t *p, const char *raw, const char *content)
{
    size_t i, o = 0;
    char *joined;
    int r;

    if (!may_join(raw))
        return 0;
    if (!content || strstr(raw, "\\n") || !(joined = malloc(strlen(content) + 1)))
        return 1;
    for (i = 0; content[i]; i++)
        if (content[i] != '\n')
            joined[o++] = content[i];
    joined[o] = '\0';
    r = worth_decoding(p, joined);
    free(joined);
    return r;
}

/* Add the masks of joined (the parts' texts back to back) to the parts and to content,
 * which holds the same texts joined by '\n' (as the parser wrote it; left alone when it
 * does not). Masking keeps lengths, so each part's bytes sit at a known offset; a byte
 * masked once stays masked (the union with what each part's own scan masked). */
static void unjoin(json_t *parts, const char *joined, size_t total, char *content)
{
    size_t i, o = 0, co = 0, n_text = 0;
    json_t *part, *t;
    int same;

    json_array_foreach(parts, i, part) if (text_of(part)) n_text++;
    same = content && strlen(content) == total + n_text - 1;
    json_array_foreach(parts, i, part)
    {
        size_t n, full, b;
        char *copy;
        if (!(t = text_of(part)))
            continue;
        n = strlen(json_string_value(t));
        full = json_string_length(t); /* a \u0000 ends the text the parser joined */
        if ((copy = malloc(full + 1)) != NULL) {
            memcpy(copy, json_string_value(t), full + 1);
            for (b = 0; b < n; b++)
                if (joined[o + b] == '*')
                    copy[b] = '*';
            if (memcmp(copy, json_string_value(t), n) != 0)
                json_string_setn(t, copy, full);
            free(copy);
        }
        for (b = 0; same && b < n; b++)
            if (joined[o + b] == '*')
                content[co + b] = '*';
        co += n + 1;
        o += n;
    }
}

/* The texts of the text parts back to back (NULL when fewer than two); *total its length. */
static char *join_texts(json_t *parts, size_t *total)
{
    size_t i, o = 0, n_text = 0;
    json_t *part, *t;
    char *joined;

    *total = 0;
    json_array_foreach(parts, i, part) if ((t = text_of(part)) && ++n_text) *total +=
        strlen(json_string_value(t));
    if (n_text < 2 || !(joined = malloc(*total + 1)))
        return NULL;
    json_array_foreach(parts, i, part) if ((t = text_of(part)))
    {
        size_t n = strlen(json_string_value(t));
        memcpy(joined + o, json_string_value(t), n);
        o += n;
    }
    joined[*total] = '\0';
    return joined;
}

/* Content parts: the model reads a message's text parts as one text, joined in order, so a
 * secret split across two parts (even around an image part between them) must not pass.
 * OpenAI concatenates the parts it gets; Anthropic and Gemini get one block per part, read
 * in order. No separator is the conservative join: a secret that spans a boundary is found
 * whatever the provider puts there. Each part's strings are also checked alone
 * (check_json_value), which finds what a glued neighbour would hide ("x" + "sk-…"). Both
 * scan the texts as given; the masks are then united, so a split secret reads like one
 * masked whole (its first 4 and last 2 characters kept). Returns 1 when blocked. */
static int check_parts(const ingest_policy_t *p, json_t *parts, char *content, size_t msg,
                       policy_verdict_t *v, int *changed)
{
    size_t total;
    char *joined = join_texts(parts, &total);
    int before = v->redacted, blocked, masked;

    blocked = joined && check_text(p, joined, msg, v);
    masked = v->redacted != before;
    blocked = blocked || check_json_value(p, parts, msg, v, changed);
    if (!blocked && masked) {
        unjoin(parts, joined, total, content);
        *changed = 1;
    }
    free(joined);
    return blocked;
}

/* A JSON text field of a message (content parts when parts is set, tool calls): check
 * its strings (and the joined text parts of content) and re-serialize it when one was
 * masked. */
static int check_json_text(const ingest_policy_t *p, char **text, int parts, char *content,
                           size_t msg, policy_verdict_t *v)
{
    json_error_t jerr;
    json_t *root;
    int changed = 0, blocked;

    if (!*text ||
        !(worth_decoding(p, *text) || (parts && joined_worth_decoding(p, *text, content))))
        return 0;
    root = json_loads(*text, JSON_DECODE_ANY, &jerr);
    if (!root) /* not JSON (the parser made it, so this does not happen): as text */
        return check_text(p, *text, msg, v);
    blocked = parts && json_is_array(root) ? check_parts(p, root, content, msg, v, &changed)
                                           : check_json_value(p, root, msg, v, &changed);
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
        /* the parts first: their joined check reads content before content is masked */
        if (check_json_text(p, &m->content_json, 1, m->content, i, v) ||
            check_text(p, m->content, i, v) || check_text(p, m->name, i, v) ||
            check_json_text(p, &m->extra_json, 0, NULL, i, v))
            return;
    }
    /* fields of the request llmq passes through (tools, metadata, ...) and the user id */
    if (check_text(p, req->user, req->n_messages, v) ||
        check_json_text(p, &req->extra_json, 0, NULL, req->n_messages, v)) {
        snprintf(v->param, sizeof(v->param), "%s", "request");
        return;
    }
}

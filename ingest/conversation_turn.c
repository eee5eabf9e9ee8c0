#include "ingest/conversation_turn.h"

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/openai_json.h"
#include "ingest/admin_run.h"
#include "ingest/conversations.h"
#include "ingest/request_parse.h"
#include "ingest/sse_out.h"
#include "ingest/submit.h"

#define ASYNC_TURN_BUSY_MS 86400000 /* an async turn may wait in the queue: a day at most */

/* ---------- POST /v1/conversations/{id}/messages ---------- */

static int refuse_turn(req_ctx_t *c, const char *param, const char *code, const char *msg)
{
    ingest_ctx_set_error(c, 400, msg, "invalid_request_error", param, code);
    return 0;
}

/* The turn's body as a chat request's: content → messages, async → the route, the
 * conversation named. */
static int rewrite_turn(req_ctx_t *c)
{
    json_error_t jerr;
    json_t *o = c->len ? json_loadb(c->body, c->len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    json_t *content, *async;
    char *text;
    int ok = 0;

    if (!json_is_object(o)) {
        ok = refuse_turn(c, NULL, "invalid_json", "The request body must be a JSON object.");
    } else if ((content = json_object_get(o, "content")) && json_object_get(o, "messages")) {
        ok = refuse_turn(c, "content", "invalid_value", "Send content or messages, not both.");
    } else if ((async = json_object_get(o, "async")) && !json_is_boolean(async)) {
        ok = refuse_turn(c, "async", "invalid_type", "async must be a boolean");
    } else {
        c->turn_async = json_is_true(async);
        if (content) {
            json_object_set_new(o, "messages",
                                json_pack("[{s:s,s:O}]", "role", "user", "content", content));
            json_object_del(o, "content");
        }
        json_object_del(o, "async");
        json_object_set_new(o, "conversation", json_string(ingest_path_param(&c->params, "id")));
        if ((text = json_dumps(o, JSON_COMPACT)) != NULL) {
            free(c->body);
            c->body = text;
            c->len = c->cap = strlen(text);
            ok = 1;
        } else {
            ingest_ctx_set_internal_error(c);
        }
    }
    json_decref(o);
    return ok;
}

ingest_step_t ingest_conversation_turn(req_ctx_t *c)
{
    if (!c->turn_rewritten) {
        c->turn_rewritten = 1;
        if (!rewrite_turn(c))
            return INGEST_STEP_ANSWER;
    }
    return c->turn_async ? ingest_submit_job(c) : ingest_submit_chat(c);
}

/* ---------- beginning a turn ---------- */

static void begun(const PGresult *res, const char *errmsg, void *arg)
{
    req_ctx_t *c = arg;
    int status = 500;
    char *body;

    if (res && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
        (c->conv_begun = strdup(PQgetvalue(res, 0, 0))) != NULL) {
        c->conv_state = INGEST_CONV_BEGUN;
        c->phase = REQ_AUTH; /* the handler runs again, past this step */
    } else {
        c->conv_state = INGEST_CONV_ENDED; /* nothing begun */
        c->admin.ok_status = 200;
        body = ingest_admin_answer(&c->admin, res, errmsg, &status);
        ingest_ctx_set_text(c, (unsigned)status, body, body ? strlen(body) : 0);
        if (status == 409)
            c->retry_after = 1; /* the turn under way ends soon (the SDK retries a 409) */
    }
    ingest_ctx_resume(c);
}

/* The new messages as the body has them (JSON text, malloc'ed). */
static char *new_messages(const req_ctx_t *c)
{
    json_error_t jerr;
    json_t *o = json_loadb(c->body, c->len, 0, &jerr);
    char *text = o ? json_dumps(json_object_get(o, "messages"), JSON_COMPACT) : NULL;

    json_decref(o);
    return text;
}

/* A turn's busy mark until its request is in Kafka: the time the node gives Kafka, and a
 * margin. A node that dies before that leaves a mark that runs out within seconds; the turn
 * is then undone (ops/migrations/0014_turn_leases.sql). */
static long long queue_lease_ms(const req_ctx_t *c)
{
    return c->node->set.ingest.enqueue_timeout_ms + 10000;
}

static ingest_step_t begin(req_ctx_t *c, const lq_chat_request_t *req, int async)
{
    char busy[24], max_tokens[24], *caller = ingest_caller_json(c), *msgs = new_messages(c);
    const char *params[7];

    if (!caller || !msgs) {
        free(caller);
        free(msgs);
        ingest_ctx_set_internal_error(c);
        return INGEST_STEP_ANSWER;
    }
    if (!c->conv_job[0]) /* (an Idempotency-Key chose it already) */
        lq_uuid7(c->conv_job, lq_wall_ms());
    (void)async; /* its full time comes once Kafka has the request (ingest_conversation_queued) */
    snprintf(busy, sizeof(busy), "%lld", queue_lease_ms(c));
    params[0] = caller;
    params[1] = req->conversation_id;
    params[2] = c->conv_job;
    params[3] = msgs;
    params[4] = busy;
    params[5] = req->model; /* the window's budget: the conversation's, else the model's */
    snprintf(max_tokens, sizeof(max_tokens), "%d", (int)req->max_tokens);
    params[6] = req->has_max_tokens ? max_tokens : NULL; /* context less the answer */
    c->conv_state = INGEST_CONV_BEGINNING;
    ingest_ctx_suspend(c);
    if (ingest_pg_submit(c->node->pg,
                         "SELECT conversation_turn_begin($1::jsonb, $2, $3::uuid, $4::jsonb,"
                         " $5::int, $6, $7::int)::text",
                         7, params, begun, c)) {
        c->conv_state = INGEST_CONV_ENDED;
        ingest_ctx_set_unavailable(c, "Too many requests waiting for the database; retry later.",
                                   "database_busy");
        ingest_ctx_resume(c);
    }
    free(caller);
    free(msgs);
    return INGEST_STEP_SUSPENDED;
}

/* ---------- the prompt: system prompt, context, history, the new messages ---------- */

typedef struct text_buf {
    char *p;
    size_t n, cap, max; /* max: the most it may hold */
    int failed;         /* 1: out of memory, 2: over max */
} text_buf_t;

static void put(text_buf_t *b, const char *s, size_t len)
{
    if (b->failed)
        return;
    if (len > b->max - b->n) {
        b->failed = 2;
        return;
    }
    if (b->n + len + 1 > b->cap) {
        size_t cap = (b->n + len + 1) * 2;
        char *nb = realloc(b->p, cap);
        if (!nb) {
            b->failed = 1;
            return;
        }
        b->p = nb;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

/* A context value as text: a string as it is, anything else as JSON. */
static void put_value(text_buf_t *b, json_t *v)
{
    char *val;

    if (json_is_string(v)) {
        put(b, json_string_value(v), json_string_length(v));
        return;
    }
    if ((val = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) != NULL)
        put(b, val, strlen(val));
    free(val);
}

/* The context rendered: the template with each {{name}} replaced by its value, or
 * "name: value" lines without a template. NULL without memory, or (*too_big set) when it
 * would be longer than max: a 16 KiB template naming a 16 KiB value a thousand times
 * renders to megabytes. */
static char *render_context(json_t *ctx, const char *tpl, size_t max, int *too_big)
{
    text_buf_t b = {NULL, 0, 0, max, 0};
    const char *k, *p;
    json_t *v;

    put(&b, "", 0);
    if (!tpl) {
        put(&b, "Context:", 8);
        json_object_foreach(ctx, k, v)
        {
            put(&b, "\n", 1);
            put(&b, k, strlen(k));
            put(&b, ": ", 2);
            put_value(&b, v);
        }
    }
    for (p = tpl; p && *p;) {
        const char *open = strstr(p, "{{"), *close = open ? strstr(open + 2, "}}") : NULL;
        char name[256];
        if (!open || !close) {
            put(&b, p, strlen(p));
            break;
        }
        put(&b, p, (size_t)(open - p));
        snprintf(name, sizeof(name), "%.*s", (int)(close - open - 2 < 255 ? close - open - 2 : 255),
                 open + 2);
        if ((v = json_object_get(ctx, name)) != NULL)
            put_value(&b, v);
        p = close + 2;
    }
    if (b.failed) {
        *too_big = b.failed == 2;
        free(b.p);
        return NULL;
    }
    return b.p;
}

static int system_message(lq_message_t *m, char *text)
{
    memset(m, 0, sizeof(*m));
    m->role = strdup("system");
    m->content = text;
    return m->role && m->content;
}

/* The messages before the new ones; their count in *n. A context that renders to more
 * than max bytes (more than one Kafka record holds) is a 400 in *perr. */
static lq_message_t *prefix_of(json_t *conv, json_t *history, size_t max, size_t *n,
                               ingest_parse_error_t *perr)
{
    size_t cap = json_array_size(history) + 2, i;
    lq_message_t *m = calloc(cap, sizeof(*m));
    const char *sys = json_string_value(json_object_get(conv, "system_prompt"));
    json_t *ctx = json_object_get(conv, "context");
    ingest_parse_error_t stored;
    int too_big = 0;

    *n = 0;
    if (!m)
        return NULL;
    if (sys && *sys && !system_message(&m[(*n)++], strdup(sys)))
        goto fail;
    if (json_object_size(ctx) &&
        !system_message(&m[(*n)++],
                        render_context(ctx,
                                       json_string_value(json_object_get(conv, "context_template")),
                                       max, &too_big))) {
        if (too_big) {
            perr->status = 400;
            snprintf(perr->message, sizeof(perr->message),
                     "This conversation's context renders to more than %zu bytes, more than a "
                     "queued request can hold: shorten its values or its template.",
                     max);
            snprintf(perr->param, sizeof(perr->param), "context_template");
            snprintf(perr->code, sizeof(perr->code), "context_too_large");
        }
        goto fail;
    }
    for (i = 0; i < json_array_size(history); i++)
        if (ingest_parse_message(json_array_get(history, i), i, &m[(*n)++], &stored))
            goto fail; /* llmq wrote it: not the caller's error */
    return m;
fail:
    for (i = 0; i < *n; i++) {
        free(m[i].role);
        free(m[i].content);
        free(m[i].content_json);
        free(m[i].name);
        free(m[i].extra_json);
    }
    free(m);
    return NULL;
}

static ingest_step_t assemble(req_ctx_t *c, lq_chat_request_t *req)
{
    json_t *root = json_loads(c->conv_begun, 0, NULL);
    json_t *conv = json_object_get(root, "conversation");
    ingest_parse_error_t perr;
    lq_message_t *all, *pre;
    size_t n_pre;
    const char *model = json_string_value(json_object_get(conv, "model"));

    if (!req->model && !(model && (req->model = strdup(model)))) {
        json_decref(root);
        ingest_ctx_set_error(c, 400, "This conversation has no model: name one.",
                             "invalid_request_error", "model", "missing_required_parameter");
        return INGEST_STEP_ANSWER;
    }
    perr.status = 0;
    pre = prefix_of(conv, json_object_get(root, "history"), c->node->max_record, &n_pre, &perr);
    json_decref(root);
    if (!pre && perr.status) {
        ingest_ctx_set_error(c, perr.status, perr.message, "invalid_request_error", perr.param,
                             perr.code);
        return INGEST_STEP_ANSWER;
    }
    all = pre ? realloc(pre, (n_pre + req->n_messages) * sizeof(*all)) : NULL;
    if (!all) {
        free(pre);
        ingest_ctx_set_internal_error(c);
        return INGEST_STEP_ANSWER;
    }
    memcpy(all + n_pre, req->messages, req->n_messages * sizeof(*all));
    free(req->messages);
    req->messages = all;
    req->n_messages += n_pre;
    return INGEST_STEP_NEXT;
}

ingest_step_t ingest_conversation_prepare(req_ctx_t *c, lq_chat_request_t *req, int async)
{
    if (!req->conversation_id)
        return INGEST_STEP_NEXT;
    switch (c->conv_state) {
    case INGEST_CONV_NONE:
        return begin(c, req, async);
    case INGEST_CONV_BEGUN:
        return assemble(c, req);
    default:
        ingest_ctx_set_internal_error(c);
        return INGEST_STEP_ANSWER;
    }
}

/* ---------- ending a turn ---------- */

/* The turn's end is written (or could not be: the sink stores it). */
static void ended(const PGresult *res, const char *errmsg, void *arg)
{
    req_ctx_t *c = arg;

    (void)res;
    if (errmsg)
        LQ_WARN("a conversation's turn was not stored here (the sink stores it): %s", errmsg);
    if (!c)
        return;
    if (c->conv_then == INGEST_TURN_THEN_RELEASE_STREAM) {
        ingest_sse_out_release(c);
        ingest_ctx_unref(c); /* taken in end_turn */
    } else {
        ingest_ctx_resume(c);
    }
}

static void then_now(req_ctx_t *c, ingest_turn_then_t then)
{
    if (then == INGEST_TURN_THEN_RESUME)
        ingest_ctx_resume(c);
    else if (then == INGEST_TURN_THEN_RELEASE_STREAM)
        ingest_sse_out_release(c);
}

static void end_turn(req_ctx_t *c, const char *job, const lq_chat_response_t *resp,
                     ingest_turn_then_t then)
{
    lq_jsonw_t w;
    int ok = resp && resp->status == LQ_STATUS_SUCCEEDED && resp->n_choices > 0;
    const char *params[1];

    lq_jsonw_init(&w);
    lq_jsonw_arr_open(&w);
    lq_jsonw_obj_open(&w);
    lq_jsonw_kstr(&w, "job", job);
    lq_jsonw_key(&w, "ok");
    lq_jsonw_bool(&w, ok);
    if (ok) {
        lq_jsonw_key(&w, "reply");
        lq_openai_write_message(&w, &resp->choices[0]);
    }
    lq_jsonw_obj_close(&w);
    lq_jsonw_arr_close(&w);
    params[0] = w.p;
    c->conv_then = then;
    if (then == INGEST_TURN_THEN_RELEASE_STREAM)
        ingest_ctx_ref(c); /* the client may go away while the end is written */
    if (w.failed || ingest_pg_submit(c->node->pg, "SELECT conversation_turns_end($1::jsonb)", 1,
                                     params, ended, then != INGEST_TURN_THEN_NOTHING ? c : NULL)) {
        LQ_WARN("job %s: its conversation's turn is left to the sink", job);
        then_now(c, then);
        if (then == INGEST_TURN_THEN_RELEASE_STREAM)
            ingest_ctx_unref(c);
    }
    lq_jsonw_free(&w);
}

static void queued_noted(const PGresult *res, const char *errmsg, void *arg)
{
    (void)res;
    (void)arg;
    if (errmsg) /* the turn's lease runs out and the turn is undone */
        LQ_WARN("a conversation's turn was not marked queued: %s", errmsg);
}

void ingest_conversation_queued(req_ctx_t *c)
{
    char busy[24];
    const char *params[2];

    if (c->conv_state != INGEST_CONV_BEGUN)
        return;
    snprintf(busy, sizeof(busy), "%lld",
             c->mode == LQ_MODE_ASYNC ? (long long)ASYNC_TURN_BUSY_MS
                                      : (long long)c->node->sync_timeout_ms + 60000);
    params[0] = c->job_id;
    params[1] = busy;
    if (ingest_pg_submit(c->node->pg, "SELECT conversation_turn_queued($1::uuid, $2::int)", 2,
                         params, queued_noted, NULL))
        LQ_WARN("job %s: its conversation's turn was not marked queued", c->job_id);
}

int ingest_conversation_pending(const req_ctx_t *c)
{
    return c->conv_state == INGEST_CONV_BEGUN;
}

void ingest_conversation_end(req_ctx_t *c, const lq_chat_response_t *resp, ingest_turn_then_t then)
{
    if (c->conv_state != INGEST_CONV_BEGUN) {
        then_now(c, then);
        return;
    }
    c->conv_state = INGEST_CONV_ENDED;
    end_turn(c, c->job_id, resp, then);
}

void ingest_conversation_release(req_ctx_t *c)
{
    if (c->conv_state != INGEST_CONV_BEGUN || c->conv_queued)
        return; /* no turn, ended, or its job will end it */
    c->conv_state = INGEST_CONV_ENDED;
    end_turn(c, c->conv_job, NULL, INGEST_TURN_THEN_NOTHING);
}

#include "ingest/submit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "ingest/conversation_turn.h"
#include "ingest/direct_replies.h"
#include "ingest/idempotency.h"
#include "ingest/limit_step.h"
#include "ingest/policy.h"
#include "ingest/produce.h"
#include "schemas/codec.h"

/* The body as a ChatRequest; 0 with the 400 answer set when it is not one. */
static int parse_body(req_ctx_t *c, int chat, lq_chat_request_t *req, int *stream)
{
    ingest_parse_error_t perr;

    if (ingest_parse_chat(c->body ? c->body : "", c->len, &c->node->limits, req, stream, &perr)) {
        ingest_ctx_set_error(c, (unsigned)perr.status, perr.message,
                             perr.status == 400 ? "invalid_request_error" : "server_error",
                             perr.param[0] ? perr.param : NULL, perr.code[0] ? perr.code : NULL);
        return 0;
    }
    if (*stream && !chat) {
        lq_chat_request_clear(req);
        ingest_ctx_set_error(c, 400,
                             "stream: true is for POST /v1/chat/completions; a job's "
                             "result is read with GET /v1/jobs/{id}.",
                             "invalid_request_error", "stream", "unsupported_value");
        return 0;
    }
    return 1;
}

static void audit_done(const PGresult *res, const char *errmsg, void *arg)
{
    (void)res;
    (void)arg;
    if (errmsg)
        LQ_WARN("policy block not recorded in the audit log: %s", errmsg);
}

/* A blocked request goes to the tenant's audit log (what was found, never the text). */
static void audit_block(req_ctx_t *c, const policy_verdict_t *v)
{
    char actor[256];
    const char *params[4];
    json_t *d = json_pack("{s:s,s:s,s:s}", "found", v->what, "where", v->param, "project",
                          c->id.project_id);
    char *dt = d ? json_dumps(d, JSON_COMPACT) : NULL;

    json_decref(d);
    snprintf(actor, sizeof(actor), "key:%s%s%s (%s)", c->id.key_id,
             c->id.user_id[0] ? " user:" : "", c->id.user_id, ingest_role_name(c->id.role));
    params[0] = c->id.tenant_id;
    params[1] = actor;
    params[2] = v->policy;
    params[3] = dt ? dt : "{}";
    if (ingest_pg_submit(c->node->pg, "SELECT audit_append($1, $2, 'policy.block', $3, $4::jsonb)",
                         4, params, audit_done, NULL))
        LQ_WARN("policy block of tenant %s not recorded: the database queue is full",
                c->id.tenant_id);
    free(dt);
}

/* The prompt policy: secrets masked in place, or the request blocked (0, answer set). */
static int policy_passes(req_ctx_t *c, lq_chat_request_t *req)
{
    policy_verdict_t v;
    char msg[300];

    ingest_policy_apply(&c->id.policy, req, &v);
    if (v.redacted && c->limit_state == INGEST_LIMIT_NONE) /* counted once, not on a rerun */
        lq_metric_add(c->node->m_policy_redacted, v.redacted);
    if (!v.blocked)
        return 1;
    lq_metric_add(c->node->m_policy_blocked, 1);
    snprintf(msg, sizeof(msg), "The request was blocked by the policy %s (%s %s in %s).", v.policy,
             strcmp(v.policy, "blocked_keyword") == 0 ? "the keyword" : "a", v.what, v.param);
    audit_block(c, &v);
    ingest_ctx_set_error(c, 400, msg, "invalid_request_error", v.param, "policy_violation");
    return 0;
}

/* The job's id, time, model and mode. */
static int name_job(req_ctx_t *c, int chat, int stream, const char *model)
{
    if (!c->created_ms) /* (a request a limit admitted was created when it was admitted) */
        c->created_ms = lq_cluster_ms();
    if (c->conv_job[0]) /* a conversation's turn: its job id was chosen when it began */
        snprintf(c->job_id, sizeof(c->job_id), "%s", c->conv_job);
    else
        lq_uuid7(c->job_id, c->created_ms);
    snprintf(c->model, sizeof(c->model), "%s", model);
    snprintf(c->sse.model, sizeof(c->sse.model), "%s", model);
    c->mode = !chat ? LQ_MODE_ASYNC : stream ? LQ_MODE_STREAM : LQ_MODE_SYNC;
    return c->mode != LQ_MODE_STREAM || ingest_ctx_enable_stream(c, stream) == 0;
}

/* Who sent it, and where its result goes: into the record. */
static int address_record(req_ctx_t *c, lq_chat_request_t *req)
{
    req->job_id = strdup(c->job_id);
    req->tenant_id = strdup(c->id.tenant_id);
    req->project_id = c->id.project_id[0] ? strdup(c->id.project_id) : NULL;
    req->api_key_id = strdup(c->id.key_id);
    req->user_id = c->id.user_id[0] ? strdup(c->id.user_id) : NULL;
    req->created_at_ms = c->created_ms;
    req->mode = c->mode;
    req->weight = c->id.weight > 0 ? c->id.weight : 1; /* the tier's share in the fair queue */
    if (c->node->limiter) { /* the worker reserves tokens and money, and paces async jobs */
        char limits[2048];
        if (lq_limits_format(&c->id.limits, limits, sizeof(limits)) > 0 &&
            !(req->limits = strdup(limits)))
            return 0;
    }
    if (c->mode != LQ_MODE_ASYNC) {
        req->reply_topic = strdup(c->node->reply_topic);
        req->deadline_ms = c->created_ms + c->node->sync_timeout_ms;
    }
    if (c->mode != LQ_MODE_ASYNC && c->node->direct &&
        !(req->reply_url = strdup(ingest_direct_url(c->node->direct))))
        return 0;
    return req->job_id && req->tenant_id && req->api_key_id &&
           (c->mode == LQ_MODE_ASYNC || req->reply_topic);
}

static ingest_step_t submit(req_ctx_t *c, int chat)
{
    lq_codec_t *codec = lq_codec_thread();
    lq_chat_request_t req;
    const void *buf = NULL;
    size_t len = 0;
    int stream = 0;
    char errstr[256] = "";
    ingest_step_t step;

    if (!codec) {
        ingest_ctx_set_internal_error(c);
        return INGEST_STEP_ANSWER;
    }
    if (!parse_body(c, chat, &req, &stream))
        return INGEST_STEP_ANSWER;
    if (!policy_passes(c, &req)) {
        lq_chat_request_clear(&req);
        return INGEST_STEP_ANSWER;
    }
    /* chat: its limits (async jobs are paced by the worker); jobs: an Idempotency-Key */
    step = chat ? ingest_limit_admit(c) : ingest_idempotency_claim(c, req.model);
    if (step == INGEST_STEP_NEXT)
        step = ingest_conversation_prepare(c, &req, !chat);
    if (step != INGEST_STEP_NEXT) {
        lq_chat_request_clear(&req);
        return step;
    }
    if (name_job(c, chat, stream, req.model) && address_record(c, &req) &&
        lq_encode_chat_request(codec, &req, &buf, &len, errstr, sizeof(errstr)) == LQ_OK) {
        lq_chat_request_clear(&req);
        if (len > c->node->max_record) { /* the encoding can outgrow the body */
            ingest_produce_set_too_large(c, len);
            c->job_id[0] = '\0'; /* no job */
            return INGEST_STEP_ANSWER;
        }
        return ingest_produce_request(c, buf, len); /* buf stays valid: the codec is ours */
    }
    lq_chat_request_clear(&req);
    LQ_ERROR("job %s: cannot encode: %s", c->job_id, errstr);
    c->job_id[0] = '\0';
    ingest_ctx_set_internal_error(c);
    return INGEST_STEP_ANSWER;
}

ingest_step_t ingest_submit_chat(req_ctx_t *c)
{
    return submit(c, 1);
}

ingest_step_t ingest_submit_job(req_ctx_t *c)
{
    return submit(c, 0);
}

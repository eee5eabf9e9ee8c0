#include "ingest/limit_step.h"

#include <stdio.h>
#include <string.h>

#include "common/clock.h"

static void fill_ask(const req_ctx_t *c, lq_limit_ask_t *a)
{
    memset(a, 0, sizeof(*a));
    a->limits = &c->id.limits;
    a->ids[LQ_SCOPE_TENANT] = c->id.tenant_id;
    a->ids[LQ_SCOPE_PROJECT] = c->id.project_id;
    a->ids[LQ_SCOPE_USER] = c->id.user_id;
    a->ids[LQ_SCOPE_KEY] = c->id.key_id;
    a->amount[LQ_UNIT_REQ] = 1;
    a->slot = 1;
}

/* 429 in OpenAI's shape, saying which limit and when to retry. */
static void refuse(req_ctx_t *c, const lq_limit_verdict_t *v)
{
    char msg[400], base[300];
    const char *type, *code;
    long long secs = v->retry_after_ms < 0 ? -1 : (v->retry_after_ms + 999) / 1000;

    if (secs == 0)
        secs = 1;
    lq_limit_refusal(v, base, sizeof(base), &type, &code);
    if (secs > 0)
        snprintf(msg, sizeof(msg), "%s Please try again in %llds.%s", base, secs,
                 v->degraded ? " (counted on this node alone: the limit store is unreachable)"
                             : "");
    else
        snprintf(msg, sizeof(msg), "%s The limit does not allow this request.", base);
    ingest_ctx_set_error(c, 429, msg, type, NULL, code);
    c->retry_after = secs > 0 ? (int)(secs > 86400 * 31 ? 86400 * 31 : secs) : 0;
}

static void decided(void *arg, const lq_limit_verdict_t *v)
{
    req_ctx_t *c = arg;

    c->limit = *v;
    c->limit_state = v->outcome == LQ_LIMIT_ADMIT ? INGEST_LIMIT_ADMITTED : INGEST_LIMIT_REFUSED;
    c->created_ms = lq_cluster_ms(); /* the job's time is its admission's, not its rerun's */
    c->phase = REQ_AUTH;             /* the handler runs again, past this step */
    if (atomic_exchange(&c->limit_handoff, 2) == 1)
        ingest_ctx_resume(c); /* else the handler has not suspended yet: it resumes */
}

ingest_step_t ingest_limit_admit(req_ctx_t *c)
{
    lq_limit_ask_t a;

    if (c->limit_state == INGEST_LIMIT_NONE) {
        if (!c->node->limiter)
            return INGEST_STEP_NEXT;
        fill_ask(c, &a);
        if (!lq_limit_ask_limited(&a)) {
            c->limit_state = INGEST_LIMIT_FREE;
            return INGEST_STEP_NEXT;
        }
        c->limit_state = INGEST_LIMIT_PENDING;
        c->phase = REQ_WAIT; /* before the limiter may call back */
        switch (lq_limiter_take(c->node->limiter, &a, &c->limit, decided, c)) {
        case LQ_LIMIT_PENDING:
            MHD_suspend_connection(c->conn);
            if (atomic_exchange(&c->limit_handoff, 1) == 2)
                ingest_ctx_resume(c); /* decided already */
            return INGEST_STEP_SUSPENDED;
        case LQ_LIMIT_ADMIT:
            c->limit_state = INGEST_LIMIT_ADMITTED;
            c->created_ms = lq_cluster_ms();
            break;
        default:
            c->limit_state = INGEST_LIMIT_REFUSED;
            break;
        }
        c->phase = REQ_NEW;
    }
    if (c->limit_state == INGEST_LIMIT_REFUSED) {
        lq_metric_add(c->node->m_limited, 1);
        refuse(c, &c->limit);
        return INGEST_STEP_ANSWER;
    }
    return INGEST_STEP_NEXT;
}

void ingest_limit_release(req_ctx_t *c)
{
    if (c->limit_state != INGEST_LIMIT_ADMITTED || !c->node->limiter)
        return;
    c->limit_state = INGEST_LIMIT_RELEASED;
    lq_limiter_leave(c->node->limiter, &c->limit.ticket);
}

/* OpenAI's duration form: "20ms", "17s", "6m0s", "1h2m3s". */
static void duration(int64_t ms, char *out, size_t n)
{
    long long s = (long long)((ms + 999) / 1000);

    if (ms < 1000)
        snprintf(out, n, "%lldms", (long long)(ms > 0 ? ms : 0));
    else if (s < 60)
        snprintf(out, n, "%llds", s);
    else if (s < 3600)
        snprintf(out, n, "%lldm%llds", s / 60, s % 60);
    else
        snprintf(out, n, "%lldh%lldm%llds", s / 3600, s / 60 % 60, s % 60);
}

void ingest_limit_add_headers(const req_ctx_t *c, struct MHD_Response *r)
{
    static const char *const names[2][3] = {
        {"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
         "x-ratelimit-reset-requests"},
        {"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"}};
    const lq_limit_view_t *v = &c->limit.view;
    char buf[32];
    int i;

    if (c->limit_state != INGEST_LIMIT_ADMITTED && c->limit_state != INGEST_LIMIT_REFUSED &&
        c->limit_state != INGEST_LIMIT_RELEASED)
        return;
    for (i = 0; i < 2; i++) {
        if (!v->has[i])
            continue;
        snprintf(buf, sizeof(buf), "%lld", (long long)v->limit[i]);
        MHD_add_response_header(r, names[i][0], buf);
        snprintf(buf, sizeof(buf), "%lld", (long long)v->remaining[i]);
        MHD_add_response_header(r, names[i][1], buf);
        duration(v->reset_ms[i], buf, sizeof(buf));
        MHD_add_response_header(r, names[i][2], buf);
    }
}

#include "ingest/limits_get.h"

#include <string.h>

static json_t *limits_body(const req_ctx_t *c)
{
    json_t *body = lq_limits_to_json(&c->id.limits);

    if (body)
        json_object_set_new(body, "object", json_string("limits"));
    return body;
}

/* {"tenant": {"rpm": {"limit","used","remaining","reset_seconds"}, ...}, ...}: the limited
 * dimensions of the caller's scopes. Money in USD; concurrency counts the slots nodes hold. */
static json_t *usage_json(const req_ctx_t *c, const lq_limit_usage_t *u)
{
    const lq_limits_t *l = &c->id.limits;
    const char *ids[LQ_LIMIT_SCOPE_COUNT] = {c->id.tenant_id, c->id.project_id, c->id.user_id,
                                             c->id.key_id, "-"};
    json_t *out = json_object();
    int s, d;

    for (s = 0; s < LQ_LIMIT_SCOPE_COUNT; s++) {
        json_t *scope = json_object();
        if (!ids[s][0]) {
            json_decref(scope);
            continue;
        }
        for (d = 0; d < LQ_LIMIT_DIM_COUNT; d++) {
            int64_t lim = l->v[s][d], used = u->used[s][d];
            int usd = lq_limit_dim_is_usd((lq_limit_dim_t)d);
            if (lim < 0)
                continue;
            json_object_set_new(
                scope, lq_limit_dim_name((lq_limit_dim_t)d),
                json_pack("{s:o,s:o,s:o,s:I}", "limit",
                          usd ? json_real((double)lim / LQ_MICRO_USD) : json_integer(lim), "used",
                          usd ? json_real((double)used / LQ_MICRO_USD) : json_integer(used),
                          "remaining",
                          usd ? json_real((double)(lim > used ? lim - used : 0) / LQ_MICRO_USD)
                              : json_integer(lim > used ? lim - used : 0),
                          "reset_seconds", (json_int_t)((u->reset_ms[s][d] + 999) / 1000)));
        }
        json_object_set_new(out, lq_limit_scope_name((lq_limit_scope_t)s), scope);
    }
    return out;
}

static void read_back(void *arg, const lq_limit_usage_t *u)
{
    req_ctx_t *c = arg;
    json_t *body = limits_body(c);

    if (!body) {
        ingest_ctx_set_internal_error(c);
    } else if (!u->ok) {
        json_decref(body);
        ingest_ctx_set_unavailable(c, "The limit ledger cannot be read right now; retry later.",
                                   "database_unavailable");
    } else {
        json_object_set_new(body, "usage", usage_json(c, u));
        ingest_ctx_set_json(c, 200, body);
    }
    ingest_ctx_resume(c);
}

ingest_step_t ingest_limits_get(req_ctx_t *c)
{
    lq_limit_ask_t a;
    json_t *body;

    if (c->node->limiter) {
        memset(&a, 0, sizeof(a));
        a.limits = &c->id.limits;
        a.ids[LQ_SCOPE_TENANT] = c->id.tenant_id;
        a.ids[LQ_SCOPE_PROJECT] = c->id.project_id;
        a.ids[LQ_SCOPE_USER] = c->id.user_id;
        a.ids[LQ_SCOPE_KEY] = c->id.key_id;
        c->phase = REQ_WAIT;
        MHD_suspend_connection(c->conn); /* before the limiter may call back */
        if (lq_limiter_usage(c->node->limiter, &a, read_back, c) == LQ_OK)
            return INGEST_STEP_SUSPENDED;
        MHD_resume_connection(c->conn);
    }
    body = limits_body(c);
    if (!body) {
        ingest_ctx_set_internal_error(c);
        return INGEST_STEP_ANSWER;
    }
    ingest_ctx_set_json(c, 200, body);
    return INGEST_STEP_ANSWER;
}

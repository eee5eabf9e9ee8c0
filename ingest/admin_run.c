#include "ingest/admin_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonw.h"

static void ran(const PGresult *res, const char *errmsg, void *arg)
{
    req_ctx_t *c = arg;
    int status = 500;
    char *body = ingest_admin_answer(&c->admin, res, errmsg, &status);

    ingest_ctx_set_text(c, (unsigned)status, body, body ? strlen(body) : 0);
    ingest_ctx_resume(c);
}

/* The planner's own answer: a refusal, or one made without the database. */
static void set_immediate(req_ctx_t *c, admin_call_t *a)
{
    if (a->immediate) {
        ingest_ctx_set_text(c, (unsigned)a->status, a->immediate, strlen(a->immediate));
        a->immediate = NULL; /* the answer's now */
        return;
    }
    ingest_ctx_set_error(c, (unsigned)a->status, a->message, a->type, a->param[0] ? a->param : NULL,
                         a->code);
    snprintf(c->allow, sizeof(c->allow), "%s", a->allow);
}

static ingest_step_t submit(req_ctx_t *c, const char *sql, int n, const char *const *params)
{
    ingest_ctx_suspend(c);
    if (ingest_pg_submit(c->node->pg, sql, n, params, ran, c)) {
        ingest_ctx_set_unavailable(c, "Too many requests waiting for the database; retry later.",
                                   "database_busy");
        ingest_ctx_resume(c);
    }
    return INGEST_STEP_SUSPENDED;
}

ingest_step_t ingest_run_json_call(req_ctx_t *c, const char *sql, int n, const char *const *params,
                                   int ok_status)
{
    c->admin.ok_status = ok_status;
    return submit(c, sql, n, params);
}

ingest_step_t ingest_admin_run(req_ctx_t *c)
{
    admin_call_t *a = &c->admin;

    ingest_admin_plan(c->method, c->path, c->body ? c->body : "", c->len, &c->id, c->node->master,
                      a);
    if (a->status) {
        set_immediate(c, a);
        return INGEST_STEP_ANSWER;
    }
    return submit(c, a->sql, a->n_params, (const char *const *)a->params);
}

char *ingest_caller_json(const req_ctx_t *c)
{
    lq_jsonw_t w;

    lq_jsonw_init(&w);
    lq_jsonw_obj_open(&w);
    lq_jsonw_kstr(&w, "tenant", c->id.tenant_id);
    lq_jsonw_kstr(&w, "user", c->id.user_id);
    lq_jsonw_kstr(&w, "project", c->id.project_id);
    lq_jsonw_kstr(&w, "key", c->id.key_id);
    lq_jsonw_key(&w, "admin");
    lq_jsonw_bool(&w, c->id.role >= ROLE_ADMIN);
    lq_jsonw_key(&w, "platform");
    lq_jsonw_bool(&w, c->id.role >= ROLE_PLATFORM);
    lq_jsonw_obj_close(&w);
    if (w.failed) {
        lq_jsonw_free(&w);
        return NULL;
    }
    return w.p; /* the writer's buffer is the caller's now */
}

/* Run sql($1 = the caller, $2... = params) and answer its JSON with ok_status. */
ingest_step_t ingest_run_as_caller(req_ctx_t *c, const char *sql, int n, const char **params,
                                   int ok_status)
{
    const char *all[9];
    char *caller = ingest_caller_json(c);
    ingest_step_t step;
    int i;

    if (!caller || n > 8) {
        free(caller);
        ingest_ctx_set_internal_error(c);
        return INGEST_STEP_ANSWER;
    }
    all[0] = caller;
    for (i = 0; i < n; i++)
        all[i + 1] = params[i];
    step = ingest_run_json_call(c, sql, n + 1, all, ok_status);
    free(caller); /* the pool copied the parameters */
    return step;
}

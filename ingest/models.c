#include "ingest/models.h"

#include <string.h>

static void answered(const PGresult *res, const char *errmsg, void *arg)
{
    req_ctx_t *c = arg;
    int status = 500;
    char *body = ingest_admin_answer(&c->admin, res, errmsg, &status);

    ingest_ctx_set_text(c, (unsigned)status, body, body ? strlen(body) : 0);
    ingest_ctx_resume(c);
}

static ingest_step_t run(req_ctx_t *c, const char *id)
{
    const char *params[1] = {id};

    c->admin.ok_status = 200;
    ingest_ctx_suspend(c);
    if (ingest_pg_submit(c->node->pg, "SELECT models_list($1)::text", 1, params, answered, c)) {
        ingest_ctx_set_unavailable(c, "Too many requests waiting for the database; retry later.",
                                   "database_busy");
        ingest_ctx_resume(c);
    }
    return INGEST_STEP_SUSPENDED;
}

ingest_step_t ingest_models_list(req_ctx_t *c)
{
    return run(c, NULL);
}

ingest_step_t ingest_model_get(req_ctx_t *c)
{
    return run(c, ingest_path_param(&c->params, "id"));
}

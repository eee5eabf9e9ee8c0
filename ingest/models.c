#include "ingest/models.h"

#include "ingest/admin_run.h"

static const char *const MODELS_SQL = "SELECT models_list($1)::text";

ingest_step_t ingest_models_list(req_ctx_t *c)
{
    const char *params[1] = {NULL};

    return ingest_run_json_call(c, MODELS_SQL, 1, params, 200);
}

ingest_step_t ingest_model_get(req_ctx_t *c)
{
    const char *params[1] = {ingest_path_param(&c->params, "id")};

    return ingest_run_json_call(c, MODELS_SQL, 1, params, 200);
}

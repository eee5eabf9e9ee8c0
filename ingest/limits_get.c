#include "ingest/limits_get.h"

ingest_step_t ingest_limits_get(req_ctx_t *c)
{
    json_t *body = lq_limits_to_json(&c->id.limits);

    if (!body) {
        ingest_ctx_set_internal_error(c);
        return INGEST_STEP_ANSWER;
    }
    json_object_set_new(body, "object", json_string("limits"));
    ingest_ctx_set_json(c, 200, body);
    return INGEST_STEP_ANSWER;
}

#include "ingest/batches.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/jsonw.h"
#include "ingest/admin_run.h"

/* "batch_" and the 32 hex digits of a new UUIDv7. */
static void new_batch_id(char *out, size_t size)
{
    char uuid[LQ_UUID_STR_LEN + 1];
    size_t i, k;

    lq_uuid7(uuid, lq_wall_ms());
    k = (size_t)snprintf(out, size, "batch_");
    for (i = 0; uuid[i] && k + 1 < size; i++)
        if (uuid[i] != '-')
            out[k++] = uuid[i];
    out[k] = '\0';
}

/* What each of the batch's jobs carries of its creator: the fair-queue weight and the
 * limits (paced by the workers, never refused); and the topic they go to (the batch is run
 * by the nodes that produce to it). */
static char *owner_json(const req_ctx_t *c)
{
    char limits[2048];
    lq_jsonw_t w;

    lq_jsonw_init(&w);
    lq_jsonw_obj_open(&w);
    lq_jsonw_kint(&w, "weight", c->id.weight > 0 ? c->id.weight : 1);
    lq_jsonw_kstr(&w, "topic", c->node->topics->batch);
    if (c->node->limiter && lq_limits_format(&c->id.limits, limits, sizeof(limits)) > 0)
        lq_jsonw_kstr(&w, "limits", limits);
    lq_jsonw_obj_close(&w);
    if (w.failed) {
        lq_jsonw_free(&w);
        return NULL;
    }
    return w.p;
}

ingest_step_t ingest_batches_create(req_ctx_t *c)
{
    char id[48], *owner;
    const char *params[3];
    json_error_t jerr;
    json_t *o = c->len ? json_loadb(c->body, c->len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    int is_object = json_is_object(o);
    ingest_step_t step;

    json_decref(o);
    if (!is_object) {
        ingest_ctx_set_error(c, 400, "The request body must be a JSON object.",
                             "invalid_request_error", NULL, "invalid_json");
        return INGEST_STEP_ANSWER;
    }
    owner = owner_json(c);
    if (!owner) {
        ingest_ctx_set_internal_error(c);
        return INGEST_STEP_ANSWER;
    }
    new_batch_id(id, sizeof(id));
    params[0] = id, params[1] = c->body, params[2] = owner;
    step = ingest_run_as_caller(c, "SELECT batch_create($1::jsonb, $2, $3::jsonb, $4::jsonb)::text",
                                3, params, 200);
    free(owner);
    return step;
}

ingest_step_t ingest_batches_list(req_ctx_t *c)
{
    const char *params[2] = {ingest_ctx_query(c, "after"), ingest_ctx_query(c, "limit")};

    return ingest_run_as_caller(c, "SELECT batch_list($1::jsonb, $2, $3)::text", 2, params, 200);
}

ingest_step_t ingest_batch_get(req_ctx_t *c)
{
    const char *params[1] = {ingest_path_param(&c->params, "id")};

    return ingest_run_as_caller(c, "SELECT batch_get($1::jsonb, $2)::text", 1, params, 200);
}

ingest_step_t ingest_batch_cancel(req_ctx_t *c)
{
    const char *params[1] = {ingest_path_param(&c->params, "id")};

    return ingest_run_as_caller(c, "SELECT batch_cancel($1::jsonb, $2)::text", 1, params, 200);
}

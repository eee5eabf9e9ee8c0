#include "ingest/conversations.h"

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/jsonw.h"
#include "ingest/admin_run.h"

/* The body must be a JSON object (its fields are checked by the database). */
static int body_is_object(req_ctx_t *c)
{
    json_error_t jerr;
    json_t *o = c->len ? json_loadb(c->body, c->len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    int ok = json_is_object(o);

    json_decref(o);
    if (!ok)
        ingest_ctx_set_error(c, 400, "The request body must be a JSON object.",
                             "invalid_request_error", NULL, "invalid_json");
    return ok;
}

ingest_step_t ingest_conversations_create(req_ctx_t *c)
{
    char id[LQ_UUID_STR_LEN + 1];
    const char *params[2];

    if (!body_is_object(c))
        return INGEST_STEP_ANSWER;
    lq_uuid7(id, lq_wall_ms());
    params[0] = id;
    params[1] = c->body;
    return ingest_run_as_caller(
        c, "SELECT conversation_create($1::jsonb, $2::uuid, $3::jsonb)::text", 2, params, 200);
}

ingest_step_t ingest_conversations_list(req_ctx_t *c)
{
    const char *params[2] = {ingest_ctx_query(c, "after"), ingest_ctx_query(c, "limit")};

    return ingest_run_as_caller(c, "SELECT conversation_list($1::jsonb, $2, $3)::text", 2, params,
                                200);
}

ingest_step_t ingest_conversation_get(req_ctx_t *c)
{
    const char *params[1] = {ingest_path_param(&c->params, "id")};

    return ingest_run_as_caller(c, "SELECT conversation_get($1::jsonb, $2)::text", 1, params, 200);
}

ingest_step_t ingest_conversation_update(req_ctx_t *c)
{
    const char *params[2] = {ingest_path_param(&c->params, "id"), c->body};

    if (!body_is_object(c))
        return INGEST_STEP_ANSWER;
    return ingest_run_as_caller(c, "SELECT conversation_update($1::jsonb, $2, $3::jsonb)::text", 2,
                                params, 200);
}

ingest_step_t ingest_conversation_delete(req_ctx_t *c)
{
    const char *params[1] = {ingest_path_param(&c->params, "id")};

    return ingest_run_as_caller(c, "SELECT conversation_delete($1::jsonb, $2)::text", 1, params,
                                200);
}

ingest_step_t ingest_conversation_messages(req_ctx_t *c)
{
    const char *params[4] = {ingest_path_param(&c->params, "id"), ingest_ctx_query(c, "after"),
                             ingest_ctx_query(c, "limit"), ingest_ctx_query(c, "order")};

    return ingest_run_as_caller(
        c, "SELECT conversation_messages_list($1::jsonb, $2, $3, $4, $5)::text", 4, params, 200);
}

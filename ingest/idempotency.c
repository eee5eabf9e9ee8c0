#include "ingest/idempotency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "ingest/jobs_poll.h"

static const char *key_of(req_ctx_t *c)
{
    return MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Idempotency-Key");
}

static int valid_key(const char *k)
{
    size_t n = strlen(k), i;

    if (n < 1 || n > 255)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e)
            return 0;
    return 1;
}

/* The first request's job, as its submit answered it. */
static void answer_first(req_ctx_t *c, json_t *o)
{
    const char *job = json_string_value(json_object_get(o, "job"));
    json_int_t created = json_integer_value(json_object_get(o, "created_at"));

    snprintf(c->job_id, sizeof(c->job_id), "%s", job ? job : "");
    snprintf(c->location, sizeof(c->location), "/v1/jobs/%s", c->job_id);
    ingest_ctx_set_json(c, 202, ingest_job_queued(c->job_id, c->model, (int64_t)created * 1000));
}

static void claimed(const PGresult *res, const char *errmsg, void *arg)
{
    req_ctx_t *c = arg;
    json_t *o = res && PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
    const char *state = json_string_value(json_object_get(o, "state"));

    (void)errmsg;
    c->idem_state = INGEST_IDEM_DONE;
    if (!state) {
        ingest_ctx_set_unavailable(c, "Cannot check the Idempotency-Key right now; retry later.",
                                   "database_unavailable");
    } else if (!strcmp(state, "new")) {
        c->idem_state = INGEST_IDEM_CLAIMED;
        c->phase = REQ_AUTH; /* the handler runs again, past this step */
    } else if (!strcmp(state, "queued")) {
        answer_first(c, o);
    } else {
        ingest_ctx_set_error(c, 409,
                             "A request with this Idempotency-Key is still being queued; retry "
                             "shortly to get its job.",
                             "invalid_request_error", "Idempotency-Key", "idempotency_key_in_use");
        c->retry_after = 1;
    }
    json_decref(o);
    ingest_ctx_resume(c);
}

ingest_step_t ingest_idempotency_claim(req_ctx_t *c, const char *model)
{
    const char *key = key_of(c), *params[3];

    if (!key || c->idem_state == INGEST_IDEM_CLAIMED)
        return INGEST_STEP_NEXT;
    if (!valid_key(key)) {
        ingest_ctx_set_error(c, 400, "Idempotency-Key must be 1 to 255 printable ASCII characters.",
                             "invalid_request_error", "Idempotency-Key", "invalid_value");
        return INGEST_STEP_ANSWER;
    }
    snprintf(c->model, sizeof(c->model), "%s", model ? model : "");
    snprintf(c->idem_key, sizeof(c->idem_key), "%s", key);
    lq_uuid7(c->conv_job, lq_wall_ms()); /* the job's id, whichever node queues it */
    params[0] = c->id.tenant_id;
    params[1] = c->idem_key;
    params[2] = c->conv_job;
    c->idem_state = INGEST_IDEM_CLAIMING;
    ingest_ctx_suspend(c);
    if (ingest_pg_submit(c->node->pg, "SELECT idempotency_claim($1, $2, $3::uuid)::text", 3, params,
                         claimed, c)) {
        c->idem_state = INGEST_IDEM_DONE;
        ingest_ctx_set_unavailable(c, "Too many requests waiting for the database; retry later.",
                                   "database_busy");
        ingest_ctx_resume(c);
    }
    return INGEST_STEP_SUSPENDED;
}

static void settled(const PGresult *res, const char *errmsg, void *arg)
{
    (void)res;
    (void)arg;
    if (errmsg)
        LQ_WARN("an Idempotency-Key was not settled: %s", errmsg);
}

/* The key is marked queued: the answer (set) goes out now. */
static void settled_answer(const PGresult *res, const char *errmsg, void *arg)
{
    req_ctx_t *c = arg;

    settled(res, errmsg, NULL);
    ingest_ctx_resume(c);
    ingest_ctx_unref(c);
}

int ingest_idempotency_settle_then_resume(req_ctx_t *c)
{
    const char *params[4] = {c->id.tenant_id, c->idem_key, c->conv_job, "true"};

    if (c->idem_state != INGEST_IDEM_CLAIMED)
        return 0;
    c->idem_state = INGEST_IDEM_DONE;
    ingest_ctx_ref(c); /* held until the database has answered */
    if (ingest_pg_submit(c->node->pg, "SELECT idempotency_settle($1, $2, $3::uuid, $4::boolean)", 4,
                         params, settled_answer, c) == 0)
        return 1;
    ingest_ctx_unref(c);
    LQ_WARN("job %s: its Idempotency-Key was not settled (the database queue is full)",
            c->conv_job);
    return 0;
}

void ingest_idempotency_settle(req_ctx_t *c, int ok)
{
    const char *params[4] = {c->id.tenant_id, c->idem_key, c->conv_job, ok ? "true" : "false"};

    if (c->idem_state != INGEST_IDEM_CLAIMED)
        return;
    c->idem_state = INGEST_IDEM_DONE;
    if (ingest_pg_submit(c->node->pg, "SELECT idempotency_settle($1, $2, $3::uuid, $4::boolean)", 4,
                         params, settled, NULL))
        LQ_WARN("job %s: its Idempotency-Key was not settled (the database queue is full)",
                c->conv_job);
}

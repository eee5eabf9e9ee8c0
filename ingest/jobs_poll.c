#include "ingest/jobs_poll.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "common/ids.h"
#include "ingest/admin_run.h"

/* ---------- the recent-jobs memory ---------- */

typedef struct recent_job {
    char tenant_id[64];
    char model[128];
    int64_t created_ms;
} recent_job_t;

struct ingest_recent_jobs {
    pthread_mutex_t mu;
    lq_hashmap_t *jobs; /* job id -> recent_job_t */
    char **ring;        /* job ids in arrival order: the oldest is evicted */
    size_t cap, next;
};

ingest_recent_jobs_t *ingest_recent_jobs_create(size_t cap)
{
    ingest_recent_jobs_t *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    pthread_mutex_init(&r->mu, NULL);
    r->cap = cap;
    if (cap) {
        r->jobs = lq_hashmap_create(cap);
        r->ring = calloc(cap, sizeof(char *));
        if (!r->jobs || !r->ring) {
            ingest_recent_jobs_destroy(r);
            return NULL;
        }
    }
    return r;
}

static void free_job(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

void ingest_recent_jobs_destroy(ingest_recent_jobs_t *r)
{
    size_t i;

    if (!r)
        return;
    if (r->jobs) {
        lq_hashmap_foreach(r->jobs, free_job, NULL);
        lq_hashmap_destroy(r->jobs);
    }
    for (i = 0; r->ring && i < r->cap; i++)
        free(r->ring[i]);
    free(r->ring);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

void ingest_recent_jobs_add(ingest_recent_jobs_t *r, const char *job_id, const char *tenant_id,
                            const char *model, int64_t created_ms)
{
    recent_job_t *j;

    if (!r->cap || !(j = calloc(1, sizeof(*j))))
        return;
    snprintf(j->tenant_id, sizeof(j->tenant_id), "%s", tenant_id);
    snprintf(j->model, sizeof(j->model), "%s", model);
    j->created_ms = created_ms;
    pthread_mutex_lock(&r->mu);
    if (r->ring[r->next]) { /* evict the oldest */
        free(lq_hashmap_remove(r->jobs, r->ring[r->next]));
        free(r->ring[r->next]);
        r->ring[r->next] = NULL;
    }
    r->ring[r->next] = strdup(job_id);
    if (r->ring[r->next] && lq_hashmap_put(r->jobs, job_id, j) == LQ_OK) {
        j = NULL;
        r->next = (r->next + 1) % r->cap;
    }
    pthread_mutex_unlock(&r->mu);
    free(j);
}

static int recent_get(ingest_recent_jobs_t *r, const char *job_id, recent_job_t *out)
{
    recent_job_t *j;
    int found = 0;

    if (!r->cap)
        return 0;
    pthread_mutex_lock(&r->mu);
    j = lq_hashmap_get(r->jobs, job_id);
    if (j) {
        *out = *j;
        found = 1;
    }
    pthread_mutex_unlock(&r->mu);
    return found;
}

/* ---------- the poll ---------- */

json_t *ingest_job_queued(const char *job_id, const char *model, int64_t created_ms)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", job_id, "object", "job", "status", "queued",
                     "model", model, "created_at", (json_int_t)(created_ms / 1000));
}

/* through a function running as llmq_tenant_reader: row-level security sees to it that
 * only the caller's tenant's rows are visible, whatever the query (migration 0005) */
static const char *const JOB_GET_SQL = "SELECT * FROM tenant_job($2, $1::uuid)";

static void set_int_or_null(json_t *o, const char *key, const PGresult *res, int col)
{
    if (PQgetisnull(res, 0, col))
        json_object_set_new(o, key, json_null());
    else
        json_object_set_new(o, key, json_integer(strtoll(PQgetvalue(res, 0, col), NULL, 10)));
}

static void set_json_or_null(json_t *o, const char *key, const PGresult *res, int col)
{
    json_t *v = NULL;

    if (!PQgetisnull(res, 0, col)) {
        json_error_t jerr;
        v = json_loads(PQgetvalue(res, 0, col), 0, &jerr);
    }
    json_object_set_new(o, key, v ? v : json_null());
}

/* The job's row: status, model, created_at, started_at, completed_at, result, error. */
static json_t *job_of_row(const char *job_id, const PGresult *res)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_string(job_id));
    json_object_set_new(o, "object", json_string("job"));
    json_object_set_new(o, "status", json_string(PQgetvalue(res, 0, 0)));
    json_object_set_new(o, "model", json_string(PQgetvalue(res, 0, 1)));
    set_int_or_null(o, "created_at", res, 2);
    set_int_or_null(o, "started_at", res, 3);
    set_int_or_null(o, "completed_at", res, 4);
    set_json_or_null(o, "result", res, 5);
    set_json_or_null(o, "error", res, 6);
    return o;
}

/* Accepted by this node, not in PostgreSQL yet. */
static json_t *job_in_memory(const char *job_id, const recent_job_t *rj)
{
    json_t *o = ingest_job_queued(job_id, rj->model, rj->created_ms);

    json_object_set_new(o, "started_at", json_null());
    json_object_set_new(o, "completed_at", json_null());
    json_object_set_new(o, "result", json_null());
    json_object_set_new(o, "error", json_null());
    return o;
}

static void set_not_found(req_ctx_t *c, const char *id)
{
    char msg[120];

    snprintf(msg, sizeof(msg), "No job with id %.64s", id);
    ingest_ctx_set_error(c, 404, msg, "invalid_request_error", "id", "not_found");
}

static void job_read(const PGresult *res, const char *errmsg, void *arg)
{
    req_ctx_t *c = arg;
    recent_job_t rj;

    (void)errmsg;
    if (!res)
        ingest_ctx_set_unavailable(c, "database unavailable", "database_unavailable");
    else if (PQntuples(res) == 1)
        ingest_ctx_set_json(c, 200, job_of_row(c->job_id, res));
    else if (recent_get(c->node->recent, c->job_id, &rj) &&
             strcmp(rj.tenant_id, c->id.tenant_id) == 0)
        ingest_ctx_set_json(c, 200, job_in_memory(c->job_id, &rj));
    else
        set_not_found(c, c->job_id);
    ingest_ctx_resume(c);
}

ingest_step_t ingest_jobs_poll(req_ctx_t *c)
{
    const char *id = ingest_path_param(&c->params, "id"), *params[2];

    if (!id || strlen(id) != LQ_UUID_STR_LEN || !lq_uuid_valid(id)) {
        set_not_found(c, id ? id : "");
        return INGEST_STEP_ANSWER;
    }
    snprintf(c->job_id, sizeof(c->job_id), "%s", id);
    params[0] = c->job_id;
    params[1] = c->id.tenant_id;
    ingest_ctx_suspend(c);
    if (ingest_pg_submit(c->node->pg, JOB_GET_SQL, 2, params, job_read, c)) {
        ingest_ctx_set_unavailable(c, "Too many requests waiting for the database; retry later.",
                                   "database_busy");
        ingest_ctx_resume(c);
    }
    return INGEST_STEP_SUSPENDED;
}

ingest_step_t ingest_jobs_list(req_ctx_t *c)
{
    const char *p[3] = {ingest_ctx_query(c, "status"), ingest_ctx_query(c, "after"),
                        ingest_ctx_query(c, "limit")};

    return ingest_run_as_caller(c, "SELECT tenant_job_list($1::jsonb, $2, $3, $4)", 3, p, 200);
}

ingest_step_t ingest_job_trace(req_ctx_t *c)
{
    const char *p[1] = {ingest_path_param(&c->params, "id")};

    return ingest_run_as_caller(c, "SELECT tenant_job_trace($1::jsonb, $2)", 1, p, 200);
}

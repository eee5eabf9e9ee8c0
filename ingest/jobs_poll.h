/* ingest/jobs_poll.h — GET /v1/jobs/{id}: a job's status and result, read from PostgreSQL
 * through the row-level-security reader (the caller's tenant only), or from the node's
 * memory of the async jobs it accepted until the sinks have written them (so a poll right
 * after the 202 answers "queued", not 404). */
#ifndef LQ_INGEST_JOBS_POLL_H
#define LQ_INGEST_JOBS_POLL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ingest/request_ctx.h"

/** Remember up to cap jobs (the oldest go first); cap 0 remembers none. NULL without memory. */
ingest_recent_jobs_t *ingest_recent_jobs_create(size_t cap);
void ingest_recent_jobs_destroy(ingest_recent_jobs_t *r); /* NULL-safe */
/** A job this node accepted (Kafka acknowledged it). */
void ingest_recent_jobs_add(ingest_recent_jobs_t *r, const char *job_id, const char *tenant_id,
                            const char *model, int64_t created_ms);

/** {"id","object":"job","status":"queued","model","created_at"}: the 202 answer. New reference. */
json_t *ingest_job_queued(const char *job_id, const char *model, int64_t created_ms);

/** The route's handler. */
ingest_step_t ingest_jobs_poll(req_ctx_t *c);

/** GET /v1/jobs: the tenant's jobs, newest first (status, after, limit). */
ingest_step_t ingest_jobs_list(req_ctx_t *c);
/** GET /v1/jobs/{id}/trace: a job whole: its request, result, error and trace. */
ingest_step_t ingest_job_trace(req_ctx_t *c);

#endif

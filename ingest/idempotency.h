/* ingest/idempotency.h — Idempotency-Key on POST /v1/jobs (and async conversation turns): the
 * first request with a key claims it for its job in PostgreSQL (ops/migrations/
 * 0010_idempotency.sql) before it is queued; a retry with the same key, on any node, gets
 * the same job (202) once it is queued, or 409 while the first is still being queued. A key
 * whose request could not be queued is free again. Keys last 24 hours per tenant. */
#ifndef LQ_INGEST_IDEMPOTENCY_H
#define LQ_INGEST_IDEMPOTENCY_H

#include "ingest/request_ctx.h"

/** NEXT without the header, or once the key is this request's (c->conv_job is then the job's
 * id); SUSPENDED while the database answers (the route's handler then runs again); ANSWER
 * with the first request's job, a 409, or a 400 for a bad key. */
ingest_step_t ingest_idempotency_claim(req_ctx_t *c, const char *model);

/** The claimed request was queued (ok) or will not be: mark or free its key. Idempotent. */
void ingest_idempotency_settle(req_ctx_t *c, int ok);

/** The claimed request was queued: marks its key, and resumes c (its answer set) once the
 * database has answered, so that a retry sent after the answer gets the job, not a 409 (unless
 * the mark failed: the answer goes anyway, since the job is queued). 1 when it will resume c;
 * 0 when c holds no claim or the database's queue is full or stopped (the caller resumes c). */
int ingest_idempotency_settle_then_resume(req_ctx_t *c);

#endif

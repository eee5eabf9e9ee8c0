/* ingest/batches.h — OpenAI's Batch API (docs/batches.md): create, read, list and cancel
 * batches of the caller's tenant. Each route is one call of a database function
 * (ops/migrations/0011_files_batches.sql); the work itself is the batch runner's
 * (batch_runner.h). */
#ifndef LQ_INGEST_BATCHES_H
#define LQ_INGEST_BATCHES_H

#include "ingest/request_ctx.h"

ingest_step_t ingest_batches_create(req_ctx_t *c); /* POST /v1/batches */
ingest_step_t ingest_batches_list(req_ctx_t *c);   /* GET /v1/batches */
ingest_step_t ingest_batch_get(req_ctx_t *c);      /* GET /v1/batches/{id} */
ingest_step_t ingest_batch_cancel(req_ctx_t *c);   /* POST /v1/batches/{id}/cancel */

#endif

/* workers/model_catalogue.h — the models this worker serves, for GET /v1/models: every model
 * of the price table and every alias of the routing table that the global routing sends to
 * an endpoint of this worker, with the endpoint that answers it first. Written to PostgreSQL
 * (worker_models, ops/migrations/0010_idempotency_models.sql) when the worker starts; the ingest
 * nodes list the union of what the workers wrote. */
#ifndef LQ_WORKER_MODEL_CATALOGUE_H
#define LQ_WORKER_MODEL_CATALOGUE_H

#include "workers/worker_internal.h"

/** [{"id","owned_by","alias","context"}] (context: tokens, 0 when unknown) as JSON text (malloc'ed), sorted by id; NULL without memory. */
char *model_catalogue_json(worker_t *w);

/** Write the catalogue for this worker (a warning when the database cannot take it). */
void model_catalogue_publish(worker_t *w);

#endif

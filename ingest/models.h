/* ingest/models.h — GET /v1/models and GET /v1/models/{id} in OpenAI's shape: the models the
 * installation's workers serve (what each wrote when it started, workers/model_catalogue.h):
 * every priced model and alias that the routing sends to a configured endpoint. */
#ifndef LQ_INGEST_MODELS_H
#define LQ_INGEST_MODELS_H

#include "ingest/request_ctx.h"

ingest_step_t ingest_models_list(req_ctx_t *c);
ingest_step_t ingest_model_get(req_ctx_t *c);

#endif

/* ingest/submit.h — admission of a chat request (POST /v1/chat/completions, POST /v1/jobs):
 * the body is parsed and checked, the prompt policy applied (a block is answered 400 and
 * recorded in the tenant's audit log), the job gets its id and mode, and its Avro record
 * goes to produce.c. */
#ifndef LQ_INGEST_SUBMIT_H
#define LQ_INGEST_SUBMIT_H

#include "ingest/request_ctx.h"

/** POST /v1/chat/completions: sync, or streamed with "stream": true. */
ingest_step_t ingest_submit_chat(req_ctx_t *c);
/** POST /v1/jobs: async; answered 202 once Kafka has the job. */
ingest_step_t ingest_submit_job(req_ctx_t *c);

#endif

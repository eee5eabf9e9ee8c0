/* ingest/limit_step.h — a chat request against its caller's limits (common/limiter.h): it
 * takes one request of each request rate and a slot of each concurrency limit of its
 * scopes, or is answered 429 with Retry-After; its answer carries the x-ratelimit-* headers;
 * its slots go back when the request ends. Async jobs are not counted here: the worker
 * paces them (docs/limits.md). */
#ifndef LQ_INGEST_LIMIT_STEP_H
#define LQ_INGEST_LIMIT_STEP_H

#include <microhttpd.h>

#include "ingest/request_ctx.h"

/** NEXT when admitted (or nothing is limited), ANSWER with the 429 set, or SUSPENDED until
 * the node's limiter decides (the route's handler is then called again). */
ingest_step_t ingest_limit_admit(req_ctx_t *c);

/** The request ended: its concurrency slots go back. Idempotent. */
void ingest_limit_release(req_ctx_t *c);

/** x-ratelimit-* headers of c's limits, when it was counted. */
void ingest_limit_add_headers(const req_ctx_t *c, struct MHD_Response *r);

#endif

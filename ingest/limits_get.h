/* ingest/limits_get.h — GET /v1/limits: the limits that apply to the caller's key, from
 * its identity (resolved by the key lookup), and their current use, read from the limit
 * ledger. See docs/limits.md. */
#ifndef LQ_INGEST_LIMITS_GET_H
#define LQ_INGEST_LIMITS_GET_H

#include "ingest/request_ctx.h"

/** Answers 200 {"object":"limits","tier","weight","scopes":{...},"usage":{...}}: suspends
 * while the ledger is read (INGEST_STEP_SUSPENDED), or INGEST_STEP_ANSWER without it. */
ingest_step_t ingest_limits_get(req_ctx_t *c);

#endif

/* ingest/authenticate.h — the authentication step of a request: its Bearer key becomes the
 * caller's identity, from the node's cache or, on a miss, from PostgreSQL with the
 * connection suspended meanwhile (never blocking an HTTP thread). */
#ifndef LQ_INGEST_AUTHENTICATE_H
#define LQ_INGEST_AUTHENTICATE_H

#include "ingest/request_ctx.h"

/** INGEST_STEP_NEXT with c->id filled when the key is valid; INGEST_STEP_ANSWER with a 401
 * (no, malformed or unknown key) or 503 (database unavailable) answer; or
 * INGEST_STEP_SUSPENDED while the database looks the key up: call again once resumed. */
ingest_step_t ingest_authenticate(req_ctx_t *c);

/** At the first call, before the body is read: INGEST_STEP_ANSWER with a 401 when there is
 * no key or the cache knows it is bad, so an unauthenticated body is never read; else
 * INGEST_STEP_NEXT (ingest_authenticate finishes the check once the body is in). */
ingest_step_t ingest_authenticate_early(req_ctx_t *c);

#endif

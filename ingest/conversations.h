/* ingest/conversations.h — the conversations API (docs/conversations.md): create, list, read,
 * change and delete conversations, and list their messages. Each route is one call of a
 * database function (ops/migrations/0009_conversations.sql) that sees only what the caller may:
 * its tenant's conversations, and only its own user's unless the key is an admin's. Turns
 * are in conversation_turn.h. */
#ifndef LQ_INGEST_CONVERSATIONS_H
#define LQ_INGEST_CONVERSATIONS_H

#include "ingest/request_ctx.h"

ingest_step_t ingest_conversations_list(req_ctx_t *c);    /* GET /v1/conversations */
ingest_step_t ingest_conversations_create(req_ctx_t *c);  /* POST /v1/conversations */
ingest_step_t ingest_conversation_get(req_ctx_t *c);      /* GET /v1/conversations/{id} */
ingest_step_t ingest_conversation_update(req_ctx_t *c);   /* PATCH /v1/conversations/{id} */
ingest_step_t ingest_conversation_delete(req_ctx_t *c);   /* DELETE /v1/conversations/{id} */
ingest_step_t ingest_conversation_messages(req_ctx_t *c); /* GET .../{id}/messages */

/** The caller as the database functions take it: {"tenant","user","project","key","admin",
 * "platform"}
 * (malloc'ed JSON text; NULL without memory). */
char *ingest_conversation_caller(const req_ctx_t *c);

/** Run sql with $1 = the caller (ingest_conversation_caller) and $2... = params (n <= 8) on
 * the pool, and answer its JSON with ok_status (or the error its SQLSTATE names).
 * INGEST_STEP_SUSPENDED, or INGEST_STEP_ANSWER when it could not be sent. */
ingest_step_t ingest_run_as_caller(req_ctx_t *c, const char *sql, int n, const char **params,
                                   int ok_status);

#endif

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

#endif

/* ingest/conversation_turn.h — a request that is a turn of a server-side conversation
 * (docs/conversations.md): POST /v1/conversations/{id}/messages, or "conversation": "<id>" on
 * POST /v1/chat/completions and /v1/jobs. The database begins the turn (the conversation
 * becomes busy with the turn's job, its new messages are kept pending) and answers the
 * conversation's system prompt, context and the history that fits its window; the prompt
 * sent is those, then the new messages. The turn ends exactly once with its job: here when
 * this node waits for the answer, else in the sink; a turn whose request never reached Kafka
 * is undone when its request ends. */
#ifndef LQ_INGEST_CONVERSATION_TURN_H
#define LQ_INGEST_CONVERSATION_TURN_H

#include "ingest/request_ctx.h"
#include "schemas/records.h"

/** POST /v1/conversations/{id}/messages: the body becomes a chat request of the conversation
 * ("content" is one user message; "async": true makes it a job), then goes on as
 * POST /v1/chat/completions or POST /v1/jobs would. */
ingest_step_t ingest_conversation_turn(req_ctx_t *c);

/** req names a conversation: begin its turn (SUSPENDED while the database does; the route's
 * handler then runs again), then put the conversation's prompt and history before req's
 * messages (NEXT), or answer why not (ANSWER). */
ingest_step_t ingest_conversation_prepare(req_ctx_t *c, lq_chat_request_t *req, int async);

/* What ingest_conversation_end does once the turn is stored (or at once for no turn). */
typedef enum ingest_turn_then {
    INGEST_TURN_THEN_NOTHING,
    INGEST_TURN_THEN_RESUME,        /* resume c: its answer is set */
    INGEST_TURN_THEN_RELEASE_STREAM /* release the stream's held end (ingest_sse_out_hold) */
} ingest_turn_then_t;

/** Kafka has the turn's request: its busy mark, a short lease until now, gets the turn's full
 * time (a sync turn's timeout and a minute; a day for an async one). Nothing for no turn. */
void ingest_conversation_queued(req_ctx_t *c);

/** 1 when c holds a turn that its job's end must store. */
int ingest_conversation_pending(const req_ctx_t *c);

/** The turn's job ended with resp: store its reply (or undo it), then do what then says. For
 * a request that is no turn, it does that at once. */
void ingest_conversation_end(req_ctx_t *c, const lq_chat_response_t *resp, ingest_turn_then_t then);

/** The request ends: a turn begun whose request never reached Kafka is undone. */
void ingest_conversation_release(req_ctx_t *c);

#endif

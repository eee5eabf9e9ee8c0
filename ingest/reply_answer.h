/* ingest/reply_answer.h — the answer of a request that waits for its job (a sync chat
 * completion, a stream): the job's ChatResponse from the reply topic becomes a
 * chat.completion or an OpenAI error (streams end through sse_out.c); no result in time
 * becomes a 504 (the job goes on). These are the callbacks of replies.h. */
#ifndef LQ_INGEST_REPLY_ANSWER_H
#define LQ_INGEST_REPLY_ANSWER_H

#include "schemas/records.h"

/** ingest_reply_cb: waiter is the req_ctx_t. */
void ingest_reply_answer(void *waiter, const lq_chat_response_t *resp);
/** ingest_timeout_cb. */
void ingest_reply_timeout(void *waiter);

#endif

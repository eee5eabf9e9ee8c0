/* ingest/sse_out.h — streamed answers to the client: the ChatChunks of a job (from the reply
 * topic) become OpenAI's server-sent events, the job's end becomes the last chunk, the usage
 * chunk and [DONE] (or an error event), and a client that goes away before the end cancels
 * the job. The bytes go from the reply thread to MHD's reader through req_ctx_t.sse. */
#ifndef LQ_INGEST_SSE_OUT_H
#define LQ_INGEST_SSE_OUT_H

#include "ingest/request_ctx.h"

/** The reply topic's chunk callback (ingest_chunk_cb): a piece of the answer. */
void ingest_sse_out_chunk(void *waiter, const lq_chat_chunk_t *chunk);

/** The end of the stream: resp's last chunk (err NULL), or an error event. Returns 0, with
 * nothing written, when err came before any text: the caller answers with a plain error. */
int ingest_sse_out_finish(req_ctx_t *c, const lq_chat_response_t *resp, const lq_job_error_t *err);

/** Hold the stream's end: ingest_sse_out_finish writes the last chunks but not [DONE], and
 * the stream stays open until ingest_sse_out_release (a conversation's turn is stored first,
 * so a client that sends the next turn on [DONE] finds this one ended). */
void ingest_sse_out_hold(req_ctx_t *c);
void ingest_sse_out_release(req_ctx_t *c);

/** No more bytes will come (the answer is a plain one instead). */
void ingest_sse_out_end(req_ctx_t *c);

/** Queue the SSE response (once: later calls do nothing). */
enum MHD_Result ingest_sse_out_start(req_ctx_t *c);

/** The connection ended (completed_ok: the whole answer went out). A stream that ended
 * before its result takes its waiter back and cancels the job. */
void ingest_sse_out_closed(req_ctx_t *c, int completed_ok);

#endif

/* ingest/replies.h — this node's reply topic: requests waiting for their result
 * (sync chat completions) register here; a consumer thread hands each ChatResponse to its
 * waiter, and a sweeper times out waiters whose deadline passed.
 *
 * Exactly-once hand-off: a waiter is removed from the table before it is handed to
 * either callback, so each waiter is completed by exactly one party — a reply, a
 * timeout, or whoever calls ingest_replies_cancel first and gets it back. */
#ifndef LQ_INGEST_REPLIES_H
#define LQ_INGEST_REPLIES_H

#include <stdint.h>

#include "common/config.h"
#include "common/err.h"
#include "schemas/records.h"

typedef struct ingest_replies ingest_replies_t;

/** resp is borrowed for the call. Runs on the reply thread. */
typedef void (*ingest_reply_cb)(void *waiter, const lq_chat_response_t *resp);
/** A streamed piece of a job's answer; the waiter stays registered. Runs on the reply
 * thread while the table's lock is held: keep it short, and never call back into this
 * module from it. */
typedef void (*ingest_chunk_cb)(void *waiter, const lq_chat_chunk_t *chunk);
/** Runs on the sweeper thread. */
typedef void (*ingest_timeout_cb)(void *waiter);

/** Consume topic from its current end. set gives brokers and kafka.* settings; fetch_wait_ms is
 * the consumer's fetch.wait.max.ms. */
lq_err_t ingest_replies_create(ingest_replies_t **out, const lq_common_settings_t *set,
                               const char *topic, long long fetch_wait_ms, ingest_reply_cb on_reply,
                               ingest_chunk_cb on_chunk, ingest_timeout_cb on_timeout, char *errstr,
                               size_t errstr_size);
/** Stops the threads; waiters still registered are timed out. NULL-safe. */
void ingest_replies_destroy(ingest_replies_t *r);

/** Register waiter for job_id's result until deadline_mono_ms. idle_ms > 0 (streams): each
 * chunk moves the deadline to now + idle_ms. */
lq_err_t ingest_replies_wait(ingest_replies_t *r, const char *job_id, void *waiter,
                             int64_t deadline_mono_ms, int64_t idle_ms);
/** Take a waiter back; NULL when a reply or timeout already took it. */
void *ingest_replies_cancel(ingest_replies_t *r, const char *job_id);

size_t ingest_replies_pending(ingest_replies_t *r);

/** A piece of a job's reply (a framed ChatChunk or ChatResponse) handed over directly by a
 * worker (ingest/direct_replies.h), as if read from the reply topic; any thread. 0, or -1
 * when buf is neither. */
int ingest_replies_deliver(ingest_replies_t *r, const void *buf, size_t len);

#endif

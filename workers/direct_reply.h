/* workers/direct_reply.h — a synchronous request's result handed straight to the ingest node
 * that waits for it: an HTTP POST of the framed ChatResponse to the request's reply_url
 * (ingest/direct_replies.h), on the worker's curl multi handle. When the node cannot be
 * reached or refuses it, the same bytes go to the node's reply topic, as without it. The job
 * stays pending until one of the two took the result. */
#ifndef LQ_WORKER_DIRECT_REPLY_H
#define LQ_WORKER_DIRECT_REPLY_H

#include "workers/worker_internal.h"

/** Post buf (len bytes, copied) to j->req.reply_url; -1 when the post cannot start (the
 * caller sends to the reply topic itself). */
int direct_reply_start(worker_t *w, job_t *j, const void *buf, size_t len);

/** Whether easy handle e of the worker's multi is a direct reply (else a provider call). */
int direct_reply_owns(CURL *e);

/** The post of easy handle e ended with code: on anything but 204, the reply topic. */
void direct_reply_done(worker_t *w, CURL *e, CURLcode code);

/** Free what the posts share (at the worker's end). */
void direct_reply_free(worker_t *w);

#endif

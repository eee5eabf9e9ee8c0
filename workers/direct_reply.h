/* workers/direct_reply.h — a job's reply handed straight to the ingest node that waits for it:
 * each piece (a streamed answer's chunks, then the response) an HTTP POST of the framed
 * record to the request's reply_url (ingest/direct_replies.h), on the worker's own
 * keep-alive connections when the URL names an IPv4 address (workers/reply_conns.h), else on
 * its curl multi handle, one at a time per job so the pieces arrive in order. When a post fails (the node
 * unreachable, restarted, refusing it), that piece and every later one go to the node's
 * reply topic, as without direct replies: still in order, nothing lost. The job stays pending
 * until every piece was taken. */
#ifndef LQ_WORKER_DIRECT_REPLY_H
#define LQ_WORKER_DIRECT_REPLY_H

#include "workers/worker_internal.h"

/** Send buf (len bytes, copied) to j's requester: directly when the request has a reply_url,
 * else (or after a failed post) to its reply topic. */
void direct_reply_send(worker_t *w, job_t *j, const void *buf, size_t len);

/** Whether easy handle e of the worker's multi is a direct reply (else a provider call). */
int direct_reply_owns(CURL *e);

/** The post of easy handle e ended with code: the job's next piece goes, or after a failure
 * this one and the rest go to the reply topic. */
void direct_reply_done(worker_t *w, CURL *e, CURLcode code);

/** reply_conns_done_fn of the worker's own connections (arg: the worker, post: the piece). */
void direct_reply_ended(void *arg, void *post, int status, const char *why);

/** Start the libcurl posts asked for inside a libcurl callback (outside any callback). */
void direct_reply_start_later(worker_t *w);

/** Free what the posts share (at the worker's end). */
void direct_reply_free(worker_t *w);

#endif

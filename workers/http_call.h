/* workers/http_call.h — one HTTP call to a provider on the worker's curl multi handle:
 * the request built by the target's wire, the answer read as it comes (a stream's text
 * published piece by piece), and at the end the call's result in j->result. */
#ifndef LQ_WORKER_HTTP_CALL_H
#define LQ_WORKER_HTTP_CALL_H

#include "workers/worker_internal.h"

/** Start j's call to target (its first-byte timer with it); 0, or -1 when the request
 * cannot be built (nothing started). */
int http_call_start(worker_t *w, job_t *j, const worker_target_t *target);

/** The transfer of easy handle e ended with code: j->result holds the call's outcome;
 * returns j. */
job_t *http_call_done(worker_t *w, CURL *e, CURLcode code);

/** Stop j's transfer, if it has one (cancellation, first-byte timeout). */
void http_call_detach(worker_t *w, job_t *j);

/** j's first-byte timer fired: 1 when the provider had sent nothing (the call is stopped and
 * j->result is a timeout), 0 when it had (the transfer goes on). */
int http_call_first_byte_timeout(worker_t *w, job_t *j);

#endif

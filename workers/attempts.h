/* workers/attempts.h — a job's attempts: the next candidate whose circuit breaker lets a call
 * through, the call (HTTP or mock), and after it a retry with back-off (honouring
 * Retry-After), a fallback to the next candidate, or the end of the job. */
#ifndef LQ_WORKER_ATTEMPTS_H
#define LQ_WORKER_ATTEMPTS_H

#include "workers/worker_internal.h"

/** Start j's next attempt (its routing decision is made). */
void attempt_start(worker_t *w, job_t *j);

/** j's call is over (j->result): record it, then retry, fall back or finish the job. */
void attempt_done(worker_t *w, job_t *j);

#endif

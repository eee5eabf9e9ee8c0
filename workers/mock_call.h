/* workers/mock_call.h — a call to the built-in mock provider: its answer (workers/
 * provider_mock.c) after mock.latency_ms, streamed word by word every
 * mock.token_interval_ms, on the worker's timers. */
#ifndef LQ_WORKER_MOCK_CALL_H
#define LQ_WORKER_MOCK_CALL_H

#include "workers/worker_internal.h"

/** Start j's mock call; 0, or 1 when it is over at once (j->result says why). */
int mock_call_start(worker_t *w, job_t *j);

/** j's next word is due: publish it (and any more when there is no interval); 1 when the
 * call is over (j->result is the answer, or a failure), 0 when a word is left for later. */
int mock_call_step(worker_t *w, job_t *j);

#endif

/* workers/timers.h — the jobs' timers: a binary min-heap on the due time, at most one timer
 * per job (its kind in j->timer). */
#ifndef LQ_WORKER_TIMERS_H
#define LQ_WORKER_TIMERS_H

#include "workers/worker_internal.h"

/** Set j's timer (j has none pending) to fire at due_us (monotonic); LQ_ERR_NOMEM. */
lq_err_t timer_add(worker_t *w, job_t *j, timer_kind_t kind, int64_t due_us);

/** Take j's pending timer out, if it has one (a job finishing before its timer fires). */
void timer_remove(worker_t *w, job_t *j);

/** The job whose timer is due by now_us, taken out of the heap (its j->timer still says
 * what for), or NULL. */
job_t *timer_pop_due(worker_t *w, int64_t now_us);

/** Milliseconds until the next timer (0 when one is due), capped at cap_ms. */
int64_t timer_wait_ms(const worker_t *w, int64_t now_us, int64_t cap_ms);

#endif

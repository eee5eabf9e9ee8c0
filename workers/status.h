/* workers/status.h — the worker's state for the operators' Queue page (GET /admin/v1/queue,
 * docs/console.md): every few seconds the loop takes a snapshot (jobs in flight and queued,
 * batch jobs, paused partitions, circuit breakers, the lag of each partition it owns) and a
 * thread of its own writes it, with the dead-letter topic's size, to the table worker_status.
 * A worker that stops removes its row; one that dies leaves a row that goes stale. */
#ifndef LQ_WORKER_STATUS_H
#define LQ_WORKER_STATUS_H

#include "workers/worker_internal.h"

/** Start the writer (its own PostgreSQL connection, made when first needed). */
lq_err_t worker_status_start(worker_t *w);
/** On the loop thread, each turn: take a snapshot when one is due. */
void worker_status_tick(worker_t *w);
/** Stop the writer and remove this worker's row (NULL-safe on a worker without one). */
void worker_status_stop(worker_t *w);

#endif

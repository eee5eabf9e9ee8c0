/* workers/worker.h — a worker: a consumer-group member on the requests topic that keeps
 * many provider calls in flight on one thread (libcurl multi + timers), publishes each
 * result, usage and trace, and commits each partition only up to its lowest unfinished
 * message. */
#ifndef LQ_WORKER_H
#define LQ_WORKER_H

#include <stddef.h>

#include "common/err.h"
#include "workers/worker_config.h"

typedef struct worker worker_t;

/** set is copied; its strings must outlive the worker. */
lq_err_t worker_create(worker_t **out, const worker_settings_t *set, char *errstr,
                       size_t errstr_size);
/** Run until stop_flag() returns non-zero, then drain and return. */
lq_err_t worker_run(worker_t *w, int (*stop_flag)(void));
void worker_destroy(worker_t *w); /* NULL-safe */

#endif

/* workers/offset_tracker.h — out-of-order completion, in-order commit, for one partition.
 * Offsets are added in the order they were consumed (increasing); they may complete in any
 * order; the committable position only ever advances past a contiguous run of completed
 * offsets, so a crash re-delivers every unfinished message and nothing is skipped. */
#ifndef LQ_WORKER_OFFSET_TRACKER_H
#define LQ_WORKER_OFFSET_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct worker_offsets worker_offsets_t;

worker_offsets_t *worker_offsets_create(void);
void worker_offsets_destroy(worker_offsets_t *t); /* NULL-safe */

/** Track a consumed offset; it must be greater than every offset added before. */
lq_err_t worker_offsets_add(worker_offsets_t *t, int64_t offset);

/** Mark an offset finished. Returns the new position to commit (last contiguous finished
 * offset + 1) when it advanced, else -1. Unknown offsets are ignored (-1). */
int64_t worker_offsets_done(worker_offsets_t *t, int64_t offset);

/** Offsets added and not yet released (unfinished or behind an unfinished one). */
size_t worker_offsets_pending(const worker_offsets_t *t);

#endif

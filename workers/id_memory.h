/* workers/id_memory.h — a bounded memory of ids: the last `cap` distinct ids remembered;
 * remembering one more forgets the oldest. For cancellations of things not (all) seen yet
 * (workers/cancels.c: the batches cancelled). Pure data structure: no Kafka, no clock. */
#ifndef LQ_WORKER_ID_MEMORY_H
#define LQ_WORKER_ID_MEMORY_H

#include <stddef.h>

#include "common/err.h"

typedef struct worker_id_memory worker_id_memory_t; /* opaque */

/** A memory of at most cap (>= 1) ids; NULL when out of memory. */
worker_id_memory_t *worker_id_memory_create(size_t cap);
void worker_id_memory_destroy(worker_id_memory_t *m); /* NULL-safe */

/** Remember id (copied); one remembered already keeps its place. LQ_ERR_NOMEM (then the
 * memory is as it was, less perhaps the oldest id). */
lq_err_t worker_id_memory_add(worker_id_memory_t *m, const char *id);

/** 1 when id is remembered. NULL-safe (a NULL memory remembers nothing). */
int worker_id_memory_has(const worker_id_memory_t *m, const char *id);

/** Ids remembered. */
size_t worker_id_memory_len(const worker_id_memory_t *m);

#endif

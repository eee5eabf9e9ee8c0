/* ingest/batch_runner.h — the batch runner of an ingest node (docs/batches.md): a thread that
 * takes batches under a lease in PostgreSQL (one node at a time per batch; another takes it
 * over when the lease runs out), turns their input lines into jobs on topic.batch, tells the
 * workers when a batch is cancelled, follows the jobs' ends in the jobs table, and finalizes
 * each batch: its output and error files, counts and usage. */
#ifndef LQ_INGEST_BATCH_RUNNER_H
#define LQ_INGEST_BATCH_RUNNER_H

#include "common/err.h"
#include "ingest/node.h"

typedef struct ingest_batch_runner ingest_batch_runner_t;

/** Start the runner of node (its producer, its own database connection, its thread). */
lq_err_t ingest_batch_runner_start(ingest_batch_runner_t **out, ingest_node_t *node, char *errstr,
                                   size_t errstr_size);
/** Stop it after the step under way (NULL-safe). */
void ingest_batch_runner_stop(ingest_batch_runner_t *r);

#endif

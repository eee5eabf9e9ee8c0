/* workers/partitions.h — the request, deferred and batch partitions this worker owns, each with an
 * offset tracker
 * (workers/offset_tracker.c): a message is tracked when it arrives and done when every output
 * of its job was acknowledged; the offset stored for the commit is the one below the lowest
 * unfinished message (out-of-order completion, in-order commit). */
#ifndef LQ_WORKER_PARTITIONS_H
#define LQ_WORKER_PARTITIONS_H

#include "workers/worker_internal.h"

/** The topic of a source, and the source of a topic (-1: none of them: the cancels). */
const char *partitions_topic(const worker_t *w, job_source_t src);
int partitions_source(const worker_t *w, const char *topic);

/** 1 when p@offset of src's topic was tracked already in this ownership (a re-fetch). */
int partitions_seen(worker_t *w, job_source_t src, int32_t p, int64_t offset);

/** Track message p@offset of src's topic: the partition's generation, or UINT64_MAX when it
 * cannot be tracked (not assigned, out of memory): such a message's offset is never stored. */
uint64_t partitions_track(worker_t *w, job_source_t src, int32_t p, int64_t offset);

/** Mark j's message done and store the partition's committable offset, unless the partition
 * was revoked since j arrived (its new owner re-runs the message). */
void partitions_done(worker_t *w, const job_t *j);

/** A rebalance: new trackers for the assigned request, deferred and batch partitions;
 * trackers dropped for the revoked ones. Other topics in parts are passed over. */
void partitions_assigned(worker_t *w, const rd_kafka_topic_partition_list_t *parts);
void partitions_revoked(worker_t *w, const rd_kafka_topic_partition_list_t *parts);

/** Pause (1) or resume (0) every partition of topic this worker owns; -1 when the assignment
 * cannot be read (nothing changed). */
int partitions_pause(worker_t *w, const char *topic, int pause);

/** Free every tracker. */
void partitions_free(worker_t *w);

#endif

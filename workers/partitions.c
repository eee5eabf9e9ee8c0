/* The request partitions this worker owns and their offset trackers: what may be committed. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "workers/partitions.h"

static partition_state_t *part_state(worker_t *w, int32_t p)
{
    if (p < 0)
        return NULL;
    if (p >= w->n_parts) {
        int n = p + 1;
        partition_state_t *np = realloc(w->parts, (size_t)n * sizeof(*np));
        if (!np)
            return NULL;
        memset(np + w->n_parts, 0, (size_t)(n - w->n_parts) * sizeof(*np));
        w->parts = np;
        w->n_parts = n;
    }
    return &w->parts[p];
}

uint64_t partitions_track(worker_t *w, int32_t p, int64_t offset)
{
    partition_state_t *ps = part_state(w, p);

    if (ps && ps->tracker && worker_offsets_add(ps->tracker, offset) == LQ_OK)
        return ps->generation;
    return UINT64_MAX;
}

/* Store next as the committable offset of partition p. */
static void store_offset(worker_t *w, int32_t p, int64_t next)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t e;

    rd_kafka_topic_partition_list_add(l, w->topics->requests, p)->offset = next;
    e = rd_kafka_offsets_store(w->consumer, l);
    if (e)
        LQ_DEBUG("offset store p%d@%lld: %s", p, (long long)next, rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
}

void partitions_done(worker_t *w, const job_t *j)
{
    partition_state_t *ps = j->partition < w->n_parts ? &w->parts[j->partition] : NULL;
    int64_t next;

    if (!ps || !ps->tracker || ps->generation != j->generation)
        return; /* partition revoked meanwhile: its new owner re-runs the message */
    next = worker_offsets_done(ps->tracker, j->offset);
    if (next >= 0)
        store_offset(w, j->partition, next);
}

/* A new tracker (assigned) or none (revoked) for each request partition of parts; a new
 * generation either way, so jobs of an earlier ownership never store an offset. */
static void reset_trackers(worker_t *w, const rd_kafka_topic_partition_list_t *parts, int assigned)
{
    partition_state_t *ps;
    int i;

    for (i = 0; i < parts->cnt; i++) {
        if (strcmp(parts->elems[i].topic, w->topics->requests) != 0)
            continue; /* cancels: offsets stored as they are read */
        if (!(ps = part_state(w, parts->elems[i].partition)))
            continue;
        worker_offsets_destroy(ps->tracker);
        ps->tracker = assigned ? worker_offsets_create() : NULL;
        ps->generation = ++w->generation;
    }
}

void partitions_assigned(worker_t *w, const rd_kafka_topic_partition_list_t *parts)
{
    reset_trackers(w, parts, 1);
}

void partitions_revoked(worker_t *w, const rd_kafka_topic_partition_list_t *parts)
{
    reset_trackers(w, parts, 0);
}

void partitions_free(worker_t *w)
{
    int i;

    for (i = 0; i < w->n_parts; i++)
        worker_offsets_destroy(w->parts[i].tracker);
    free(w->parts);
    w->parts = NULL;
    w->n_parts = 0;
}

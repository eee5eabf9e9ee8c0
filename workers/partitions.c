/* The request, deferred and batch partitions this worker owns and their offset trackers: what
 * may be committed; pausing the partitions of one topic. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "workers/partitions.h"

static partition_state_t *part_state(worker_t *w, int32_t p)
{
    if (p < 0)
        return NULL;
    if (p >= w->n_parts) {
        int n = p + 1, i, s;
        partition_state_t *np = realloc(w->parts, (size_t)n * sizeof(*np));
        if (!np)
            return NULL;
        memset(np + w->n_parts, 0, (size_t)(n - w->n_parts) * sizeof(*np));
        for (i = w->n_parts; i < n; i++)
            for (s = 0; s < SRC_COUNT; s++)
                np[i].last_offset[s] = -1;
        w->parts = np;
        w->n_parts = n;
    }
    return &w->parts[p];
}

const char *partitions_topic(const worker_t *w, job_source_t src)
{
    const char *const topics[SRC_COUNT] = {[SRC_REQUESTS] = w->topics->requests,
                                           [SRC_DEFERRED] = w->set.topic.deferred,
                                           [SRC_BATCH] = w->topics->batch};

    return src < SRC_COUNT ? topics[src] : w->topics->requests;
}

int partitions_source(const worker_t *w, const char *topic)
{
    int s;

    for (s = 0; s < SRC_COUNT; s++)
        if (strcmp(topic, partitions_topic(w, (job_source_t)s)) == 0)
            return s;
    return -1;
}

int partitions_seen(worker_t *w, job_source_t src, int32_t p, int64_t offset)
{
    partition_state_t *ps = part_state(w, p);

    return ps && ps->tracker[src] && offset <= ps->last_offset[src];
}

uint64_t partitions_track(worker_t *w, job_source_t src, int32_t p, int64_t offset)
{
    partition_state_t *ps = part_state(w, p);

    if (!ps || !ps->tracker[src] || worker_offsets_add(ps->tracker[src], offset) != LQ_OK)
        return UINT64_MAX;
    ps->last_offset[src] = offset;
    return ps->generation[src];
}

/* Store next as the committable offset of partition p of src's topic. */
static void store_offset(worker_t *w, job_source_t src, int32_t p, int64_t next)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t e;

    rd_kafka_topic_partition_list_add(l, partitions_topic(w, src), p)->offset = next;
    e = rd_kafka_offsets_store(w->consumer, l);
    if (e)
        LQ_DEBUG("offset store p%d@%lld: %s", p, (long long)next, rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
}

void partitions_done(worker_t *w, const job_t *j)
{
    partition_state_t *ps = j->partition < w->n_parts ? &w->parts[j->partition] : NULL;
    int64_t next;

    if (!ps || !ps->tracker[j->source] || ps->generation[j->source] != j->generation)
        return; /* partition revoked meanwhile: its new owner re-runs the message */
    next = worker_offsets_done(ps->tracker[j->source], j->offset);
    if (next >= 0)
        store_offset(w, j->source, j->partition, next);
}

/* A new tracker (assigned) or none (revoked) for each request, deferred and batch partition of
 * parts; a new generation either way, so jobs of an earlier ownership never store an offset. */
static void reset_trackers(worker_t *w, const rd_kafka_topic_partition_list_t *parts, int assigned)
{
    partition_state_t *ps;
    int i, src;

    for (i = 0; i < parts->cnt; i++) {
        src = partitions_source(w, parts->elems[i].topic);
        if (src < 0)
            continue; /* cancels: offsets stored as they are read */
        if (!(ps = part_state(w, parts->elems[i].partition)))
            continue;
        worker_offsets_destroy(ps->tracker[src]);
        ps->tracker[src] = assigned ? worker_offsets_create() : NULL;
        ps->generation[src] = ++w->generation;
        ps->last_offset[src] = -1;
    }
}

/* After a rebalance nothing is paused: the assignment was resumed whole, or dropped. */
static void none_paused(worker_t *w)
{
    int s;

    for (s = 0; s < SRC_COUNT; s++)
        lq_metric_set(w->m_paused[s], 0);
}

void partitions_assigned(worker_t *w, const rd_kafka_topic_partition_list_t *parts)
{
    reset_trackers(w, parts, 1);
    none_paused(w);
}

void partitions_revoked(worker_t *w, const rd_kafka_topic_partition_list_t *parts)
{
    reset_trackers(w, parts, 0);
    none_paused(w);
}

int partitions_pause(worker_t *w, const char *topic, int pause)
{
    rd_kafka_topic_partition_list_t *assigned = NULL, *l;
    int i, src;

    if (rd_kafka_assignment(w->consumer, &assigned) || !assigned)
        return -1;
    l = rd_kafka_topic_partition_list_new(assigned->cnt);
    for (i = 0; i < assigned->cnt; i++)
        if (strcmp(assigned->elems[i].topic, topic) == 0)
            rd_kafka_topic_partition_list_add(l, topic, assigned->elems[i].partition);
    rd_kafka_topic_partition_list_destroy(assigned);
    if (pause)
        rd_kafka_pause_partitions(w->consumer, l);
    else
        rd_kafka_resume_partitions(w->consumer, l);
    src = partitions_source(w, topic);
    if (src >= 0)
        lq_metric_set(w->m_paused[src], pause ? l->cnt : 0);
    rd_kafka_topic_partition_list_destroy(l);
    return 0;
}

void partitions_free(worker_t *w)
{
    int i, s;

    for (i = 0; i < w->n_parts; i++) {
        for (s = 0; s < SRC_COUNT; s++)
            worker_offsets_destroy(w->parts[i].tracker[s]);
    }
    free(w->parts);
    w->parts = NULL;
    w->n_parts = 0;
}

/* Cancellations: stopping a job in flight or taking a queued one out, or remembering one that
 * has not arrived (or was set aside to the deferred topic); the same for every job of a batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "schemas/codec.h"
#include "workers/cancels.h"
#include "workers/host_slots.h"
#include "workers/http_call.h"
#include "workers/provider_metrics.h"
#include "workers/publish.h"
#include "workers/queueing.h"
#include "workers/timers.h"

lq_err_t cancels_init(worker_t *w, char *errstr, size_t errstr_size)
{
    w->batches_cancelled = worker_id_memory_create(BATCH_CANCEL_MEMORY);
    if (w->batches_cancelled)
        return LQ_OK;
    snprintf(errstr, errstr_size, "out of memory");
    return LQ_ERR_NOMEM;
}

static void remember_cancel(worker_t *w, const char *job_id)
{
    char **slot;

    if (lq_hashmap_get(w->cancelled, job_id))
        return; /* remembered already (one ring slot per id) */
    slot = &w->cancel_ring[w->cancel_next++ % CANCEL_MEMORY];
    if (*slot) { /* forget the oldest */
        lq_hashmap_remove(w->cancelled, *slot);
        free(*slot);
    }
    *slot = strdup(job_id);
    if (*slot)
        lq_hashmap_put(w->cancelled, *slot, *slot);
}

int cancels_known(const worker_t *w, const char *job_id)
{
    return lq_hashmap_get(w->cancelled, job_id) != NULL;
}

int cancels_batch_known(const worker_t *w, const char *batch_id)
{
    return worker_id_memory_has(w->batches_cancelled, batch_id);
}

/* j (here, not finished) stops now, with the error code and message given. */
static void stop_job(worker_t *w, job_t *j, const char *code, const char *msg)
{
    /* a call under way ends as cancelled (not one waiting for a back-off or a connection: the
     * last call's time was counted when it ended) */
    int calling = j->easy || j->timer == T_MOCK_DONE || j->timer == T_MOCK_TOKEN;

    if (calling)
        provider_metrics_cancelled(j);
    queueing_unqueue(w, j);  /* waiting for a slot: it never starts */
    host_slots_unwait(w, j); /* waiting for a connection to its provider: the same */
    http_call_detach(w, j);
    timer_remove(w, j);
    if (calling && j->attempt_start_us && !j->result.ok)
        j->provider_us += lq_mono_us() - j->attempt_start_us;
    worker_result_fail(&j->result, "cancelled", code, msg, 499, 0);
    j->result.ok = 0;
    j->cancelled = 1;
    LQ_DEBUG("job %s cancelled: %s", j->req.job_id, code);
    publish_finish(w, j);
}

/* j cancelled with reason (its own cancellation). */
static void stop_cancelled(worker_t *w, job_t *j, const char *reason)
{
    char msg[160];

    snprintf(msg, sizeof(msg), "The job was cancelled (%s).", reason);
    stop_job(w, j, reason, msg);
}

static void cancel_job(worker_t *w, const char *job_id, const char *reason)
{
    job_t *j = lq_hashmap_get(w->jobs, job_id);

    if (!j || j->finished) {
        remember_cancel(w, job_id); /* not here yet (or never): skip it if it comes */
        return;
    }
    stop_cancelled(w, j, reason);
}

/* The jobs here of one batch (collected first: stopping a job changes w->jobs). */
typedef struct batch_jobs {
    const char *batch_id;
    job_t **jobs;
    size_t n, cap;
} batch_jobs_t;

static void collect_batch(const char *key, void *value, void *arg)
{
    batch_jobs_t *b = arg;
    job_t *j = value;

    (void)key;
    if (b->n < b->cap && !j->finished && j->req.batch_id &&
        strcmp(j->req.batch_id, b->batch_id) == 0)
        b->jobs[b->n++] = j;
}

/* Every job of batch_id: those here stop now, those still to come are skipped. */
static void cancel_batch(worker_t *w, const char *batch_id, const char *reason)
{
    batch_jobs_t b = {batch_id, NULL, 0, lq_hashmap_size(w->jobs)};
    size_t i;

    if (worker_id_memory_add(w->batches_cancelled, batch_id) != LQ_OK)
        LQ_ERROR("batch %s cancelled: out of memory to remember it (its jobs still to come "
                 "will run)",
                 batch_id);
    if (b.cap && !(b.jobs = malloc(b.cap * sizeof(*b.jobs)))) {
        LQ_ERROR("batch %s cancelled: out of memory to stop its jobs here", batch_id);
        return;
    }
    if (b.cap)
        lq_hashmap_foreach(w->jobs, collect_batch, &b);
    for (i = 0; i < b.n; i++) {
        if (b.jobs[i]->attempts == 0) /* never started: kept from running */
            stop_job(w, b.jobs[i], "batch_cancelled", CANCELS_BATCH_MESSAGE);
        else
            stop_cancelled(w, b.jobs[i], reason);
    }
    free(b.jobs);
    LQ_INFO("batch %s cancelled (%s): %zu job(s) here stopped", batch_id, reason, b.n);
}

void cancels_handle(worker_t *w, const rd_kafka_message_t *m)
{
    lq_codec_t *codec = lq_codec_thread();
    lq_job_cancel_t k;
    char errstr[256];
    rd_kafka_topic_partition_list_t *l;

    if (codec &&
        lq_decode_job_cancel(codec, m->payload, m->len, &k, errstr, sizeof(errstr)) == LQ_OK) {
        if (strncmp(k.job_id, CANCELS_BATCH_PREFIX, strlen(CANCELS_BATCH_PREFIX)) == 0)
            cancel_batch(w, k.job_id, k.reason);
        else
            cancel_job(w, k.job_id, k.reason);
        lq_job_cancel_clear(&k);
    } else {
        LQ_WARN("cancellation p%d@%lld ignored: %s", m->partition, (long long)m->offset,
                codec ? errstr : "no codec");
    }
    l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, w->topics->cancels, m->partition)->offset = m->offset + 1;
    rd_kafka_offsets_store(w->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
}

void cancels_free(worker_t *w)
{
    size_t i;

    for (i = 0; i < CANCEL_MEMORY; i++) {
        free(w->cancel_ring[i]);
        w->cancel_ring[i] = NULL;
    }
    worker_id_memory_destroy(w->batches_cancelled);
    w->batches_cancelled = NULL;
}

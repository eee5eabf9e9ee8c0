/* Cancellations: stopping a job in flight or taking a queued one out, or remembering one that
 * has not arrived (or was set aside to the deferred topic). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "schemas/codec.h"
#include "workers/cancels.h"
#include "workers/http_call.h"
#include "workers/publish.h"
#include "workers/queueing.h"
#include "workers/timers.h"

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

static void cancel_job(worker_t *w, const char *job_id, const char *reason)
{
    job_t *j = lq_hashmap_get(w->jobs, job_id);
    char msg[160];

    if (!j || j->finished) {
        remember_cancel(w, job_id); /* not here yet (or never): skip it if it comes */
        return;
    }
    queueing_unqueue(w, j); /* waiting for a slot: it never starts */
    http_call_detach(w, j);
    timer_remove(w, j);
    if (j->attempt_start_us && !j->result.ok)
        j->provider_us += lq_mono_us() - j->attempt_start_us;
    snprintf(msg, sizeof(msg), "The job was cancelled (%s).", reason);
    worker_result_fail(&j->result, "cancelled", reason, msg, 499, 0);
    j->result.ok = 0;
    j->cancelled = 1;
    LQ_DEBUG("job %s cancelled: %s", job_id, reason);
    publish_finish(w, j);
}

void cancels_handle(worker_t *w, const rd_kafka_message_t *m)
{
    lq_codec_t *codec = lq_codec_thread();
    lq_job_cancel_t k;
    char errstr[256];
    rd_kafka_topic_partition_list_t *l;

    if (codec &&
        lq_decode_job_cancel(codec, m->payload, m->len, &k, errstr, sizeof(errstr)) == LQ_OK) {
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
}

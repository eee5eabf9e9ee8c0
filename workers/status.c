/* The worker's state written to PostgreSQL for the Queue page. See workers/status.h. */
#include "workers/status.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "common/clock.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/pg.h"

#define STATUS_EVERY_MS 5000

struct worker_status {
    worker_t *w;
    pthread_t thread;
    pthread_mutex_t mu;
    char *snapshot; /* the latest, not written yet (mu) */
    int stopping;   /* (mu) */
    int64_t next_ms;
    PGconn *conn;
};

static const char *const UPSERT_SQL =
    "INSERT INTO worker_status (worker_id, group_id, updated_at, status)"
    " VALUES ($1, $2, now(), $3::jsonb || jsonb_build_object('dead_letters', $4::bigint))"
    " ON CONFLICT (worker_id) DO UPDATE SET group_id = EXCLUDED.group_id, updated_at = now(),"
    " status = EXCLUDED.status";

/* The lag of each partition this worker owns: its position against the high watermark the
 * last fetch saw (no request to the brokers). */
static void write_partitions(worker_t *w, lq_jsonw_t *j)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    int i;

    lq_jsonw_key(j, "partitions");
    lq_jsonw_arr_open(j);
    if (rd_kafka_assignment(w->consumer, &a) == RD_KAFKA_RESP_ERR_NO_ERROR && a) {
        rd_kafka_position(w->consumer, a);
        for (i = 0; i < a->cnt; i++) {
            int64_t lo = -1, hi = -1, pos = a->elems[i].offset;
            rd_kafka_get_watermark_offsets(w->consumer, a->elems[i].topic, a->elems[i].partition,
                                           &lo, &hi);
            lq_jsonw_obj_open(j);
            lq_jsonw_kstr(j, "topic", a->elems[i].topic);
            lq_jsonw_kint(j, "partition", a->elems[i].partition);
            lq_jsonw_kint_or_null(j, "position", pos >= 0 ? pos : -1);
            lq_jsonw_kint_or_null(j, "end", hi >= 0 ? hi : -1);
            lq_jsonw_kint_or_null(j, "lag", hi >= 0 && pos >= 0 ? hi - pos : -1);
            lq_jsonw_obj_close(j);
        }
        rd_kafka_topic_partition_list_destroy(a);
    }
    lq_jsonw_arr_close(j);
}

static void write_breakers(worker_t *w, lq_jsonw_t *j, int64_t now)
{
    size_t ep, n = routing_endpoint_count(w->routing);

    lq_jsonw_key(j, "breakers");
    lq_jsonw_arr_open(j);
    for (ep = 0; ep < n; ep++) {
        const route_endpoint_t *e = routing_endpoint(w->routing, (int)ep);
        if (!e)
            continue;
        lq_jsonw_obj_open(j);
        lq_jsonw_kstr(j, "endpoint", e->name);
        lq_jsonw_kstr(j, "state", breaker_state_name(breaker_state(&w->breakers[ep], now)));
        lq_jsonw_obj_close(j);
    }
    lq_jsonw_arr_close(j);
}

static char *snapshot(worker_t *w)
{
    lq_jsonw_t j;

    lq_jsonw_init(&j);
    lq_jsonw_obj_open(&j);
    lq_jsonw_kint(&j, "inflight", (int64_t)w->inflight);
    lq_jsonw_kint(&j, "max_inflight", (int64_t)w->max_inflight);
    lq_jsonw_kint(&j, "queued", (int64_t)w->queued);
    lq_jsonw_kint(&j, "max_queued", w->set.worker.max_queued);
    lq_jsonw_kint(&j, "batch_jobs", (int64_t)w->batch_jobs);
    lq_jsonw_kint(&j, "batch_max", (int64_t)w->batch_max);
    lq_jsonw_key(&j, "requests_paused");
    lq_jsonw_bool(&j, w->paused);
    lq_jsonw_key(&j, "batch_paused");
    lq_jsonw_bool(&j, w->batch_paused);
    write_breakers(w, &j, lq_mono_ms());
    write_partitions(w, &j);
    lq_jsonw_obj_close(&j);
    if (j.failed) {
        lq_jsonw_free(&j);
        return NULL;
    }
    return j.p;
}

/* The dead-letter topic's size (its single partition: high - low watermark), or -1. */
static long long dead_letters(worker_t *w)
{
    int64_t lo = 0, hi = 0;

    if (rd_kafka_query_watermark_offsets(w->producer, w->topics->dlq, 0, &lo, &hi, 2000))
        return -1;
    return (long long)(hi - lo);
}

static void write_row(struct worker_status *s, const char *snap)
{
    char dlq[24], errstr[256];
    const char *p[4] = {s->w->id, s->w->set.worker.group, snap, dlq};
    PGresult *res;

    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        PQfinish(s->conn);
        s->conn = NULL;
        if (lq_pg_connect(s->w->set.common.pg.url, "llmq-worker-status", &s->conn, errstr,
                          sizeof(errstr)) != LQ_OK)
            return; /* tried again with the next snapshot */
    }
    snprintf(dlq, sizeof(dlq), "%lld", dead_letters(s->w));
    res = PQexecParams(s->conn, UPSERT_SQL, 4, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        LQ_DEBUG("worker status: %s", PQresultErrorMessage(res));
    PQclear(res);
}

static void *writer_main(void *arg)
{
    struct worker_status *s = arg;

    for (;;) {
        char *snap;
        int stop;
        pthread_mutex_lock(&s->mu);
        snap = s->snapshot;
        s->snapshot = NULL;
        stop = s->stopping;
        pthread_mutex_unlock(&s->mu);
        if (snap)
            write_row(s, snap);
        free(snap);
        if (stop)
            return NULL;
        nanosleep(&(struct timespec){0, 200 * 1000000}, NULL);
    }
}

lq_err_t worker_status_start(worker_t *w)
{
    struct worker_status *s = calloc(1, sizeof(*s));

    if (!s || pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s);
        return LQ_ERR_NOMEM;
    }
    s->w = w;
    if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        return LQ_ERR_NOMEM;
    }
    w->status = s;
    return LQ_OK;
}

void worker_status_tick(worker_t *w)
{
    struct worker_status *s = w->status;
    int64_t now = lq_mono_ms();
    char *snap;

    if (!s || now < s->next_ms)
        return;
    s->next_ms = now + STATUS_EVERY_MS;
    snap = snapshot(w);
    pthread_mutex_lock(&s->mu);
    free(s->snapshot);
    s->snapshot = snap;
    pthread_mutex_unlock(&s->mu);
}

void worker_status_stop(worker_t *w)
{
    struct worker_status *s = w->status;
    const char *p[1] = {w->id};

    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
        PQclear(PQexecParams(s->conn, "DELETE FROM worker_status WHERE worker_id = $1", 1, NULL, p,
                             NULL, NULL, 0));
    PQfinish(s->conn);
    free(s->snapshot);
    pthread_mutex_destroy(&s->mu);
    free(s);
    w->status = NULL;
}

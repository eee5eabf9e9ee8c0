/* A consumer's lag as gauges. See common/kafka_lag.h. */
#include "common/kafka_lag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"

#define LAG_EVERY_MS 1000

struct lq_kafka_lag {
    rd_kafka_t *consumer;
    char group[128];
    lq_metric_t *sum;
    lq_metric_t **owned; /* the per-partition gauges set at the last update */
    size_t n_owned;
    int64_t next_ms;
};

static const char LAG_HELP[] =
    "Records of a partition this consumer owns that it has not taken yet (the high watermark "
    "of its last fetch minus its position)";

lq_kafka_lag_t *lq_kafka_lag_new(rd_kafka_t *consumer, const char *group)
{
    lq_kafka_lag_t *l = calloc(1, sizeof(*l));
    char labels[160];

    if (!l)
        return NULL;
    l->consumer = consumer;
    snprintf(l->group, sizeof(l->group), "%s", group ? group : "");
    snprintf(labels, sizeof(labels), "group=\"%s\"", l->group);
    l->sum = lq_metrics_gauge("llmq_consumer_lag_sum_records",
                              "Records of every partition this consumer owns that it has not "
                              "taken yet",
                              labels);
    return l;
}

static int was_owned(lq_metric_t *const *list, size_t n, const lq_metric_t *m)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (list[i] == m)
            return 1;
    return 0;
}

void lq_kafka_lag_tick(lq_kafka_lag_t *l, int64_t now_ms)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    lq_metric_t **now_owned = NULL;
    size_t n_now = 0, i;
    int64_t sum = 0;

    if (!l || now_ms < l->next_ms)
        return;
    l->next_ms = now_ms + LAG_EVERY_MS;
    if (rd_kafka_assignment(l->consumer, &a) != RD_KAFKA_RESP_ERR_NO_ERROR || !a)
        return;
    rd_kafka_position(l->consumer, a);
    if (a->cnt > 0)
        now_owned = calloc((size_t)a->cnt, sizeof(*now_owned));
    for (i = 0; now_owned && i < (size_t)a->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &a->elems[i];
        int64_t lo = -1, hi = -1, lag;
        char labels[384];
        lq_metric_t *m;

        rd_kafka_get_watermark_offsets(l->consumer, p->topic, p->partition, &lo, &hi);
        /* no position yet (nothing fetched): everything from the low watermark is to take */
        lag = hi < 0 ? 0 : hi - (p->offset >= 0 ? p->offset : (lo >= 0 ? lo : hi));
        if (lag < 0)
            lag = 0;
        snprintf(labels, sizeof(labels), "group=\"%s\",topic=\"%s\",partition=\"%d\"", l->group,
                 p->topic, (int)p->partition);
        m = lq_metrics_gauge("llmq_consumer_lag_records", LAG_HELP, labels);
        lq_metric_set(m, lag);
        if (m)
            now_owned[n_now++] = m;
        sum += lag;
    }
    rd_kafka_topic_partition_list_destroy(a);
    for (i = 0; i < l->n_owned; i++) /* moved to another member: its owner reports it */
        if (!was_owned(now_owned, n_now, l->owned[i]))
            lq_metric_set(l->owned[i], 0);
    free(l->owned);
    l->owned = now_owned;
    l->n_owned = n_now;
    lq_metric_set(l->sum, sum);
}

void lq_kafka_lag_free(lq_kafka_lag_t *l)
{
    if (!l)
        return;
    free(l->owned);
    free(l);
}

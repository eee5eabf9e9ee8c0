/* common/kafka_lag.h — a consumer's lag as Prometheus gauges.
 *
 *   llmq_consumer_lag_records{group,topic,partition}  per partition the consumer owns: the
 *       high watermark its last fetch saw minus its position (records it has not taken yet)
 *   llmq_consumer_lag_sum_records{group}               their sum
 *
 * No request goes to the brokers: both figures are what the client already knows. A
 * partition that moved to another member reads 0 here (its new owner reports it). */
#ifndef LQ_KAFKA_LAG_H
#define LQ_KAFKA_LAG_H

#include <stdint.h>

#include <librdkafka/rdkafka.h>

typedef struct lq_kafka_lag lq_kafka_lag_t;

/** A reporter for consumer, a member of group; NULL on allocation failure. */
lq_kafka_lag_t *lq_kafka_lag_new(rd_kafka_t *consumer, const char *group);

/** Update the gauges when a second has passed since the last update (cheap otherwise). */
void lq_kafka_lag_tick(lq_kafka_lag_t *l, int64_t now_ms);

void lq_kafka_lag_free(lq_kafka_lag_t *l);

#endif

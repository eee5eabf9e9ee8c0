/* common/kafka.h — librdkafka set-up shared by the daemons. */
#ifndef LQ_KAFKA_H
#define LQ_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "common/config.h"
#include "common/err.h"

/* What a Kafka client is for. The role decides the settings that must be the same for every
 * client of that kind, so no caller can forget one:
 *   LQ_KAFKA_PRODUCER  idempotent (acks=all), partitioner murmur2_random (Java's, so a
 *                      tenant's records land on the partition any Kafka client would pick,
 *                      and requests, cancellations and replayed dead letters stay
 *                      co-partitioned), linger 2 ms, compression from the spec
 *   LQ_KAFKA_CONSUMER  group.id from the spec, a new group starts at the earliest
 *                      offset; how offsets are stored and committed is the caller's
 *   LQ_KAFKA_ADMIN     a handle for the Admin API and metadata only
 * Every client: bootstrap servers, client.id, Nagle off, librdkafka's log through ours. */
typedef enum lq_kafka_role { LQ_KAFKA_PRODUCER, LQ_KAFKA_CONSUMER, LQ_KAFKA_ADMIN } lq_kafka_role_t;

typedef void lq_kafka_dr_cb_t(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
typedef void lq_kafka_rebalance_cb_t(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                     rd_kafka_topic_partition_list_t *parts, void *opaque);

typedef struct lq_kafka_spec {
    lq_kafka_role_t role;
    const char *brokers;                   /* bootstrap.servers (required) */
    const char *client_id;                 /* e.g. "llmq-ingest" (required) */
    const char *group_id;                  /* consumers: the consumer group (required for them) */
    const char *compression;               /* producers: NULL or "none" = none */
    const char *const *settings;           /* this client's own settings on top of its role's:
                                       key, value, ..., NULL (may be NULL) */
    const lq_config_t *cfg;                /* NULL, or settings whose kafka.* pass-through keys are
                                       applied last (an operator's word wins) */
    lq_kafka_dr_cb_t *on_delivery;         /* producers: delivery reports (may be NULL) */
    lq_kafka_rebalance_cb_t *on_rebalance; /* consumers: may be NULL (librdkafka assigns) */
    void *opaque;                          /* passed to the callbacks */
} lq_kafka_spec_t;

/** A spec of role for a daemon: brokers, compression and pass-through from its settings. */
lq_kafka_spec_t lq_kafka_spec(const lq_common_settings_t *set, lq_kafka_role_t role,
                              const char *client_id);

/** The one constructor of Kafka clients. NULL on error (errstr names the setting). */
rd_kafka_t *lq_kafka_new(const lq_kafka_spec_t *spec, char *errstr, size_t errstr_size);

/** The partition a murmur2_random producer puts key on, of partition_cnt partitions (what
 * Kafka's Java client computes): for checks and tests. */
int32_t lq_kafka_partition_of(const char *key, size_t key_len, int32_t partition_cnt);

/** Create topics through the Admin API (existing ones are fine). partitions per topic;
 * replication as the brokers' default.replication.factor. Returns LQ_ERR_KAFKA with errstr
 * when the broker refuses for another reason. */
lq_err_t lq_kafka_create_topics(rd_kafka_t *rk, const char *const *names, const int *partitions,
                                size_t n, const char *const *configs, int timeout_ms, char *errstr,
                                size_t errstr_size);
/* configs: NULL, or topic settings for every topic as a NULL-terminated key, value, ...
 * list (e.g. "retention.ms", "3600000"). */

/** lq_kafka_create_topics with replication copies of every partition (-1 = broker default). */
lq_err_t lq_kafka_create_topics_replicated(rd_kafka_t *rk, const char *const *names,
                                           const int *partitions, size_t n, int replication,
                                           const char *const *configs, int timeout_ms, char *errstr,
                                           size_t errstr_size);

/** Partition count of a topic from metadata (requesting it may auto-create the topic);
 * -1 when unknown within the timeout. */
int lq_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms);

#endif

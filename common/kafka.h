/* common/kafka.h — librdkafka set-up shared by the daemons. */
#ifndef LQ_KAFKA_H
#define LQ_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "common/config.h"
#include "common/err.h"

typedef struct lq_topics {
    char requests[200];
    char responses[200];
    char usage[200];
    char traces[200];
    char dlq[200];
    char cancels[200];
    char replies_prefix[200];
} lq_topics_t;

void lq_topics_from_config(lq_topics_t *t, const lq_config_t *cfg);

/** A librdkafka configuration with bootstrap.servers, client.id, our logger, the daemon's
 * defaults (NULL-terminated key, value, key, value, ... list; may be NULL) and then every
 * kafka.* pass-through setting, which wins. NULL on error (errstr filled). */
rd_kafka_conf_t *lq_kafka_conf_new(const lq_config_t *cfg, const char *client_id,
                                   const char *const *defaults, char *errstr,
                                   size_t errstr_size);

/** rd_kafka_conf_set with errors translated. */
lq_err_t lq_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                           char *errstr, size_t errstr_size);

/** Create topics through the Admin API (existing ones are fine). partitions per topic;
 * replication -1 = broker default. Returns LQ_ERR_KAFKA with errstr when the broker refuses
 * for another reason. */
lq_err_t lq_kafka_create_topics(rd_kafka_t *rk, const char *const *names, const int *partitions,
                                size_t n, const char *const *configs, int timeout_ms, char *errstr,
                                size_t errstr_size);
/* configs: NULL, or topic settings for every topic as a NULL-terminated key, value, ...
 * list (e.g. "retention.ms", "3600000"). */

/** Partition count of a topic from metadata (requesting it may auto-create the topic);
 * -1 when unknown within the timeout. */
int lq_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms);

#endif

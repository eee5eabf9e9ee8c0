/* ingest/size_limits.h — the size limits a request meets on its way into Kafka, made
 * consistent at start: the HTTP body limit (http.max_body_bytes), the producer's
 * message.max.bytes, and the requests topic's max.message.bytes (read from the broker).
 *
 * A body the node accepts must fit in one Kafka record: when it could not, the node lowers
 * its effective body limit, with a warning naming both settings, rather than answering 503
 * for a request that can never be queued. At run time an encoded record larger than what
 * Kafka takes, or a delivery report saying so, is a 413 (request_too_large). */
#ifndef LQ_INGEST_SIZE_LIMITS_H
#define LQ_INGEST_SIZE_LIMITS_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "common/err.h"
#include "ingest/node.h"

/* What a record needs beyond its body: the record's framing in a batch, the key (a tenant
 * id), the schema framing and the fields ingest adds (ids, reply topic, deadline). */
#define INGEST_RECORD_FRAMING  512
#define INGEST_RECORD_HEADROOM 16384

/** The largest record Kafka takes: the smaller of the producer's message.max.bytes and
 * the topic's max.message.bytes (0: unknown), less the batch framing. */
size_t ingest_record_limit(size_t producer_max, size_t topic_max);

/** The body limit that fits the record limit: max_body, or less when a body of max_body
 * bytes (plus the headroom the encoding adds) could not fit. */
size_t ingest_body_limit_for(size_t max_body, size_t record_limit);

/** Whether a produce error means the record is too large (a 413, never a 503). */
int ingest_kafka_err_too_large(rd_kafka_resp_err_t err);

/** Read the producer's and the topic's limits and set n->max_record; lower n->max_body
 * (with a warning) when it does not fit. The topic's value is read with DescribeConfigs
 * within timeout_ms; when the broker does not answer, the producer's value decides. */
lq_err_t ingest_size_limits_apply(ingest_node_t *n, int timeout_ms, char *errstr,
                                  size_t errstr_size);

#endif

/* workers/produce.h — sending a job's outputs to Kafka: each send holds the job (j->pending)
 * until its delivery report, so a message is done only when all its outputs are stored. */
#ifndef LQ_WORKER_PRODUCE_H
#define LQ_WORKER_PRODUCE_H

#include "workers/worker_internal.h"

/** Send a copy of buf to topic with key, held by j. 0, or librdkafka's error (logged and
 * counted; RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE when buf is larger than one record may be). */
rd_kafka_resp_err_t produce(worker_t *w, job_t *j, const char *topic, const char *key,
                            const void *buf, size_t len);

/** produce() with hdrs (taken: freed here on failure; NULL: none). */
rd_kafka_resp_err_t produce_with_headers(worker_t *w, job_t *j, const char *topic, const char *key,
                                         const void *buf, size_t len, rd_kafka_headers_t *hdrs);

/** Send a copy of buf with hdrs (taken: freed here on failure) to the dead-letter topic,
 * held by j; 0, or -1 (logged). */
int produce_dead_letter(worker_t *w, job_t *j, const void *key, size_t key_len, const void *buf,
                        size_t len, rd_kafka_headers_t *hdrs);

/** The producer's delivery report callback (rd_kafka_conf_set_dr_msg_cb; opaque = the
 * worker): a failed delivery is sent again, a done one releases its job. A deferred copy that
 * cannot be stored leaves its message not done (redelivered after a restart). */
void produce_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

#endif

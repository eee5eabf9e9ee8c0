/* sinks/sink.h — a sink process: a consumer group member that reads the topics of its
 * writers, writes each batch to PostgreSQL in one transaction, and only then commits the
 * batch's offsets (at-least-once delivery, made exact by unique ids). */
#ifndef LQ_SINK_H
#define LQ_SINK_H

#include <stddef.h>

#include "common/config.h"
#include "common/err.h"

typedef struct sink sink_t;

lq_err_t sink_create(sink_t **out, const lq_config_t *cfg, char *errstr, size_t errstr_size);
lq_err_t sink_run(sink_t *s, int (*stop_flag)(void));
void sink_destroy(sink_t *s); /* NULL-safe */

#endif

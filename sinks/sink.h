/* sinks/sink.h — a sink process: a consumer group member that reads the topics of its
 * writers, writes each batch to PostgreSQL in one transaction, and only then commits the
 * batch's offsets (at-least-once delivery, made exact by unique ids). */
#ifndef LQ_SINK_H
#define LQ_SINK_H

#include <stddef.h>

#include "common/err.h"
#include "sinks/sink_config.h"

typedef struct sink sink_t;

/** set is copied; its strings must outlive the sink. */
lq_err_t sink_create(sink_t **out, const sink_settings_t *set, char *errstr, size_t errstr_size);
lq_err_t sink_run(sink_t *s, int (*stop_flag)(void));
void sink_destroy(sink_t *s); /* NULL-safe */

#endif

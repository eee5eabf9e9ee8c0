/* sinks/writers_internal.h — shared by the sink's row building (writers.c) and its batch
 * write (batch_write.c). */
#ifndef LQ_SINK_WRITERS_INTERNAL_H
#define LQ_SINK_WRITERS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/jsonw.h"

/** Append one dead_letters row to w: the record as it came (base64), where from, and why. */
void sink_dead_row(lq_jsonw_t *w, const void *buf, size_t len, const char *topic, int32_t partition,
                   int64_t offset, const char *error);

#endif

/* ops/llmqctl/export.h — llmqctl export usage|traces|jobs --from T --to T --out FILE
 * [--tenant T]: rows of a time range (T: a timestamp PostgreSQL reads, e.g. 2026-12-01 or
 * 2026-12-01T12:00:00Z) as an Avro object container file in the schema of their topic, for
 * fastavro, DuckDB, Spark and the like (docs/analytics.md). */
#ifndef LQ_CTL_EXPORT_H
#define LQ_CTL_EXPORT_H

#include "ops/llmqctl/call.h"

int ctl_export(const ctl_call_t *c, const char *what);
int ctl_export_usage(const ctl_call_t *c);
int ctl_export_traces(const ctl_call_t *c);
int ctl_export_jobs(const ctl_call_t *c);

#endif

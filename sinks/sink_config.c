#include "sinks/sink_config.h"

const lq_config_def_t sink_settings[] = {
    {"sink.writers", LQ_CFG_STRING, "jobs,usage,traces", 0, 0,
     "which writers this process runs (comma-separated: jobs, usage, traces)",
     LQ_CFG_AT(sink_settings_t, sink.writers)},
    {"sink.group", LQ_CFG_STRING, "llmq-sinks", 0, 0, "Kafka consumer group of the sinks",
     LQ_CFG_AT(sink_settings_t, sink.group)},
    {"sink.batch_max", LQ_CFG_INT, "2000", 1, 1000000, "records written per transaction at most",
     LQ_CFG_AT(sink_settings_t, sink.batch_max)},
    {"sink.batch_ms", LQ_CFG_INT, "50", 1, 60000,
     "how long a batch may wait to fill before it is written",
     LQ_CFG_AT(sink_settings_t, sink.batch_ms)},
    {"sink.migrate", LQ_CFG_BOOL, "false", 0, 0, "apply pending migrations at start",
     LQ_CFG_AT(sink_settings_t, sink.migrate)},
    {"analytics.retention_days", LQ_CFG_INT, "400", 31, 36500,
     "months of the analytics rollups that ended longer ago than this are dropped (hourly)",
     LQ_CFG_AT(sink_settings_t, analytics.retention_days)},
    {"admin.port", LQ_CFG_INT, "8082", -1, 65535,
     "port of /healthz, /readyz, /metrics (0 = any free port; a port in use falls back to a "
     "free one, named in the log; -1 = off)",
     LQ_CFG_AT(sink_settings_t, admin.port)},
    {"admin.bind", LQ_CFG_STRING, "127.0.0.1", 0, 0, "address of the admin endpoints",
     LQ_CFG_AT(sink_settings_t, admin.bind)},
    {NULL, 0, NULL, 0, 0, NULL, 0}};

const lq_config_def_t *const sink_settings_tables[] = {lq_common_settings, sink_settings, NULL};

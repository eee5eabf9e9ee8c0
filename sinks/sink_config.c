#include "sinks/sink_config.h"

const lq_config_def_t sink_settings[] = {
    {"sink.writers", LQ_CFG_STRING, "jobs,usage,traces", 0, 0,
     "which writers this process runs (comma-separated: jobs, usage, traces)"},
    {"sink.group", LQ_CFG_STRING, "llmq-sinks", 0, 0, "Kafka consumer group of the sinks"},
    {"sink.batch_max", LQ_CFG_INT, "2000", 1, 1000000, "records written per transaction at most"},
    {"sink.batch_ms", LQ_CFG_INT, "50", 1, 60000,
     "how long a batch may wait to fill before it is written"},
    {"sink.migrate", LQ_CFG_BOOL, "false", 0, 0, "apply pending migrations at start"},
    {"admin.port", LQ_CFG_INT, "0", 0, 65535, "port of /healthz, /readyz, /metrics (0 = off)"},
    {"admin.bind", LQ_CFG_STRING, "127.0.0.1", 0, 0, "address of the admin endpoints"},
    {NULL, 0, NULL, 0, 0, NULL}};

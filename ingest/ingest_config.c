#include "ingest/ingest_config.h"

const lq_config_def_t ingest_settings[] = {
    {"http.bind", LQ_CFG_STRING, "127.0.0.1", 0, 0, "address the API listens on (0.0.0.0 for all)",
     LQ_CFG_AT(ingest_settings_t, http.bind)},
    {"http.port", LQ_CFG_INT, "8080", 0, 65535, "port of the API (0 = any free port, printed at start)",
     LQ_CFG_AT(ingest_settings_t, http.port)},
    {"http.threads", LQ_CFG_INT, "2", 1, 256, "HTTP event-loop threads",
     LQ_CFG_AT(ingest_settings_t, http.threads)},
    {"http.max_body_bytes", LQ_CFG_INT, "1048576", 1024, 268435456,
     "largest request body accepted; larger ones get 413",
     LQ_CFG_AT(ingest_settings_t, http.max_body_bytes)},
    {"http.connection_timeout_s", LQ_CFG_INT, "30", 1, 3600,
     "idle client connections are closed after this many seconds",
     LQ_CFG_AT(ingest_settings_t, http.connection_timeout_s)},
    {"http.connection_memory_bytes", LQ_CFG_INT, "16384", 4096, 1048576,
     "memory per client connection for its request line and headers (larger headers get 431)",
     LQ_CFG_AT(ingest_settings_t, http.connection_memory_bytes)},
    {"http.max_connections", LQ_CFG_INT, "10000", 16, 1000000, "concurrent client connections",
     LQ_CFG_AT(ingest_settings_t, http.max_connections)},
    {"ingest.node_id", LQ_CFG_STRING, "", 0, 0,
     "this node's id, naming its reply topic; empty = host name and port",
     LQ_CFG_AT(ingest_settings_t, ingest.node_id)},
    {"ingest.sync_timeout_ms", LQ_CFG_INT, "120000", 100, 3600000,
     "how long a synchronous chat completion waits for its result before 504 (the job goes on)",
     LQ_CFG_AT(ingest_settings_t, ingest.sync_timeout_ms)},
    {"ingest.enqueue_timeout_ms", LQ_CFG_INT, "5000", 100, 300000,
     "how long Kafka may take to acknowledge a request before the client gets 503",
     LQ_CFG_AT(ingest_settings_t, ingest.enqueue_timeout_ms)},
    {"ingest.max_messages", LQ_CFG_INT, "1024", 1, 100000, "messages allowed in one request",
     LQ_CFG_AT(ingest_settings_t, ingest.max_messages)},
    {"ingest.max_model_len", LQ_CFG_INT, "256", 1, 4096, "longest model name accepted",
     LQ_CFG_AT(ingest_settings_t, ingest.max_model_len)},
    {"ingest.max_json_depth", LQ_CFG_INT, "64", 4, 2000,
     "deepest nesting of arrays and objects accepted in a request body",
     LQ_CFG_AT(ingest_settings_t, ingest.max_json_depth)},
    {"ingest.recent_jobs", LQ_CFG_INT, "200000", 0, 10000000,
     "accepted async jobs remembered in memory, so a poll that comes before the job is in "
     "PostgreSQL answers queued rather than 404",
     LQ_CFG_AT(ingest_settings_t, ingest.recent_jobs)},
    {"auth.cache_ttl_ms", LQ_CFG_INT, "30000", 0, 3600000,
     "how long a valid key stays cached; changes (revocation, disabling) reach the node at once "
     "through a PostgreSQL notification, this bounds it when notifications are lost",
     LQ_CFG_AT(ingest_settings_t, auth.cache_ttl_ms)},
    {"auth.negative_ttl_ms", LQ_CFG_INT, "2000", 0, 3600000, "how long an unknown key stays cached",
     LQ_CFG_AT(ingest_settings_t, auth.negative_ttl_ms)},
    {"auth.cache_max", LQ_CFG_INT, "100000", 16, 10000000, "keys cached at most",
     LQ_CFG_AT(ingest_settings_t, auth.cache_max)},
    {"pg.pool_size", LQ_CFG_INT, "2", 1, 64, "PostgreSQL connections for auth and polling",
     LQ_CFG_AT(ingest_settings_t, pg.pool_size)},
    {"pg.max_queue", LQ_CFG_INT, "10000", 1, 1000000,
     "queries waiting for a connection before clients get 503",
     LQ_CFG_AT(ingest_settings_t, pg.max_queue)},
    {NULL, 0, NULL, 0, 0, NULL, 0}};

const lq_config_def_t *const ingest_settings_tables[] = {lq_common_settings, ingest_settings, NULL};

lq_err_t ingest_settings_bind(const lq_config_t *cfg, ingest_settings_t *out, char *errstr,
                          size_t errstr_size)
{
    return lq_config_bind(cfg, out, sizeof(*out), errstr, errstr_size);
}

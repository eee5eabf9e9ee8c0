#include "ingest/ingest_config.h"

const lq_config_def_t ingest_settings[] = {
    {"http.bind", LQ_CFG_STRING, "127.0.0.1", 0, 0, "address the API listens on (0.0.0.0 for all)",
     LQ_CFG_AT(ingest_settings_t, http.bind)},
    {"http.port", LQ_CFG_INT, "8080", 0, 65535,
     "port of the API (0 = any free port, printed at start)",
     LQ_CFG_AT(ingest_settings_t, http.port)},
    {"http.threads", LQ_CFG_INT, "2", 1, 256, "HTTP event-loop threads",
     LQ_CFG_AT(ingest_settings_t, http.threads)},
    {"http.max_body_bytes", LQ_CFG_INT, "983040", 1024, 268435456,
     "largest request body accepted; larger ones get 413 before they are read. Lowered at start "
     "(with a warning) when a body this large could not fit in one Kafka record (the producer's "
     "message.max.bytes, the requests topic's max.message.bytes)",
     LQ_CFG_AT(ingest_settings_t, http.max_body_bytes)},
    {"http.max_url_bytes", LQ_CFG_INT, "8192", 256, 65536,
     "longest request URL (path and query) accepted; longer ones get 414",
     LQ_CFG_AT(ingest_settings_t, http.max_url_bytes)},
    {"http.max_header_bytes", LQ_CFG_INT, "16384", 1024, 262144,
     "largest request headers (all of them, names and values) accepted; larger ones get 431",
     LQ_CFG_AT(ingest_settings_t, http.max_header_bytes)},
    {"http.connection_timeout_s", LQ_CFG_INT, "30", 1, 3600,
     "idle client connections are closed after this many seconds",
     LQ_CFG_AT(ingest_settings_t, http.connection_timeout_s)},
    {"http.connection_memory_bytes", LQ_CFG_INT, "65536", 4096, 4194304,
     "memory per client connection for its request line and headers; raised at start to twice "
     "http.max_url_bytes + http.max_header_bytes, plus 16 KiB, so the node answers 414 and 431 "
     "itself (in the API's error shape) below that",
     LQ_CFG_AT(ingest_settings_t, http.connection_memory_bytes)},
    {"http.max_connections", LQ_CFG_INT, "10000", 16, 1000000, "concurrent client connections",
     LQ_CFG_AT(ingest_settings_t, http.max_connections)},
    {"ingest.node_id", LQ_CFG_STRING, "", 0, 0,
     "this node's id, naming its reply topic; empty = host name and port",
     LQ_CFG_AT(ingest_settings_t, ingest.node_id)},
    {"ingest.sync_timeout_ms", LQ_CFG_INT, "120000", 100, 3600000,
     "how long a synchronous chat completion waits for its result before 504 (the job goes on)",
     LQ_CFG_AT(ingest_settings_t, ingest.sync_timeout_ms)},
    {"ingest.reply_fetch_wait_ms", LQ_CFG_INT, "500", 1, 10000,
     "how long the broker may hold the node's fetch of its reply topic when it has nothing "
     "(Kafka answers as soon as a reply arrives, so this only sets how often an idle node asks; "
     "replies come directly, the topic is their fallback. The embedded cluster answers only "
     "when the wait is over: ops/up.sh sets 10 there)",
     LQ_CFG_AT(ingest_settings_t, ingest.reply_fetch_wait_ms)},
    {"ingest.enqueue_timeout_ms", LQ_CFG_INT, "5000", 100, 300000,
     "how long Kafka may take to acknowledge a request before the client gets 503",
     LQ_CFG_AT(ingest_settings_t, ingest.enqueue_timeout_ms)},
    {"ingest.eager_inflight_max", LQ_CFG_INT, "2", 0, 1000,
     "how many of the node's sync and streamed requests may await Kafka's acknowledgement on "
     "its eager producer, which sends each record at once (no linger); a request beyond that "
     "gathers with others for kafka.linger.ms (0.5) on the batched producer. A node with little "
     "load so saves the linger on every request, a busy one sends fewer, larger produce "
     "requests. 0 = every request lingers",
     LQ_CFG_AT(ingest_settings_t, ingest.eager_inflight_max)},
    {"ingest.async_linger_ms", LQ_CFG_INT, "2", -1, 1000,
     "how long the producer of async submissions (POST /v1/jobs, async conversation turns) "
     "gathers them into one produce request. Their callers wait for Kafka's acknowledgement, "
     "not for an answer, so they are batched longer than sync and streamed requests "
     "(kafka.linger.ms, 0.5): fewer, larger produce requests cost the node and the broker less "
     "under load. -1 = async submissions share the producer of sync requests",
     LQ_CFG_AT(ingest_settings_t, ingest.async_linger_ms)},
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
    {"direct_replies.port", LQ_CFG_INT, "0", -1, 65535,
     "port where workers hand this node the replies of its sync and streamed requests directly, "
     "skipping the reply topic (0 = any free port; -1 = off: every reply comes through the "
     "reply topic)",
     LQ_CFG_AT(ingest_settings_t, direct_replies.port)},
    {"direct_replies.bind", LQ_CFG_STRING, "127.0.0.1", 0, 0,
     "address of the direct-reply listener: one the workers can reach (0.0.0.0 for all; keep it "
     "off the public network)",
     LQ_CFG_AT(ingest_settings_t, direct_replies.bind)},
    {"direct_replies.host", LQ_CFG_STRING, "", 0, 0,
     "how workers reach the direct-reply listener (host name or address); empty = "
     "direct_replies.bind, or this machine's host name when that is 0.0.0.0",
     LQ_CFG_AT(ingest_settings_t, direct_replies.host)},
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
    {"files.max_bytes", LQ_CFG_INT, "209715200", 1024, 1073741824,
     "largest file POST /v1/files accepts (its content; the multipart framing is extra)",
     LQ_CFG_AT(ingest_settings_t, files.max_bytes)},
    {"files.max_lines", LQ_CFG_INT, "50000", 1, 10000000,
     "most requests (lines that are not blank) in a file of purpose batch",
     LQ_CFG_AT(ingest_settings_t, files.max_lines)},
    {"batches.runner", LQ_CFG_BOOL, "true", 0, 0,
     "this node expands batches into jobs and finalizes them (every node may: each batch is "
     "held by one node at a time, under a lease)",
     LQ_CFG_AT(ingest_settings_t, batches.runner)},
    {"batches.poll_ms", LQ_CFG_INT, "500", 50, 60000,
     "how often the batch runner looks for work and for the progress of its batches",
     LQ_CFG_AT(ingest_settings_t, batches.poll_ms)},
    {"batches.lines_per_step", LQ_CFG_INT, "2000", 1, 100000,
     "lines of a batch turned into jobs per step (one database call and one Kafka flush)",
     LQ_CFG_AT(ingest_settings_t, batches.lines_per_step)},
    {"batches.finalize_grace_ms", LQ_CFG_INT, "300000", 0, 86400000,
     "how long after a batch's window ends (or its cancellation) requests that never ended are "
     "waited for before the batch is finalized without them",
     LQ_CFG_AT(ingest_settings_t, batches.finalize_grace_ms)},
    {NULL, 0, NULL, 0, 0, NULL, 0}};

const lq_config_def_t *const ingest_settings_tables[] = {lq_common_settings, ingest_settings, NULL};

#include "workers/worker_config.h"

const lq_config_def_t worker_settings[] = {
    {"worker.id", LQ_CFG_STRING, "", 0, 0, "this worker's id in traces; empty = host name and pid",
     LQ_CFG_AT(worker_settings_t, worker.id)},
    {"worker.group", LQ_CFG_STRING, "llmq-workers", 0, 0, "Kafka consumer group of the workers",
     LQ_CFG_AT(worker_settings_t, worker.group)},
    {"worker.max_inflight", LQ_CFG_INT, "1024", 1, 1000000,
     "requests in flight at once (provider calls); the others wait in the fair queue",
     LQ_CFG_AT(worker_settings_t, worker.max_inflight)},
    {"worker.tenant_queue_max", LQ_CFG_INT, "256", 1, 1000000,
     "requests one tenant may have waiting in a worker's fair queue; more are set aside to "
     "topic.deferred and read back when there is room",
     LQ_CFG_AT(worker_settings_t, worker.tenant_queue_max)},
    {"worker.max_queued", LQ_CFG_INT, "10000", 1, 10000000,
     "requests waiting in a worker's fair queue in all; at this bound the worker pauses its "
     "partitions",
     LQ_CFG_AT(worker_settings_t, worker.max_queued)},
    {"worker.batch_max_inflight", LQ_CFG_INT, "0", 0, 1000000,
     "batch jobs (lines of Batch API batches, topic.batch) a worker holds at most, queued or in "
     "flight; 0 = a quarter of worker.max_inflight (at least 1). The batch partitions are also "
     "paused while interactive requests wait for a slot: batch work gets the capacity left over",
     LQ_CFG_AT(worker_settings_t, worker.batch_max_inflight)},
    {"topic.deferred", LQ_CFG_STRING, "llmq.requests.deferred", 0, 0,
     "requests set aside while their tenant's queue is full (key tenant, as many partitions as "
     "topic.requests)",
     LQ_CFG_AT(worker_settings_t, topic.deferred)},
    {"worker.drain_timeout_ms", LQ_CFG_INT, "30000", 0, 3600000,
     "on SIGTERM, how long in-flight requests may take to finish",
     LQ_CFG_AT(worker_settings_t, worker.drain_timeout_ms)},
    {"worker.fetch_wait_ms", LQ_CFG_INT, "10", 1, 1000,
     "how long the broker may hold the worker's fetch of requests when there are none (Kafka "
     "answers as soon as a request arrives, so this only sets how often an idle worker asks; "
     "the embedded cluster answers only when it runs out, so there it is the wait of a request "
     "that arrives while the worker is idle)",
     LQ_CFG_AT(worker_settings_t, worker.fetch_wait_ms)},
    {"worker.linger_ms", LQ_CFG_INT, "20", 0, 1000,
     "how long the worker's producer gathers records into one produce request (no caller waits "
     "on them: a sync or streamed answer goes to the ingest node directly, and the record only "
     "has to be durable before the request's offset is committed; fewer, larger produce "
     "requests cost the broker less)",
     LQ_CFG_AT(worker_settings_t, worker.linger_ms)},
    {"worker.event_topics", LQ_CFG_BOOL, "false", 0, 0,
     "also write each job's UsageEvent to topic.usage and its TraceEvent to topic.traces, for "
     "consumers of those topics (sinks read both from the job's final ChatResponse on "
     "topic.responses: two records fewer per job when off)",
     LQ_CFG_AT(worker_settings_t, worker.event_topics)},
    {"admin.port", LQ_CFG_INT, "8081", -1, 65535,
     "port of /healthz, /readyz, /metrics (0 = any free port; a port in use falls back to a "
     "free one, named in the log; -1 = off)",
     LQ_CFG_AT(worker_settings_t, admin.port)},
    {"admin.bind", LQ_CFG_STRING, "127.0.0.1", 0, 0, "address of the admin endpoints",
     LQ_CFG_AT(worker_settings_t, admin.bind)},
    {"mock.latency_ms", LQ_CFG_INT, "20", 0, 600000, "the mock provider's response time",
     LQ_CFG_AT(worker_settings_t, mock.latency_ms)},
    {"mock.completion_tokens", LQ_CFG_INT, "16", 1, 100000,
     "tokens (words) in each mock completion, unless max_tokens is lower",
     LQ_CFG_AT(worker_settings_t, mock.completion_tokens)},
    {"mock.token_interval_ms", LQ_CFG_INT, "0", 0, 60000,
     "streaming: the mock provider's time between two words (the first comes after "
     "mock.latency_ms)",
     LQ_CFG_AT(worker_settings_t, mock.token_interval_ms)},
    {"openai.base_url", LQ_CFG_STRING, "https://api.openai.com/v1", 0, 0,
     "base URL of the OpenAI-compatible provider (…/v1)",
     LQ_CFG_AT(worker_settings_t, openai.base_url)},
    {"openai.api_key", LQ_CFG_STRING, "", 0, 0,
     "OpenAI key; with no provider key set at all, every model is served by the mock provider",
     LQ_CFG_AT(worker_settings_t, openai.api_key)},
    {"anthropic.base_url", LQ_CFG_STRING, "https://api.anthropic.com/v1", 0, 0,
     "base URL of Anthropic's Messages API", LQ_CFG_AT(worker_settings_t, anthropic.base_url)},
    {"anthropic.api_key", LQ_CFG_STRING, "", 0, 0, "Anthropic key (models claude-*)",
     LQ_CFG_AT(worker_settings_t, anthropic.api_key)},
    {"gemini.base_url", LQ_CFG_STRING, "https://generativelanguage.googleapis.com/v1beta", 0, 0,
     "base URL of Google's Gemini API", LQ_CFG_AT(worker_settings_t, gemini.base_url)},
    {"gemini.api_key", LQ_CFG_STRING, "", 0, 0, "Gemini key (models gemini-*)",
     LQ_CFG_AT(worker_settings_t, gemini.api_key)},
    {"openrouter.base_url", LQ_CFG_STRING, "https://openrouter.ai/api/v1", 0, 0,
     "base URL of OpenRouter", LQ_CFG_AT(worker_settings_t, openrouter.base_url)},
    {"openrouter.api_key", LQ_CFG_STRING, "", 0, 0, "OpenRouter key (models vendor/model)",
     LQ_CFG_AT(worker_settings_t, openrouter.api_key)},
    {"openrouter.referer", LQ_CFG_STRING, "", 0, 0, "HTTP-Referer sent to OpenRouter (attribution)",
     LQ_CFG_AT(worker_settings_t, openrouter.referer)},
    {"openrouter.title", LQ_CFG_STRING, "llmq", 0, 0, "X-Title sent to OpenRouter (attribution)",
     LQ_CFG_AT(worker_settings_t, openrouter.title)},
    {"perplexity.base_url", LQ_CFG_STRING, "https://api.perplexity.ai", 0, 0,
     "base URL of Perplexity", LQ_CFG_AT(worker_settings_t, perplexity.base_url)},
    {"perplexity.api_key", LQ_CFG_STRING, "", 0, 0, "Perplexity key (models sonar*)",
     LQ_CFG_AT(worker_settings_t, perplexity.api_key)},
    {"routing.file", LQ_CFG_STRING, "", 0, 0,
     "routing table (JSON, docs/routing.md); empty = one endpoint per provider key set above",
     LQ_CFG_AT(worker_settings_t, routing.file)},
    {"pricing.file", LQ_CFG_STRING, "", 0, 0,
     "prices that override or extend the built-in table (docs/providers.md)",
     LQ_CFG_AT(worker_settings_t, pricing.file)},
    {"provider.first_byte_timeout_ms", LQ_CFG_INT, "60000", 100, 3600000,
     "limit from sending a request to the provider's first byte",
     LQ_CFG_AT(worker_settings_t, provider.first_byte_timeout_ms)},
    {"breaker.failures", LQ_CFG_INT, "5", 1, 1000,
     "consecutive retriable failures that open an endpoint's circuit breaker",
     LQ_CFG_AT(worker_settings_t, breaker.failures)},
    {"breaker.open_ms", LQ_CFG_INT, "30000", 10, 3600000,
     "how long an open breaker refuses calls before one probe is let through",
     LQ_CFG_AT(worker_settings_t, breaker.open_ms)},
    {"provider.connect_timeout_ms", LQ_CFG_INT, "5000", 100, 600000, "TCP+TLS connect limit",
     LQ_CFG_AT(worker_settings_t, provider.connect_timeout_ms)},
    {"provider.timeout_ms", LQ_CFG_INT, "120000", 100, 3600000, "total limit of one provider call",
     LQ_CFG_AT(worker_settings_t, provider.timeout_ms)},
    {"provider.max_attempts", LQ_CFG_INT, "3", 1, 20,
     "attempts per candidate on retriable errors (429, 5xx, 529, timeouts), then the next "
     "candidate",
     LQ_CFG_AT(worker_settings_t, provider.max_attempts)},
    {"provider.max_response_bytes", LQ_CFG_INT, "16777216", 1024, 1073741824,
     "largest provider response accepted",
     LQ_CFG_AT(worker_settings_t, provider.max_response_bytes)},
    {"provider.max_host_connections", LQ_CFG_INT, "0", 0, 1000000,
     "calls in flight to one provider host at once (over HTTP/1.1 each holds a connection; 0 = "
     "no bound but worker.max_inflight); a call past the bound waits in the worker, in the "
     "order it came, and its timeouts start when it is sent",
     LQ_CFG_AT(worker_settings_t, provider.max_host_connections)},
    {"metrics.max_models", LQ_CFG_INT, "100", 0, 100000,
     "distinct models with series of their own per provider endpoint in the provider metrics "
     "(a model named by a client and passed through counts too); the others are counted as "
     "model=\"other\"",
     LQ_CFG_AT(worker_settings_t, metrics.max_models)},
    {NULL, 0, NULL, 0, 0, NULL, 0}};

const lq_config_def_t *const worker_settings_tables[] = {lq_common_settings, worker_settings, NULL};

/* workers/routing.h — which provider endpoints and models serve a request, as data.
 *
 * A routing table (JSON; docs/routing.md) names the endpoints (wire format, base URL,
 * keys, extra headers), model aliases, the rule that infers an endpoint from a model name
 * (model_prefixes), and ordered rules, globally and per tenant or project. A decision is
 * the ordered list of candidates (endpoint + model) the worker tries: the first, then the
 * next on a retriable failure or an open circuit breaker. Pure: no I/O after loading. */
#ifndef LQ_WORKER_ROUTING_H
#define LQ_WORKER_ROUTING_H

#include <stddef.h>
#include <stdint.h>

#include "schemas/records.h"
#include "workers/provider.h"
#include "workers/worker_config.h"

#define ROUTE_MAX_CANDIDATES 8

typedef struct route_endpoint {
    char *name;  /* "openai", "anthropic", "mock", ... */
    int is_mock; /* the built-in mock provider */
    worker_wire_t wire;
    char *base_url;
    char **keys; /* several keys spread the load: each attempt takes the next */
    size_t n_keys;
    char **headers; /* extra "Name: value" lines */
    size_t n_headers;
    int32_t default_max_tokens;
} route_endpoint_t;

typedef struct route_candidate {
    int endpoint; /* index into routing_t.endpoints */
    char model[160];
} route_candidate_t;

typedef struct route_decision {
    route_candidate_t candidates[ROUTE_MAX_CANDIDATES];
    size_t n;
    char rule[64];   /* the rule that matched ("default" when none did) */
    char scope[96];  /* "global", "tenant:ID" or "project:ID" */
    char error[200]; /* set (and n = 0) when nothing can serve the model */
} route_decision_t;

typedef struct routing routing_t;

/** Load a routing table. json_text NULL = the built-in table made from the settings
 * (openai.*, anthropic.*, gemini.*, openrouter.*, perplexity.*): an endpoint per provider
 * whose key is set, the mock endpoint always, model prefixes claude-/gemini-/sonar, and
 * models with a '/' to OpenRouter. Keys named by "api_key_env" are read from the
 * environment now. */
routing_t *routing_load(const char *json_text, const worker_settings_t *set, char *errstr,
                        size_t errstr_size);
void routing_free(routing_t *r);

size_t routing_endpoint_count(const routing_t *r);
const route_endpoint_t *routing_endpoint(const routing_t *r, int i);
/** Index of the endpoint called name, or -1. */
int routing_find_endpoint(const routing_t *r, const char *name);

/** The model aliases of the table (their names). */
size_t routing_alias_count(const routing_t *r);
const char *routing_alias_name(const routing_t *r, size_t i);

/** Decide the candidates for req. seq (a counter of the caller's) picks the rotation of
 * rules and aliases marked "spread". Returns 0, or -1 with out->error set. */
int routing_decide(const routing_t *r, const lq_chat_request_t *req, uint64_t seq,
                   route_decision_t *out);

/** "rule web (tenant:acme): perplexity:sonar, openai:gpt-4o" into buf. */
void routing_describe(const routing_t *r, const route_decision_t *d, char *buf, size_t size);

#endif

/* workers/routing_table.h — the routing table's shape, shared by its loader
 * (routing_load.c) and its decisions (routing.c). Not for other files: they use routing.h. */
#ifndef LQ_WORKER_ROUTING_TABLE_H
#define LQ_WORKER_ROUTING_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "workers/routing.h"

typedef struct route_rule {
    char *name;
    char **words; /* lower case */
    size_t n_words;
    char **models;
    size_t n_models;
    int json, code, spread;
    int64_t min_messages, min_prompt_tokens;
    char **targets;
    size_t n_targets;
} route_rule_t;

typedef struct rule_set {
    char *scope; /* "global", "tenant:X", "project:X" */
    route_rule_t *rules;
    size_t n;
} rule_set_t;

typedef struct alias {
    char *name;
    char **targets;
    size_t n;
    int spread; /* rotate the targets' order per request */
} alias_t;

typedef struct prefix_map {
    char *prefix;
    char *endpoint;
} prefix_map_t;

struct routing {
    route_endpoint_t *endpoints;
    size_t n_endpoints;
    alias_t *aliases;
    size_t n_aliases;
    prefix_map_t *prefixes;
    size_t n_prefixes;
    char *slash_endpoint;   /* models with a '/' (OpenRouter style) */
    char *default_endpoint; /* everything else */
    rule_set_t *sets;       /* [0] global, then tenants and projects */
    size_t n_sets;
};

#endif

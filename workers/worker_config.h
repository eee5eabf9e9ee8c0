/* workers/worker_config.h — the worker's settings. */
#ifndef LQ_WORKER_CONFIG_H
#define LQ_WORKER_CONFIG_H

#include "common/config.h"

/* The daemon's settings, bound once at start (lq_config_bind). Code reads set->worker.max_inflight, never
 * a key string, so a typo fails the build; a key bound to no field fails the start.
 * Each group is named as the keys' prefix, each member as the rest of its key. */
typedef struct worker_settings {
    lq_common_settings_t common;
    struct {
        const char *id;
        const char *group;
        long long max_inflight;
        long long tenant_queue_max;
        long long max_queued;
        long long batch_max_inflight;
        long long drain_timeout_ms;
        long long fetch_wait_ms;
        long long linger_ms;
        int event_topics;
    } worker;
    struct {
        const char *deferred;
    } topic;
    struct {
        long long port;
        const char *bind;
    } admin;
    struct {
        long long latency_ms;
        long long completion_tokens;
        long long token_interval_ms;
    } mock;
    struct {
        const char *base_url;
        const char *api_key;
    } openai;
    struct {
        const char *base_url;
        const char *api_key;
    } anthropic;
    struct {
        const char *base_url;
        const char *api_key;
    } gemini;
    struct {
        const char *base_url;
        const char *api_key;
        const char *referer;
        const char *title;
    } openrouter;
    struct {
        const char *base_url;
        const char *api_key;
    } perplexity;
    struct {
        const char *file;
    } routing;
    struct {
        const char *file;
    } pricing;
    struct {
        long long first_byte_timeout_ms;
        long long connect_timeout_ms;
        long long timeout_ms;
        long long max_attempts;
        long long max_response_bytes;
        long long max_host_connections;
    } provider;
    struct {
        long long failures;
        long long open_ms;
    } breaker;
    struct {
        long long max_models;
    } metrics;
} worker_settings_t;

extern const lq_config_def_t worker_settings[];

/** The daemon's settings tables, common ones first, NULL-terminated: for lq_config_create. */
extern const lq_config_def_t *const worker_settings_tables[];

#endif

/* ingest/ingest_config.h — the ingest node's settings. */
#ifndef LQ_INGEST_CONFIG_H
#define LQ_INGEST_CONFIG_H

#include "common/config.h"

/* The daemon's settings, bound once at start (lq_config_bind). Code reads set->http.port, never
 * a key string, so a typo fails the build; a key bound to no field fails the start.
 * Each group is named as the keys' prefix, each member as the rest of its key. */
typedef struct ingest_settings {
    lq_common_settings_t common;
    struct {
        const char *bind;
        long long port;
        long long threads;
        long long max_body_bytes;
        long long max_url_bytes;
        long long max_header_bytes;
        long long connection_timeout_s;
        long long connection_memory_bytes;
        long long max_connections;
    } http;
    struct {
        const char *node_id;
        long long sync_timeout_ms;
        long long reply_fetch_wait_ms;
        long long enqueue_timeout_ms;
        long long eager_inflight_max;
        long long async_linger_ms;
        long long max_messages;
        long long max_model_len;
        long long max_json_depth;
        long long recent_jobs;
    } ingest;
    struct {
        long long port;
        const char *bind;
        const char *host;
    } direct_replies;
    struct {
        long long cache_ttl_ms;
        long long negative_ttl_ms;
        long long cache_max;
    } auth;
    struct {
        long long pool_size;
        long long max_queue;
    } pg;
    struct {
        long long max_bytes;
        long long max_lines;
    } files;
    struct {
        int runner;
        long long poll_ms;
        long long lines_per_step;
        long long finalize_grace_ms;
    } batches;
} ingest_settings_t;

extern const lq_config_def_t ingest_settings[];

/** The daemon's settings tables, common ones first, NULL-terminated: for lq_config_create. */
extern const lq_config_def_t *const ingest_settings_tables[];

#endif

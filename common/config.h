/* common/config.h — table-driven settings: defaults, a config file, LLMQ_* environment
 * variables and --set flags, in that order of precedence. Unknown keys and bad values
 * are refused at start with a message naming the key. */
#ifndef LQ_CONFIG_H
#define LQ_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "common/err.h"

typedef enum lq_cfg_type { LQ_CFG_STRING, LQ_CFG_INT, LQ_CFG_BOOL } lq_cfg_type_t;

typedef struct lq_config_def {
    const char *key; /* dotted, e.g. "http.port"; env LLMQ_HTTP_PORT */
    lq_cfg_type_t type;
    const char *def;    /* default as text */
    long long min, max; /* for LQ_CFG_INT */
    const char *doc;    /* one line for the configuration reference */
    size_t offset;      /* where lq_config_bind writes the value: LQ_CFG_AT(struct, member) */
} lq_config_def_t;

/* The field a setting is bound to. Members are named as their key ("http.port" is
 * http.port), strings are const char *, integers long long, booleans int. */
#define LQ_CFG_AT(type, member) offsetof(type, member)

typedef struct lq_config lq_config_t;

/* Keys under these prefixes that are not in a table are passed through verbatim
 * (file and --set only): "kafka." to librdkafka. */
#define LQ_CONFIG_PASSTHROUGH_KAFKA "kafka."

/** Build the settings from tables (each ends with a {NULL} entry), the file named by
 * --config (or LLMQ_CONFIG), the environment and --set key=value arguments.
 * On LQ_OK, *out is the caller's (lq_config_destroy). */
lq_err_t lq_config_create(lq_config_t **out, const lq_config_def_t *const *tables, int argc,
                          char **argv, char *errstr, size_t errstr_size);
void lq_config_destroy(lq_config_t *cfg);

/** Apply one key=value on top (used by tests and by --set). */
lq_err_t lq_config_set(lq_config_t *cfg, const char *key, const char *value, char *errstr,
                       size_t errstr_size);

/* Getters abort on an unknown key: that is a programming error. Strings are borrowed. */
const char *lq_config_str(const lq_config_t *cfg, const char *key);
long long lq_config_int(const lq_config_t *cfg, const char *key);
int lq_config_bool(const lq_config_t *cfg, const char *key);

/** Iterate pass-through keys with the given prefix: returns the count; the i-th pair via
 * lq_config_passthrough_get (prefix stripped from the key). */
size_t lq_config_passthrough_count(const lq_config_t *cfg);
void lq_config_passthrough_get(const lq_config_t *cfg, size_t i, const char **key,
                               const char **value);

/** Markdown table of the settings, for docs/configuration.md. */
void lq_config_print_reference(const lq_config_def_t *const *tables, FILE *fp);

/** 1 when argv asks for help/reference (handled and printed); the daemon then exits 0. */
int lq_config_handle_info_flags(const lq_config_def_t *const *tables, const char *daemon, int argc,
                                char **argv);

/* The topics' names (settings topic.*). */
typedef struct lq_topics {
    const char *requests;
    const char *responses;
    const char *usage;
    const char *traces;
    const char *dlq;
    const char *cancels;
    const char *batch;
    const char *replies_prefix;
} lq_topics_t;

/* Settings every daemon shares (logging, Kafka, PostgreSQL, topic names); the first member
 * of every daemon's settings struct, so lq_common_settings binds into any of them. */
typedef struct lq_common_settings {
    const lq_config_t *source; /* the settings bound (no key binds here: offset 0 is none) */
    struct {
        const char *level;
        int json;
    } log;
    struct {
        const char *brokers;
        const char *compression;
    } kafka;
    struct {
        const char *master_key_file;
    } secrets;
    struct {
        const char *url;
    } pg;
    struct {
        int enforce;
        long long lease_ms;
        long long slot_lease_ms;
        long long default_max_tokens;
    } limits;
    struct {
        long long max_tenants;
    } metrics;
    struct {
        const char *otlp_endpoint;
        const char *otlp_headers;
        long long sample_percent;
        long long max_queue_spans;
        int provider_headers;
    } tracing;
    lq_topics_t topic;
} lq_common_settings_t;

extern const lq_config_def_t lq_common_settings[];

/** Write every setting of cfg into the struct at out (out_size bytes, starting with an
 * lq_common_settings_t) at its table row's offset. Refuses (errstr names the key) a row
 * bound to no field, outside the struct, or to the field of another key. */
lq_err_t lq_config_bind(const lq_config_t *cfg, void *out, size_t out_size, char *errstr,
                        size_t errstr_size);
#endif

/* sinks/sink_config.h — the sink's settings. */
#ifndef LQ_SINK_CONFIG_H
#define LQ_SINK_CONFIG_H

#include "common/config.h"

/* The daemon's settings, bound once at start (lq_config_bind). Code reads set->sink.batch_max, never
 * a key string, so a typo fails the build; a key bound to no field fails the start.
 * Each group is named as the keys' prefix, each member as the rest of its key. */
typedef struct sink_settings {
    lq_common_settings_t common;
    struct {
        const char *writers;
        const char *group;
        long long batch_max;
        long long batch_ms;
        int migrate;
    } sink;
    struct {
        long long retention_days;
    } analytics;
    struct {
        long long port;
        const char *bind;
    } admin;
} sink_settings_t;

extern const lq_config_def_t sink_settings[];

/** The daemon's settings tables, common ones first, NULL-terminated: for lq_config_create. */
extern const lq_config_def_t *const sink_settings_tables[];

#endif

/* sinks/sink_config.h — the sink's settings. */
#ifndef LQ_SINK_CONFIG_H
#define LQ_SINK_CONFIG_H

#include "common/config.h"

/* The daemon's settings, bound once at start (sink_settings_bind). Code reads set->sink.batch_max, never
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
        long long port;
        const char *bind;
    } admin;
} sink_settings_t;

extern const lq_config_def_t sink_settings[];

/** Every settings table of the daemon, common ones first, NULL-terminated. */
extern const lq_config_def_t *const sink_settings_tables[];

/** Bind cfg into *out (its strings are cfg's: valid while cfg lives). */
lq_err_t sink_settings_bind(const lq_config_t *cfg, sink_settings_t *out, char *errstr,
                           size_t errstr_size);

#endif

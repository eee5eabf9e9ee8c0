/* sinks/sink_config.h — the sink's settings table. */
#ifndef LQ_SINK_CONFIG_H
#define LQ_SINK_CONFIG_H

#include "common/config.h"

extern const lq_config_def_t sink_settings[];

#endif

/* workers/worker_config.h — the worker's settings table. */
#ifndef LQ_WORKER_CONFIG_H
#define LQ_WORKER_CONFIG_H

#include "common/config.h"

extern const lq_config_def_t worker_settings[];

#endif

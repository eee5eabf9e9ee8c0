/* ingest/ingest_config.h — the ingest node's settings table. */
#ifndef LQ_INGEST_CONFIG_H
#define LQ_INGEST_CONFIG_H

#include "common/config.h"

extern const lq_config_def_t ingest_settings[];

#endif

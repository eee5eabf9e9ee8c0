/* ingest/server.h — the ingest node: HTTP API (libmicrohttpd), admission, and the Kafka
 * producer that makes an accepted request durable. */
#ifndef LQ_INGEST_SERVER_H
#define LQ_INGEST_SERVER_H

#include <stddef.h>

#include "common/err.h"
#include "ingest/ingest_config.h"

typedef struct ingest_server ingest_server_t;

/** Connect to Kafka and PostgreSQL and start listening. set is copied; its strings (the
 * settings') must outlive the server. */
lq_err_t ingest_server_start(ingest_server_t **out, const ingest_settings_t *set, char *errstr,
                             size_t errstr_size);
/** The port actually bound (useful with http.port = 0). */
int ingest_server_port(const ingest_server_t *s);
/** Stop accepting, let in-flight requests finish (up to drain_ms), then release all. */
void ingest_server_stop(ingest_server_t *s, int drain_ms);

#endif

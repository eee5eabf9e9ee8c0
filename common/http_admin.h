/* common/http_admin.h — the small HTTP server every non-HTTP daemon runs for operators:
 * /healthz (process alive), /readyz (dependencies reachable) and /metrics (Prometheus). */
#ifndef LQ_HTTP_ADMIN_H
#define LQ_HTTP_ADMIN_H

#include <stddef.h>

#include "common/err.h"

typedef struct lq_http_admin lq_http_admin_t;

/** ready_fn fills why (when not ready) and returns 1 when ready; called on a server thread. */
typedef int (*lq_ready_fn)(void *arg, char *why, size_t why_size);

/** Listen on bind_addr:port (bind_addr NULL or "" = loopback). port 0 = any free port;
 * a port another process holds falls back to any free port (logged as a warning); port -1 =
 * disabled, *out stays NULL. */
lq_err_t lq_http_admin_start(lq_http_admin_t **out, const char *bind_addr, int port,
                             lq_ready_fn ready, void *ready_arg, char *errstr, size_t errstr_size);
void lq_http_admin_stop(lq_http_admin_t *a); /* NULL-safe */

/** The port listened on; -1 when a is NULL (disabled). */
int lq_http_admin_port(const lq_http_admin_t *a);

#endif

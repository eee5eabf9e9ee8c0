/* ingest/admin_run.h — the admin API's route: the call is planned (admin_routes.c), run on
 * the PostgreSQL pool with the connection suspended, and its result answered. */
#ifndef LQ_INGEST_ADMIN_RUN_H
#define LQ_INGEST_ADMIN_RUN_H

#include "ingest/request_ctx.h"

ingest_step_t ingest_admin_run(req_ctx_t *c);

#endif

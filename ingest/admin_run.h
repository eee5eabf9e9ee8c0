/* ingest/admin_run.h — the admin API's route: the call is planned (admin_routes.c), run on
 * the PostgreSQL pool with the connection suspended, and its result answered; and the same
 * for the /v1 routes that are one call of a database function as the caller. */
#ifndef LQ_INGEST_ADMIN_RUN_H
#define LQ_INGEST_ADMIN_RUN_H

#include "ingest/request_ctx.h"

ingest_step_t ingest_admin_run(req_ctx_t *c);

/** Run one statement that answers JSON text (a database function of the API: conversations,
 * models) on the pool with the connection suspended, and answer its result as the admin API
 * does (ok_status, or the error its SQLSTATE names). INGEST_STEP_SUSPENDED. */
ingest_step_t ingest_run_json_call(req_ctx_t *c, const char *sql, int n, const char *const *params,
                                   int ok_status);

/** The caller as the API's database functions take it (conversations, files, batches, jobs,
 * analytics): {"tenant","user","project","key","admin","platform"} (malloc'ed JSON text; NULL
 * without memory). */
char *ingest_caller_json(const req_ctx_t *c);

/** Run sql with $1 = the caller (ingest_caller_json) and $2... = params (n <= 8) on
 * the pool, and answer its JSON with ok_status (or the error its SQLSTATE names).
 * INGEST_STEP_SUSPENDED, or INGEST_STEP_ANSWER when it could not be sent. */
ingest_step_t ingest_run_as_caller(req_ctx_t *c, const char *sql, int n, const char **params,
                                   int ok_status);

#endif

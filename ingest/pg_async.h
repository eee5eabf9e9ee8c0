/* ingest/pg_async.h — PostgreSQL queries off the HTTP threads: a small pool of threads,
 * each with its own connection, runs queued queries and calls back with the result. An
 * HTTP handler suspends its connection, submits, and the callback resumes it. */
#ifndef LQ_INGEST_PG_ASYNC_H
#define LQ_INGEST_PG_ASYNC_H

#include <stddef.h>

#include <libpq-fe.h>

#include "common/err.h"

typedef struct ingest_pg ingest_pg_t;

/** Called on a pool thread. res is NULL when the query could not run: errmsg is then
 * "SQLSTATE message" (the server's SQLSTATE and primary message) for a failed query, or
 * a plain sentence when the database could not be reached. Never show errmsg to a client
 * except for the project's own LQ... refusals. The callee must not keep res. */
typedef void (*ingest_pg_cb)(const PGresult *res, const char *errmsg, void *arg);

/** threads connections, made at start; each runs warm_sql (static text with one parameter,
 * or NULL) once with "" so the first request finds its statement's catalogs read. */
lq_err_t ingest_pg_create(ingest_pg_t **out, const char *conninfo, int threads, size_t max_queue,
                          const char *warm_sql, char *errstr, size_t errstr_size);
/** Stops the threads; queued queries are called back with an error. NULL-safe. */
void ingest_pg_destroy(ingest_pg_t *p);

/** Queue a query (params are copied). LQ_ERR_FULL when the queue is at its limit or p is NULL
 * (stopped). */
lq_err_t ingest_pg_submit(ingest_pg_t *p, const char *sql, int nparams, const char *const *params,
                          ingest_pg_cb cb, void *arg);

/** 1 when the last attempt to reach PostgreSQL succeeded. */
int ingest_pg_ready(ingest_pg_t *p);

#endif

/* ops/llmqctl/db.h — how llmqctl's commands use the database: the admin functions (each change
 * and its audit entry in one call), queries printed as tab-separated rows, migrations. */
#ifndef LQ_CTL_DB_H
#define LQ_CTL_DB_H

#include <libpq-fe.h>

#include "ops/llmqctl/call.h"

/* What ctl_admin_call does with the function's answer (flags). */
#define CTL_ADMIN_PRINT     0 /* print its JSON */
#define CTL_ADMIN_QUIET     1 /* keep it: the command says what it did */
#define CTL_ADMIN_EXISTS_OK 2 /* LQ409 ("exists") is success: nothing changed */

/** Run `SELECT admin_fn(...)::text`: 0, or 1 with the server's message on standard error
 * ("nothing matched" when the function answered nothing). */
int ctl_admin_call(PGconn *conn, const char *sql, int n, const char *const *params, int flags);

/** Run a query that returns rows: its result (the caller's, PQclear), or NULL with the
 * server's message on standard error. */
PGresult *ctl_query(PGconn *conn, const char *sql, int n, const char *const *params);

/** Print a query's rows as tab-separated lines under a line of column names: 0, or 1. */
int ctl_print_rows(PGconn *conn, const char *sql, int n, const char *const *params);

/** migrate: apply the migrations this binary knows and the database has not seen. */
int ctl_migrate(const ctl_call_t *c);

#endif

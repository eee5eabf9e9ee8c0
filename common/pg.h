/* common/pg.h — PostgreSQL helpers shared by the daemons and llmqctl. */
#ifndef LQ_PG_H
#define LQ_PG_H

#include <stddef.h>

#include <libpq-fe.h>

#include "common/err.h"

/** Connect (blocking) with application_name set. On LQ_OK *out is the caller's (PQfinish). */
lq_err_t lq_pg_connect(const char *conninfo, const char *app_name, PGconn **out, char *errstr,
                       size_t errstr_size);

/** "postgres: <the connection's last error>" without libpq's trailing newline. */
void lq_pg_errstr(PGconn *conn, char *errstr, size_t errstr_size);

/** Run a command that returns no rows; LQ_ERR_DB with the server's message on failure. */
lq_err_t lq_pg_exec(PGconn *conn, const char *sql, char *errstr, size_t errstr_size);

/** Keep a connection listening on channel (LISTEN): connect when *conn is NULL, then wait
 * up to wait_ms for notifications. Returns how many arrived; 1 after a (re)connection too
 * (changes may have been missed: reload); -1 when the database cannot be reached (after a
 * one-second pause, so a loop around it does not spin). */
int lq_pg_listen_poll(PGconn **conn, const char *conninfo, const char *app_name,
                      const char *channel, int wait_ms);

/** Apply the migrations compiled into the binary that are not yet recorded in
 * schema_migrations, each in its own transaction, under an advisory lock. *applied gets the
 * count of newly applied ones (may be NULL). */
lq_err_t lq_migrations_apply(PGconn *conn, int *applied, char *errstr, size_t errstr_size);

/** Number of migrations compiled in. */
unsigned lq_migrations_count(void);

#endif

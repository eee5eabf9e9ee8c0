#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/pg.h"

/* Generated at build time from ops/migrations/ (the .sql files) (cmake/embed.cmake), sorted by name. */
extern const char *const lq_embedded_migrations[];
extern const char *const lq_embedded_migrations_names[];
extern const unsigned lq_embedded_migrations_count;

unsigned lq_migrations_count(void)
{
    return lq_embedded_migrations_count;
}

/* "0007_name.sql" -> 7 */
static int migration_version(const char *name)
{
    return atoi(name);
}

lq_err_t lq_migrations_apply(PGconn *conn, int *applied, char *errstr, size_t errstr_size)
{
    lq_err_t err;
    unsigned i;
    int count = 0;

    if (applied)
        *applied = 0;
    err = lq_pg_exec(conn,
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     " version integer PRIMARY KEY, name text NOT NULL,"
                     " applied_at timestamptz NOT NULL DEFAULT now())",
                     errstr, errstr_size);
    if (err)
        return err;
    err = lq_pg_exec(conn, "SELECT pg_advisory_lock(7317001)", errstr, errstr_size);
    if (err)
        return err;
    for (i = 0; i < lq_embedded_migrations_count; i++) {
        const char *name = lq_embedded_migrations_names[i];
        char version[16];
        const char *params[2];
        PGresult *res;
        int done;

        snprintf(version, sizeof(version), "%d", migration_version(name));
        params[0] = version;
        params[1] = name;
        res = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE version = $1::int", 1, NULL,
                           params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            lq_pg_errstr(conn, errstr, errstr_size);
            PQclear(res);
            err = LQ_ERR_DB;
            goto out;
        }
        done = PQntuples(res) > 0;
        PQclear(res);
        if (done)
            continue;
        err = lq_pg_exec(conn, "BEGIN", errstr, errstr_size);
        if (err)
            goto out;
        err = lq_pg_exec(conn, lq_embedded_migrations[i], errstr, errstr_size);
        if (err) {
            char detail[512];
            snprintf(detail, sizeof(detail), "%s", errstr);
            snprintf(errstr, errstr_size, "migration %s: %s", name, detail);
            lq_pg_exec(conn, "ROLLBACK", detail, sizeof(detail));
            goto out;
        }
        res =
            PQexecParams(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)",
                         2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            char detail[512];
            lq_pg_errstr(conn, errstr, errstr_size);
            PQclear(res);
            lq_pg_exec(conn, "ROLLBACK", detail, sizeof(detail));
            err = LQ_ERR_DB;
            goto out;
        }
        PQclear(res);
        err = lq_pg_exec(conn, "COMMIT", errstr, errstr_size);
        if (err)
            goto out;
        LQ_INFO("applied migration %s", name);
        count++;
    }
out : {
    char ignore[256];
    lq_pg_exec(conn, "SELECT pg_advisory_unlock(7317001)", ignore, sizeof(ignore));
}
    if (applied)
        *applied = count;
    return err;
}

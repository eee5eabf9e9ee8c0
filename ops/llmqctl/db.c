#include "ops/llmqctl/db.h"

#include <stdio.h>
#include <string.h>

#include "common/pg.h"

int ctl_admin_call(PGconn *conn, const char *sql, int n, const char *const *params, int flags)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    int rc = 0;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        if ((flags & CTL_ADMIN_EXISTS_OK) && state && !strcmp(state, "LQ409"))
            fprintf(stderr, "llmqctl: %s (nothing changed)\n", msg ? msg : "exists");
        else
            rc = ctl_fail(1, "%s", msg ? msg : PQerrorMessage(conn));
    } else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        rc = ctl_fail(1, "nothing matched");
    } else if (!(flags & CTL_ADMIN_QUIET)) {
        printf("%s\n", PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return rc;
}

static void print_row(PGresult *res, int r)
{
    int c;

    for (c = 0; c < PQnfields(res); c++)
        printf("%s%s", c ? "\t" : "",
               r < 0                    ? PQfname(res, c)
               : PQgetisnull(res, r, c) ? ""
                                        : PQgetvalue(res, r, c));
    printf("\n");
}

PGresult *ctl_query(PGconn *conn, const char *sql, int n, const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "llmqctl: %s", PQerrorMessage(conn));
        PQclear(res);
        return NULL;
    }
    return res;
}

int ctl_print_rows(PGconn *conn, const char *sql, int n, const char *const *params)
{
    PGresult *res = ctl_query(conn, sql, n, params);
    int r;

    if (!res)
        return 1;
    for (r = -1; r < PQntuples(res); r++) /* -1: the column names */
        print_row(res, r);
    PQclear(res);
    return 0;
}

int ctl_migrate(const ctl_call_t *c)
{
    char errstr[512];
    int applied = 0;

    if (lq_migrations_apply(c->conn, &applied, errstr, sizeof(errstr)))
        return ctl_fail(1, "%s", errstr);
    printf("migrations: %d applied, %u known\n", applied, lq_migrations_count());
    return 0;
}

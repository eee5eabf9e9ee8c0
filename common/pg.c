#include "common/pg.h"

#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

void lq_pg_errstr(PGconn *conn, char *errstr, size_t errstr_size)
{
    const char *msg = PQerrorMessage(conn);
    size_t n = strlen(msg);

    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    snprintf(errstr, errstr_size, "postgres: %.*s", (int)n, msg);
}

lq_err_t lq_pg_connect(const char *conninfo, const char *app_name, PGconn **out, char *errstr,
                       size_t errstr_size)
{
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {conninfo, app_name, "5", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);

    *out = NULL;
    if (!conn)
        return LQ_ERR_NOMEM;
    if (PQstatus(conn) != CONNECTION_OK) {
        lq_pg_errstr(conn, errstr, errstr_size);
        PQfinish(conn);
        return LQ_ERR_DB;
    }
    *out = conn;
    return LQ_OK;
}

lq_err_t lq_pg_exec(PGconn *conn, const char *sql, char *errstr, size_t errstr_size)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    lq_err_t err = LQ_OK;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        lq_pg_errstr(conn, errstr, errstr_size);
        err = LQ_ERR_DB;
    }
    PQclear(res);
    return err;
}

int lq_pg_listen_poll(PGconn **conn, const char *conninfo, const char *app_name,
                      const char *channel, int wait_ms)
{
    struct timeval tv = {wait_ms / 1000, (wait_ms % 1000) * 1000};
    char errstr[256], sql[128];
    PGnotify *n;
    fd_set fds;
    int sock, got = 0;

    if (!*conn) {
        snprintf(sql, sizeof(sql), "LISTEN %s", channel);
        if (lq_pg_connect(conninfo, app_name, conn, errstr, sizeof(errstr)) ||
            lq_pg_exec(*conn, sql, errstr, sizeof(errstr))) {
            if (*conn)
                PQfinish(*conn);
            *conn = NULL;
            nanosleep(&(struct timespec){1, 0}, NULL);
            return -1;
        }
        return 1;
    }
    sock = PQsocket(*conn);
    FD_ZERO(&fds);
    if (sock >= 0)
        FD_SET(sock, &fds);
    if (sock < 0 || (select(sock + 1, &fds, NULL, NULL, &tv) > 0 && !PQconsumeInput(*conn))) {
        PQfinish(*conn);
        *conn = NULL;
        return 0;
    }
    while ((n = PQnotifies(*conn))) {
        got++;
        PQfreemem(n);
    }
    return got;
}

#include "ingest/pg_async.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/pg.h"

#define MAX_PARAMS 16

typedef struct task {
    struct task *next;
    const char *sql; /* static text */
    int nparams;
    char *params[MAX_PARAMS];
    ingest_pg_cb cb;
    void *arg;
} task_t;

struct ingest_pg {
    char *conninfo;
    const char *warm_sql; /* run once per connection at start (static text), or NULL */
    pthread_t *threads;
    int n_threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    task_t *head, *tail;
    size_t queued, max_queue;
    int stopping;
    atomic_int ready;
};

static void task_free(task_t *t)
{
    int i;

    for (i = 0; i < t->nparams; i++)
        free(t->params[i]);
    free(t);
}

/* The next task, or NULL after 5 s without one; *stop when the pool is stopping. */
static task_t *next_task(ingest_pg_t *p, int *stop)
{
    struct timespec deadline;
    task_t *t;

    pthread_mutex_lock(&p->mu);
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    while (!p->head && !p->stopping) {
        if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) != 0)
            break;
    }
    *stop = p->stopping;
    t = p->stopping ? NULL : p->head;
    if (t) {
        p->head = t->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
    }
    pthread_mutex_unlock(&p->mu);
    return t;
}

/* A working connection in *conn; 0 when the database cannot be reached (t, if any, is
 * answered with the error). */
static int connected(ingest_pg_t *p, PGconn **conn, task_t *t)
{
    char errstr[512];

    if (*conn && PQstatus(*conn) != CONNECTION_OK) {
        PQfinish(*conn);
        *conn = NULL;
    }
    if (*conn || !lq_pg_connect(p->conninfo, "llmq-ingest", conn, errstr, sizeof(errstr)))
        return 1;
    atomic_store(&p->ready, 0);
    LQ_WARN("%s", errstr);
    if (t) {
        t->cb(NULL, "database unavailable", t->arg);
        task_free(t);
    } else {
        nanosleep(&(struct timespec){1, 0}, NULL);
    }
    return 0;
}

/* Idle: check the connection so /readyz stays truthful. */
static void check_idle(ingest_pg_t *p, PGconn *conn)
{
    PGresult *res = PQexec(conn, "SELECT 1");

    atomic_store(&p->ready, PQresultStatus(res) == PGRES_TUPLES_OK);
    PQclear(res);
}

static void run_task(ingest_pg_t *p, PGconn *conn, task_t *t)
{
    PGresult *res =
        PQexecParams(conn, t->sql, t->nparams, NULL, (const char *const *)t->params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);

    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        atomic_store(&p->ready, 1);
        t->cb(res, NULL, t->arg);
    } else {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        char msg[400];
        snprintf(msg, sizeof(msg), "%.5s %s", state ? state : "XX000",
                 primary ? primary : "database query failed");
        /* LQ...: refusals the admin functions raise on purpose (not a fault) */
        if (!state || strncmp(state, "LQ", 2) != 0)
            LQ_WARN("postgres query failed: %s", PQerrorMessage(conn));
        if (PQstatus(conn) != CONNECTION_OK)
            atomic_store(&p->ready, 0);
        t->cb(NULL, msg, t->arg);
    }
    PQclear(res);
    task_free(t);
}

/* A new backend reads its catalogs and plans a statement the first time it meets it: a
 * few milliseconds the first request would otherwise wait for. Warm the hot statement at
 * start with a parameter that matches nothing. */
static void warm_up(ingest_pg_t *p, PGconn *conn)
{
    const char *params[1] = {""};
    PGresult *res;

    if (!p->warm_sql)
        return;
    res = PQexecParams(conn, p->warm_sql, 1, NULL, params, NULL, NULL, 0);
    atomic_store(&p->ready, PQresultStatus(res) == PGRES_TUPLES_OK);
    PQclear(res);
}

static void *pool_main(void *arg)
{
    ingest_pg_t *p = arg;
    PGconn *conn = NULL;
    int stop = 0;

    /* connect at start, not at the first request's expense */
    if (connected(p, &conn, NULL))
        warm_up(p, conn);
    while (!stop) {
        task_t *t = next_task(p, &stop);
        if (stop || !connected(p, &conn, t))
            continue;
        if (t)
            run_task(p, conn, t);
        else
            check_idle(p, conn);
    }
    if (conn)
        PQfinish(conn);
    return NULL;
}

lq_err_t ingest_pg_create(ingest_pg_t **out, const char *conninfo, int threads, size_t max_queue,
                          const char *warm_sql, char *errstr, size_t errstr_size)
{
    ingest_pg_t *p = calloc(1, sizeof(*p));
    int i;

    *out = NULL;
    if (!p)
        return LQ_ERR_NOMEM;
    p->warm_sql = warm_sql;
    p->conninfo = strdup(conninfo);
    p->threads = calloc((size_t)threads, sizeof(pthread_t));
    p->max_queue = max_queue;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (!p->conninfo || !p->threads) {
        ingest_pg_destroy(p);
        return LQ_ERR_NOMEM;
    }
    for (i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, pool_main, p) != 0) {
            snprintf(errstr, errstr_size, "cannot start database threads");
            ingest_pg_destroy(p);
            return LQ_ERR_IO;
        }
        p->n_threads++;
    }
    *out = p;
    return LQ_OK;
}

void ingest_pg_destroy(ingest_pg_t *p)
{
    int i;
    task_t *t;

    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    while ((t = p->head)) {
        p->head = t->next;
        t->cb(NULL, "shutting down", t->arg);
        task_free(t);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p->conninfo);
    free(p);
}

lq_err_t ingest_pg_submit(ingest_pg_t *p, const char *sql, int nparams, const char *const *params,
                          ingest_pg_cb cb, void *arg)
{
    task_t *t;
    int i;

    if (!p) /* stopped: a late delivery report after the node's shutdown */
        return LQ_ERR_FULL;
    if (nparams > MAX_PARAMS)
        return LQ_ERR_INVALID;
    t = calloc(1, sizeof(*t));
    if (!t)
        return LQ_ERR_NOMEM;
    t->sql = sql;
    t->cb = cb;
    t->arg = arg;
    for (i = 0; i < nparams; i++) {
        t->params[i] = params[i] ? strdup(params[i]) : NULL;
        t->nparams = i + 1;
        if (params[i] && !t->params[i]) {
            task_free(t);
            return LQ_ERR_NOMEM;
        }
    }
    pthread_mutex_lock(&p->mu);
    if (p->queued >= p->max_queue || p->stopping) {
        pthread_mutex_unlock(&p->mu);
        task_free(t);
        return LQ_ERR_FULL;
    }
    if (p->tail)
        p->tail->next = t;
    else
        p->head = t;
    p->tail = t;
    p->queued++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return LQ_OK;
}

int ingest_pg_ready(ingest_pg_t *p)
{
    return atomic_load(&p->ready);
}

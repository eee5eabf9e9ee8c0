/* ingest/admin.h — the admin API (/admin/v1/...): tenants, projects, users, keys, policies,
 * tenants' provider keys, the audit log. Pure planning: a request and its caller become
 * either an immediate answer (unknown path = 404, wrong method = 405, missing role = 403,
 * another tenant's resource = 404, a bad or unknown field = 400) or one SQL call to run;
 * the SQL result becomes the answer. The caller does the I/O (the PostgreSQL pool).
 *
 * The routes are rows of a table (admin_routes.c), each with the least role it needs, the
 * body fields it accepts and its planner (one file per resource: admin_tenants.c, ...).
 * Every change is one call of a database function that also appends to the tenant's
 * hash-chained audit log (ops/migrations/0002_tenancy.sql). */
#ifndef LQ_INGEST_ADMIN_H
#define LQ_INGEST_ADMIN_H

#include <stddef.h>

#include <libpq-fe.h>

#include "common/api_key.h"
#include "common/secretbox.h"
#include "ingest/auth.h"

#define ADMIN_MAX_PARAMS 12

typedef struct admin_call {
    /* an immediate answer when status != 0: immediate (malloc'ed JSON) or an error */
    int status;
    char *immediate;
    char message[300];
    char type[48];
    char code[48];
    char param[64]; /* the field an error is about, "" when none */
    char allow[64]; /* 405: the path's methods, for the Allow header */
    /* else: the call to run */
    const char *sql;
    char *params[ADMIN_MAX_PARAMS]; /* malloc'ed; NULL = SQL NULL */
    int n_params;
    int ok_status;                /* 200, or 201 for a creation (no row: 404) */
    char key[LQ_API_KEY_LEN + 1]; /* key creation: the clear key, shown once in the answer */
} admin_call_t;

/** Plan method + path ("/admin/v1/...") with its JSON body for caller. master: the key
 * that encrypts tenants' provider keys, or NULL when this node has none. */
void ingest_admin_plan(const char *method, const char *path, const char *body, size_t len,
                       const ingest_identity_t *caller, const lq_master_key_t *master,
                       admin_call_t *out);
void ingest_admin_call_clear(admin_call_t *c);

/** The answer of a planned call from its result (res NULL: errmsg is pg_async's
 * "SQLSTATE message"). Returns the malloc'ed JSON body and sets *status. */
char *ingest_admin_answer(admin_call_t *c, const PGresult *res, const char *errmsg, int *status);

#endif

/* The answer of an admin call from its SQL result. See ingest/admin.h. */
#include "ingest/admin.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/openai_json.h"

/* How a failed statement is answered, by its SQLSTATE (or its first characters). The
 * project's own refusals (LQ...) carry a message meant for the client. */
static const struct db_refusal {
    const char *sqlstate;
    int status;
    const char *type, *code;
    const char *message; /* NULL: the database's */
} refusals[] = {
    {"LQ404", 404, "invalid_request_error", "not_found", NULL},
    {"LQ409", 409, "invalid_request_error", "conflict", NULL},
    {"LQ400", 400, "invalid_request_error", "invalid_value", NULL},
    {"LQ403", 403, "permission_denied", "insufficient_role", NULL},
    {"23505", 409, "invalid_request_error", "conflict", "It exists already."},
    {"22", 400, "invalid_request_error", "invalid_value", "A value is not acceptable."},
    {"23", 400, "invalid_request_error", "invalid_value", "A value is not acceptable."},
    {"", 503, "service_unavailable", "database_unavailable",
     "The database is unavailable; retry later."},
};

static char *error_body(const char *message, const char *type, const char *code)
{
    json_t *e = lq_openai_error(message, type, NULL, code);
    char *out = e ? json_dumps(e, JSON_COMPACT) : NULL;

    json_decref(e);
    return out;
}

static char *refusal_body(const char *errmsg, int *status)
{
    const struct db_refusal *r = refusals;

    while (r->sqlstate[0] && (!errmsg || strncmp(errmsg, r->sqlstate, strlen(r->sqlstate)) != 0))
        r++;
    *status = r->status;
    if (r->message)
        return error_body(r->message, r->type, r->code);
    /* "SQLSTATE message": the message */
    return error_body(errmsg && strlen(errmsg) > 6 ? errmsg + 6 : "database unavailable", r->type,
                      r->code);
}

/* A created key's row with the clear key added: the only time it is shown. */
static char *with_clear_key(admin_call_t *c, const char *row)
{
    json_error_t jerr;
    json_t *o = json_loads(row, 0, &jerr);
    char *out;

    if (!o)
        return NULL;
    json_object_set_new(o, "key", json_string(c->key));
    out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    memset(c->key, 0, sizeof(c->key));
    return out;
}

char *ingest_admin_answer(admin_call_t *c, const PGresult *res, const char *errmsg, int *status)
{
    if (!res)
        return refusal_body(errmsg, status);
    if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        *status = 404;
        return error_body("Not found.", "invalid_request_error", "not_found");
    }
    *status = c->ok_status;
    if (c->key[0])
        return with_clear_key(c, PQgetvalue(res, 0, 0));
    return strdup(PQgetvalue(res, 0, 0));
}

/* The answer of an admin call from its SQL result. See ingest/admin.h. */
#include "ingest/admin.h"

#include <stdio.h>
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
    int names_param;     /* the message is "field: why": the field is the error's param */
} refusals[] = {
    {"LQP00", 400, "invalid_request_error", "unknown_parameter", NULL, 1},
    {"LQP01", 400, "invalid_request_error", "invalid_value", NULL, 1},
    {"LQ404", 404, "invalid_request_error", "not_found", NULL, 0},
    {"LQ409", 409, "invalid_request_error", "conflict", NULL, 0},
    {"LQB09", 409, "invalid_request_error", "conversation_busy", NULL, 0},
    {"LQ400", 400, "invalid_request_error", "invalid_value", NULL, 0},
    {"LQ403", 403, "permission_denied", "insufficient_role", NULL, 0},
    {"23505", 409, "invalid_request_error", "conflict", "It exists already.", 0},
    {"22", 400, "invalid_request_error", "invalid_value", "A value is not acceptable.", 0},
    {"23", 400, "invalid_request_error", "invalid_value", "A value is not acceptable.", 0},
    {"", 503, "service_unavailable", "database_unavailable",
     "The database is unavailable; retry later.", 0},
};

static char *error_body(const char *message, const char *type, const char *param, const char *code)
{
    json_t *e = lq_openai_error(message, type, param, code);
    char *out = e ? json_dumps(e, JSON_COMPACT) : NULL;

    json_decref(e);
    return out;
}

/* "limits.rpm: why" -> "limits.rpm"; "" when the message does not start with a field. */
static void param_of(const char *message, char *out, size_t size)
{
    size_t n = strspn(message, "abcdefghijklmnopqrstuvwxyz0123456789_.");

    out[0] = '\0';
    if (n > 0 && n < size && message[n] == ':')
        snprintf(out, size, "%.*s", (int)n, message);
}

static char *refusal_body(const char *errmsg, int *status)
{
    const struct db_refusal *r = refusals;
    const char *message;
    char param[64] = "";

    while (r->sqlstate[0] && (!errmsg || strncmp(errmsg, r->sqlstate, strlen(r->sqlstate)) != 0))
        r++;
    *status = r->status;
    if (r->message)
        return error_body(r->message, r->type, NULL, r->code);
    /* "SQLSTATE message": the message */
    message = errmsg && strlen(errmsg) > 6 ? errmsg + 6 : "database unavailable";
    if (r->names_param)
        param_of(message, param, sizeof(param));
    return error_body(message, r->type, param[0] ? param : NULL, r->code);
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
        return error_body("Not found.", "invalid_request_error", NULL, "not_found");
    }
    *status = c->ok_status;
    if (c->key[0])
        return with_clear_key(c, PQgetvalue(res, 0, 0));
    return strdup(PQgetvalue(res, 0, 0));
}

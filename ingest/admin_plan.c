/* Helpers of the admin planners. See ingest/admin_plan.h. */
#include "ingest/admin_plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void admin_refuse(admin_call_t *c, int status, const char *type, const char *code, const char *fmt,
                  ...)
{
    va_list ap;

    c->status = status;
    snprintf(c->type, sizeof(c->type), "%s", type);
    snprintf(c->code, sizeof(c->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof(c->message), fmt, ap);
    va_end(ap);
}

void admin_param(admin_call_t *c, const char *v)
{
    if (c->n_params >= ADMIN_MAX_PARAMS)
        return;
    c->params[c->n_params] = v ? strdup(v) : NULL;
    if (v && !c->params[c->n_params]) {
        admin_refuse(c, 500, "server_error", "out_of_memory", "internal error");
        return;
    }
    c->n_params++;
}

int admin_body_str(json_t *body, const char *key, const char **out)
{
    json_t *v = json_object_get(body, key);

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = json_string_value(v);
    return 0;
}

void admin_begin_change(admin_call_t *c, const admin_req_t *r, int ok_status)
{
    c->sql = r->sql;
    c->ok_status = ok_status;
    admin_param(c, r->actor);
    admin_param(c, r->tenant);
}

void admin_begin_change_as_role(admin_call_t *c, const admin_req_t *r)
{
    c->sql = r->sql;
    admin_param(c, r->actor);
    admin_param(c, ingest_role_name(r->who->role));
    admin_param(c, r->tenant);
}

char *admin_body_text(admin_call_t *c, const admin_req_t *r)
{
    char *text = json_dumps(r->body, JSON_COMPACT);

    if (!text)
        admin_refuse(c, 500, "server_error", "out_of_memory", "internal error");
    return text;
}

void admin_plan_list_all(admin_call_t *c, const admin_req_t *r)
{
    c->sql = r->sql;
}

void admin_plan_read(admin_call_t *c, const admin_req_t *r)
{
    c->sql = r->sql;
    admin_param(c, r->tenant);
}

void admin_plan_read_audited(admin_call_t *c, const admin_req_t *r)
{
    admin_begin_change(c, r, 200); /* reading them is recorded in the audit log */
}

void admin_plan_update(admin_call_t *c, const admin_req_t *r)
{
    char *changes = admin_body_text(c, r);

    if (!changes)
        return;
    admin_begin_change(c, r, 200);
    if (r->id)
        admin_param(c, r->id);
    admin_param(c, changes);
    free(changes);
}

void admin_plan_platform_put(admin_call_t *c, const admin_req_t *r)
{
    char *body = admin_body_text(c, r);

    if (!body)
        return;
    c->sql = r->sql;
    admin_param(c, r->actor);
    if (r->id)
        admin_param(c, r->id);
    admin_param(c, body);
    free(body);
}

void ingest_admin_call_clear(admin_call_t *c)
{
    int i;

    for (i = 0; i < c->n_params; i++)
        free(c->params[i]);
    free(c->immediate);
    memset(c, 0, sizeof(*c));
}

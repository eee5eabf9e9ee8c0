#include "ops/llmqctl/tenants.h"

#include <stdio.h>

#include "ops/llmqctl/db.h"

int ctl_tenant_create(const ctl_call_t *c)
{
    const char *params[4] = {"llmqctl", c->pos, ctl_opt(c, "--name"), ctl_opt(c, "--tier")};

    /* creating a tenant that exists is no error: scripts run it on every start */
    if (ctl_admin_call(c->conn, "SELECT admin_create_tenant($1, $2, $3, $4)::text", 4, params,
                       CTL_ADMIN_QUIET | CTL_ADMIN_EXISTS_OK))
        return 1;
    printf("tenant %s\n", c->pos);
    return 0;
}

int ctl_tenant_list(const ctl_call_t *c)
{
    return ctl_print_rows(c->conn,
                          "SELECT id, name, tier, limits, disabled, created_at"
                          " FROM tenants ORDER BY id",
                          0, NULL);
}

/* disabled: "true", "false" or NULL (unchanged) */
static int tenant_update(const ctl_call_t *c, const char *disabled)
{
    const char *params[8] = {"llmqctl",
                             c->pos,
                             ctl_opt(c, "--name"),
                             ctl_opt(c, "--tier"),
                             ctl_opt(c, "--limits"),
                             disabled,
                             ctl_opt(c, "--conversation-retention-days"),
                             ctl_opt(c, "--request-shards")};

    /* retention: a number of days, or "off" to keep conversations */
    return ctl_admin_call(
        c->conn,
        "SELECT admin_update_tenant($1, $2, jsonb_strip_nulls(jsonb_build_object("
        "'name', $3::text, 'tier', $4::text, 'limits', $5::jsonb,"
        " 'disabled', $6::boolean, 'conversation_retention_days',"
        " to_jsonb(nullif($7, 'off')::int), 'request_shards', to_jsonb($8::numeric)))"
        " || CASE WHEN $7 = 'off' THEN '{\"conversation_retention_days\": null}'"
        " ELSE '{}' END::jsonb)::text",
        8, params, CTL_ADMIN_PRINT);
}

int ctl_tenant_set(const ctl_call_t *c)
{
    return tenant_update(c, NULL);
}

int ctl_tenant_disable(const ctl_call_t *c)
{
    return tenant_update(c, "true");
}

int ctl_tenant_enable(const ctl_call_t *c)
{
    return tenant_update(c, "false");
}

int ctl_project_create(const ctl_call_t *c)
{
    const char *params[4] = {"llmqctl", ctl_opt(c, "--tenant"), c->pos, ctl_opt(c, "--name")};

    return ctl_admin_call(c->conn, "SELECT admin_create_project($1, $2, $3, $4)::text", 4, params,
                          CTL_ADMIN_PRINT);
}

int ctl_project_list(const ctl_call_t *c)
{
    const char *params[1] = {ctl_opt(c, "--tenant")};

    return ctl_print_rows(c->conn,
                          "SELECT id, name, disabled, created_at, limits FROM projects"
                          " WHERE tenant_id = $1 ORDER BY id",
                          1, params);
}

int ctl_project_disable(const ctl_call_t *c)
{
    const char *params[3] = {"llmqctl", ctl_opt(c, "--tenant"), c->pos};

    return ctl_admin_call(c->conn,
                          "SELECT admin_update_project($1, $2, $3,"
                          " '{\"disabled\": true}')::text",
                          3, params, CTL_ADMIN_PRINT);
}

int ctl_user_create(const ctl_call_t *c)
{
    const char *params[6] = {"llmqctl",
                             ctl_opt(c, "--tenant"),
                             c->pos,
                             ctl_opt(c, "--email"),
                             ctl_opt(c, "--name"),
                             ctl_opt_or(c, "--role", "developer")};

    return ctl_admin_call(c->conn, "SELECT admin_create_user($1, $2, $3, $4, $5, $6)::text", 6,
                          params, CTL_ADMIN_PRINT);
}

int ctl_user_list(const ctl_call_t *c)
{
    const char *params[1] = {ctl_opt(c, "--tenant")};

    return ctl_print_rows(c->conn,
                          "SELECT id, email, name, role, disabled, created_at, limits"
                          " FROM users WHERE tenant_id = $1 ORDER BY id",
                          1, params);
}

int ctl_user_disable(const ctl_call_t *c)
{
    const char *params[4] = {"llmqctl", "platform", ctl_opt(c, "--tenant"), c->pos};

    return ctl_admin_call(c->conn,
                          "SELECT admin_update_user($1, $2, $3, $4,"
                          " '{\"disabled\": true}')::text",
                          4, params, CTL_ADMIN_PRINT);
}

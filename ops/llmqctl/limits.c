/* llmqctl's limits commands: each change is one call of the database function the admin
 * API calls too, so the same validation and audit entry apply. */
#include "ops/llmqctl/limits.h"

#include "common/ids.h"
#include "ops/llmqctl/db.h"

int ctl_tier_list(const ctl_call_t *c)
{
    return ctl_print_rows(c->conn,
                          "SELECT name, weight, limits, description, updated_at FROM tiers"
                          " ORDER BY weight, name",
                          0, NULL);
}

/* The options given change the tier; the others keep their values (a new tier: defaults). */
int ctl_tier_set(const ctl_call_t *c)
{
    const char *params[4] = {c->pos, ctl_opt(c, "--weight"), ctl_opt(c, "--limits"),
                             ctl_opt(c, "--description")};

    return ctl_admin_call(
        c->conn,
        "SELECT admin_put_tier('llmqctl', $1, coalesce((SELECT jsonb_build_object('weight',"
        " weight, 'limits', limits, 'description', description) FROM tiers WHERE name = $1),"
        " '{}') || jsonb_strip_nulls(jsonb_build_object('weight', $2::numeric,"
        " 'limits', $3::jsonb, 'description', $4::text)))::text",
        4, params, CTL_ADMIN_PRINT);
}

int ctl_project_set(const ctl_call_t *c)
{
    const char *params[3] = {ctl_opt(c, "--tenant"), c->pos, ctl_opt(c, "--limits")};

    return ctl_admin_call(c->conn,
                          "SELECT admin_update_project('llmqctl', $1, $2,"
                          " jsonb_build_object('limits', $3::jsonb))::text",
                          3, params, CTL_ADMIN_PRINT);
}

int ctl_user_set(const ctl_call_t *c)
{
    const char *params[3] = {ctl_opt(c, "--tenant"), c->pos, ctl_opt(c, "--limits")};

    return ctl_admin_call(c->conn,
                          "SELECT admin_update_user('llmqctl', 'platform', $1, $2,"
                          " jsonb_build_object('limits', $3::jsonb))::text",
                          3, params, CTL_ADMIN_PRINT);
}

/* Keys by id (key list shows them); without --tenant, the key's own tenant. */
int ctl_key_set(const ctl_call_t *c)
{
    const char *params[3] = {ctl_opt(c, "--tenant"), c->pos, ctl_opt(c, "--limits")};

    if (!lq_uuid_valid(c->pos))
        return ctl_fail(2, "key set: %s is not a key id", c->pos);
    return ctl_admin_call(c->conn,
                          "SELECT admin_update_key('llmqctl', 'platform', coalesce($1,"
                          " (SELECT tenant_id FROM api_keys WHERE id = $2::uuid)), $2::uuid,"
                          " jsonb_build_object('limits', $3::jsonb))::text",
                          3, params, CTL_ADMIN_PRINT);
}

/* What applies to a key's requests: what GET /v1/limits answers it. */
int ctl_key_limits(const ctl_call_t *c)
{
    const char *params[1] = {c->pos};

    if (!lq_uuid_valid(c->pos))
        return ctl_fail(2, "key limits: %s is not a key id", c->pos);
    return ctl_admin_call(c->conn, "SELECT limits_of_key($1::uuid)::text", 1, params,
                          CTL_ADMIN_PRINT);
}

int ctl_installation_set(const ctl_call_t *c)
{
    const char *params[1] = {ctl_opt(c, "--limits")};

    return ctl_admin_call(c->conn,
                          "SELECT admin_set_installation_limits('llmqctl',"
                          " jsonb_build_object('limits', $1::jsonb))::text",
                          1, params, CTL_ADMIN_PRINT);
}

int ctl_installation_show(const ctl_call_t *c)
{
    return ctl_admin_call(c->conn, "SELECT installation_limits_json()::text", 0, NULL,
                          CTL_ADMIN_PRINT);
}

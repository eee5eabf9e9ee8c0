#include "ops/llmqctl/policy.h"

#include "ops/llmqctl/db.h"

int ctl_policy_set(const ctl_call_t *c)
{
    const char *params[4] = {"llmqctl", ctl_opt(c, "--tenant"), ctl_opt(c, "--project"), c->pos};

    return ctl_admin_call(c->conn, "SELECT admin_set_policy($1, $2, $3, $4::jsonb)::text", 4,
                          params, CTL_ADMIN_PRINT);
}

int ctl_policy_show(const ctl_call_t *c)
{
    const char *params[1] = {ctl_opt(c, "--tenant")};

    return ctl_print_rows(c->conn,
                          "SELECT '' AS project, policy FROM tenants WHERE id = $1"
                          " UNION ALL SELECT id, policy FROM projects"
                          " WHERE tenant_id = $1 AND policy IS NOT NULL",
                          1, params);
}

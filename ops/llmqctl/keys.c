#include "ops/llmqctl/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/api_key.h"
#include "common/clock.h"
#include "common/ids.h"
#include "ops/llmqctl/db.h"

int ctl_key_create(const ctl_call_t *c)
{
    const char *days = ctl_opt(c, "--expires-in-days"),
               *role = ctl_opt_or(c, "--role", "developer");
    char id[LQ_UUID_STR_LEN + 1], scopes[128], expires[32];
    lq_api_key_t k;
    const char *params[11] = {"llmqctl",
                              ctl_opt(c, "--tenant"),
                              id,
                              ctl_opt(c, "--project"),
                              ctl_opt(c, "--user"),
                              ctl_opt_or(c, "--name", ""),
                              role,
                              scopes,
                              days ? expires : NULL,
                              k.prefix,
                              k.sha256};

    if (lq_api_key_generate(&k) != LQ_OK)
        return ctl_fail(1, "cannot make a key (no randomness?)");
    lq_uuid7(id, lq_wall_ms());
    snprintf(scopes, sizeof(scopes), "{%s}", ctl_opt_or(c, "--scopes", ""));
    if (days)
        snprintf(expires, sizeof(expires), "%lld",
                 (long long)(lq_wall_ms() / 1000 + atoll(days) * 86400));
    if (ctl_admin_call(c->conn,
                       "SELECT admin_create_key($1, $2, $3::uuid, $4, $5, $6, $7, $8::text[],"
                       " to_timestamp($9::double precision), $10, $11)::text",
                       11, params, CTL_ADMIN_QUIET)) {
        lq_api_key_wipe(&k);
        return 1;
    }
    printf("%s\n", k.key);
    lq_api_key_wipe(&k);
    fprintf(stderr, "key id %s (%s) for tenant %s: store the key now, it is not shown again\n", id,
            role, params[1]);
    return 0;
}

int ctl_key_list(const ctl_call_t *c)
{
    const char *params[1] = {ctl_opt(c, "--tenant")};

    return ctl_print_rows(c->conn,
                          "SELECT id, key_prefix || '…' AS key, role, project_id, user_id, name,"
                          " scopes, created_at, expires_at, revoked_at, limits FROM api_keys"
                          " WHERE tenant_id = $1 ORDER BY created_at",
                          1, params);
}

int ctl_key_revoke(const ctl_call_t *c)
{
    const char *params[3] = {"llmqctl", ctl_opt(c, "--tenant"), c->pos};

    if (!lq_uuid_valid(c->pos))
        return ctl_fail(2, "key revoke: %s is not a key id", c->pos);
    /* without --tenant, the key's own tenant */
    return ctl_admin_call(c->conn,
                          "SELECT admin_revoke_key($1, 'platform', coalesce($2,"
                          " (SELECT tenant_id FROM api_keys WHERE id = $3::uuid)), $3::uuid)::text",
                          3, params, CTL_ADMIN_PRINT);
}

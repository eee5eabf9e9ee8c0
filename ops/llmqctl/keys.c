#include "ops/llmqctl/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/ids.h"
#include "ops/llmqctl/db.h"

#define KEY_SIZE 64        /* "llmq-" + 48 hex digits + NUL fits */
#define KEY_PREFIX_LEN 12  /* what api_keys.key_prefix keeps of a key, to recognise it by */

/* A new API key ("llmq-" and 48 hex digits), the prefix stored to recognise it and the SHA-256
 * stored to check it: the key itself is never stored.
 * TODO(merge): lq_api_key_new */
static lq_err_t ctl_api_key_new(char key[KEY_SIZE], char prefix[KEY_PREFIX_LEN + 1],
                                char hash[65])
{
    unsigned char raw[24];
    char hex[2 * sizeof(raw) + 1];

    if (lq_random_bytes(raw, sizeof(raw)) != LQ_OK)
        return LQ_ERR_IO;
    lq_hex(hex, raw, sizeof(raw));
    snprintf(key, KEY_SIZE, "llmq-%s", hex);
    snprintf(prefix, KEY_PREFIX_LEN + 1, "%.*s", KEY_PREFIX_LEN, key);
    return lq_sha256_hex(hash, key, strlen(key));
}

int ctl_key_create(const ctl_call_t *c)
{
    const char *days = ctl_opt(c, "--expires-in-days"), *role = ctl_opt_or(c, "--role", "developer");
    char key[KEY_SIZE], hash[65], id[LQ_UUID_STR_LEN + 1], prefix[KEY_PREFIX_LEN + 1],
        scopes[128], expires[32];
    const char *params[11] = {"llmqctl", ctl_opt(c, "--tenant"), id, ctl_opt(c, "--project"),
                              ctl_opt(c, "--user"), ctl_opt_or(c, "--name", ""), role, scopes,
                              days ? expires : NULL, prefix, hash};

    if (ctl_api_key_new(key, prefix, hash) != LQ_OK)
        return ctl_fail(1, "cannot make a key (no randomness?)");
    lq_uuid7(id, lq_wall_ms());
    snprintf(scopes, sizeof(scopes), "{%s}", ctl_opt_or(c, "--scopes", ""));
    if (days)
        snprintf(expires, sizeof(expires), "%lld",
                 (long long)(lq_wall_ms() / 1000 + atoll(days) * 86400));
    if (ctl_admin_call(c->conn,
                       "SELECT admin_create_key($1, $2, $3::uuid, $4, $5, $6, $7, $8::text[],"
                       " to_timestamp($9::double precision), $10, $11)::text",
                       11, params, CTL_ADMIN_QUIET))
        return 1;
    printf("%s\n", key);
    fprintf(stderr, "key id %s (%s) for tenant %s: store the key now, it is not shown again\n", id,
            role, params[1]);
    return 0;
}

int ctl_key_list(const ctl_call_t *c)
{
    const char *params[1] = {ctl_opt(c, "--tenant")};

    return ctl_print_rows(c->conn,
                          "SELECT id, key_prefix || '…' AS key, role, project_id, user_id, name,"
                          " scopes, created_at, expires_at, revoked_at FROM api_keys"
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

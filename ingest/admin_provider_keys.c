/* Admin planners: a tenant's own keys for provider endpoints. A key is encrypted here, so
 * the database and its backups only ever hold ciphertext. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/ids.h"
#include "ingest/admin_plan.h"

#define PROVIDER_KEY_MAX 512

typedef struct sealed_key {
    char id[LQ_UUID_STR_LEN + 1];
    char nonce_hex[2 * LQ_BOX_NONCE_LEN + 1];
    char tag_hex[2 * LQ_BOX_TAG_LEN + 1];
    char ct_hex[2 * PROVIDER_KEY_MAX + 1];
    char masked[32];
} sealed_key_t;

/* Bound to its tenant, endpoint and row: a ciphertext moved elsewhere does not open. */
static int seal(const lq_master_key_t *master, const char *tenant, const char *endpoint,
                const char *key, sealed_key_t *out)
{
    unsigned char nonce[LQ_BOX_NONCE_LEN], tag[LQ_BOX_TAG_LEN], ct[PROVIDER_KEY_MAX];
    size_t len = strlen(key);
    char aad[256];

    lq_uuid7(out->id, lq_wall_ms());
    snprintf(aad, sizeof(aad), "%s|%s|%s", tenant, endpoint, out->id);
    if (lq_box_seal(master, aad, key, len, ct, nonce, tag) != LQ_OK)
        return 0;
    lq_hex(out->ct_hex, ct, len);
    lq_hex(out->nonce_hex, nonce, sizeof(nonce));
    lq_hex(out->tag_hex, tag, sizeof(tag));
    lq_mask_secret(key, out->masked, sizeof(out->masked));
    return 1;
}

void admin_plan_provider_key_store(admin_call_t *c, const admin_req_t *r)
{
    const char *endpoint, *key;
    sealed_key_t *s;
    size_t len;

    if (!r->master) {
        admin_refuse(c, 503, "service_unavailable", "no_master_key",
                     "Provider keys of tenants are not enabled on this installation (no master "
                     "key).");
        return;
    }
    if (admin_body_str(r->body, "endpoint", &endpoint) || admin_body_str(r->body, "key", &key) ||
        !endpoint || !key || (len = strlen(key)) == 0 || len > PROVIDER_KEY_MAX ||
        !lq_printable_token(key)) {
        admin_refuse(c, 400, "invalid_request_error", "invalid_value",
                     "A provider key needs an endpoint (its name in the routing table) and a key "
                     "of 1 to 512 printable characters without spaces.");
        return;
    }
    s = malloc(sizeof(*s));
    if (!s || !seal(r->master, r->tenant, endpoint, key, s)) {
        admin_refuse(c, 500, "server_error", "encryption_failed", "internal error");
        free(s);
        return;
    }
    admin_begin_change(c, r, 201);
    admin_param(c, s->id);
    admin_param(c, endpoint);
    admin_param(c, r->master->id);
    admin_param(c, s->nonce_hex);
    admin_param(c, s->ct_hex);
    admin_param(c, s->tag_hex);
    admin_param(c, s->masked);
    free(s);
}

void admin_plan_provider_key_revoke(admin_call_t *c, const admin_req_t *r)
{
    if (!lq_uuid_valid(r->id)) {
        admin_refuse(c, 404, "invalid_request_error", "not_found", "No provider key %.40s.", r->id);
        return;
    }
    admin_begin_change(c, r, 200);
    admin_param(c, r->id);
}

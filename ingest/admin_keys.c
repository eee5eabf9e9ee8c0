/* Admin planners: a tenant's API keys. A key never reaches further than the key that
 * creates it: not a higher role, not another project, no other scope, no later expiry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/api_key.h"
#include "common/clock.h"
#include "common/ids.h"
#include "ingest/admin_plan.h"

typedef struct key_request {
    const char *name, *project, *user;
    ingest_role_t role;
    unsigned scopes;
    int has_expiry;
    long long expires_at; /* Unix time */
} key_request_t;

static int key_scopes(admin_call_t *c, json_t *scopes, key_request_t *k)
{
    size_t i;

    for (i = 0; scopes && i < json_array_size(scopes); i++) {
        const char *sc = json_string_value(json_array_get(scopes, i));
        if (!sc || ingest_scope_parse(sc) == 0) {
            admin_refuse(c, 400, "invalid_request_error", "invalid_value",
                         "scopes are chosen among chat, jobs, admin.");
            return 0;
        }
        k->scopes |= ingest_scope_parse(sc);
    }
    return 1;
}

/* The body's fields, their types and the role; 0 when refused. */
static int key_fields(admin_call_t *c, json_t *body, key_request_t *k)
{
    json_t *scopes = json_object_get(body, "scopes"), *exp = json_object_get(body, "expires_at");
    const char *role;

    memset(k, 0, sizeof(*k));
    if (admin_body_str(body, "name", &k->name) || admin_body_str(body, "role", &role) ||
        admin_body_str(body, "project", &k->project) || admin_body_str(body, "user", &k->user) ||
        (scopes && !json_is_array(scopes)) ||
        (exp && !json_is_null(exp) && !json_is_integer(exp))) {
        admin_refuse(c, 400, "invalid_request_error", "invalid_value",
                     "name, role, project and user are strings, scopes a list of strings, "
                     "expires_at a Unix time.");
        return 0;
    }
    k->has_expiry = json_is_integer(exp);
    k->expires_at = k->has_expiry ? (long long)json_integer_value(exp) : 0;
    k->role = ingest_role_parse(role ? role : "developer");
    if (k->role == ROLE_NONE) {
        admin_refuse(c, 400, "invalid_request_error", "invalid_value",
                     "role must be viewer, developer, admin, owner or platform.");
        return 0;
    }
    return 1;
}

/* A key never gets more than its creator; admins and owners need an owner. */
static int key_role_allowed(admin_call_t *c, const ingest_identity_t *who, ingest_role_t role)
{
    if (role > who->role || (role >= ROLE_ADMIN && who->role < ROLE_OWNER) ||
        (role == ROLE_PLATFORM && who->role != ROLE_PLATFORM)) {
        admin_refuse(c, 403, "permission_denied", "insufficient_role",
                     "A %s key cannot create a %s key.", ingest_role_name(who->role),
                     ingest_role_name(role));
        return 0;
    }
    return 1;
}

/* The creator's project, scopes and expiry bound the new key; 0 when it asks for more. */
static int key_narrowed(admin_call_t *c, const ingest_identity_t *who, key_request_t *k)
{
    if (who->project_id[0]) {
        if (k->project && strcmp(k->project, who->project_id) != 0) {
            admin_refuse(c, 403, "permission_denied", "insufficient_role",
                         "A key of project %s creates keys of that project only.", who->project_id);
            return 0;
        }
        k->project = who->project_id;
    }
    if (who->scopes) {
        if (k->scopes & ~who->scopes) {
            admin_refuse(c, 403, "permission_denied", "insufficient_scope",
                         "A key cannot give scopes it does not have.");
            return 0;
        }
        if (!k->scopes)
            k->scopes = who->scopes;
    }
    if (who->expires_wall_ms) {
        long long cap = (long long)(who->expires_wall_ms / 1000);
        if (!k->has_expiry || k->expires_at > cap) {
            k->has_expiry = 1;
            k->expires_at = cap;
        }
    }
    return 1;
}

/* The scopes as a PostgreSQL array literal of known words. */
static void scopes_literal(unsigned scopes, char *buf, size_t size)
{
    static const unsigned bits[] = {INGEST_SCOPE_CHAT, INGEST_SCOPE_JOBS, INGEST_SCOPE_ADMIN};
    size_t k, o;
    int n = 0;

    snprintf(buf, size, "{");
    for (k = 0; k < sizeof(bits) / sizeof(bits[0]); k++) {
        o = strlen(buf);
        if (scopes & bits[k])
            snprintf(buf + o, size - o, "%s%s", n++ ? "," : "", ingest_scope_name(bits[k]));
    }
    o = strlen(buf);
    snprintf(buf + o, size - o, "}");
}

void admin_plan_key_create(admin_call_t *c, const admin_req_t *r)
{
    key_request_t k;
    lq_api_key_t made;
    char id[LQ_UUID_STR_LEN + 1], expires[32], scopes[64];

    if (!key_fields(c, r->body, &k) || !key_role_allowed(c, r->who, k.role) ||
        !key_scopes(c, json_object_get(r->body, "scopes"), &k) || !key_narrowed(c, r->who, &k))
        return;
    if (lq_api_key_generate(&made) != LQ_OK) {
        admin_refuse(c, 500, "server_error", "no_randomness", "internal error");
        return;
    }
    snprintf(c->key, sizeof(c->key), "%s", made.key);
    lq_api_key_wipe(&made);
    lq_uuid7(id, lq_wall_ms());
    snprintf(expires, sizeof(expires), "%lld", k.expires_at);
    scopes_literal(k.scopes, scopes, sizeof(scopes));
    admin_begin_change(c, r, 201);
    admin_param(c, id);
    admin_param(c, k.project);
    admin_param(c, k.user);
    admin_param(c, k.name);
    admin_param(c, ingest_role_name(k.role));
    admin_param(c, scopes);
    admin_param(c, k.has_expiry ? expires : NULL);
    admin_param(c, made.prefix);
    admin_param(c, made.sha256);
}

/* The database function decides whether the caller's role may revoke the key. */
void admin_plan_key_revoke(admin_call_t *c, const admin_req_t *r)
{
    if (!lq_uuid_valid(r->id)) {
        admin_refuse(c, 404, "invalid_request_error", "not_found", "No key %.40s.", r->id);
        return;
    }
    admin_begin_change_as_role(c, r);
    admin_param(c, r->id);
}

/* Its name and limits; the database function weighs the caller's role as for revoking. */
void admin_plan_key_update(admin_call_t *c, const admin_req_t *r)
{
    char *changes;

    if (!lq_uuid_valid(r->id)) {
        admin_refuse(c, 404, "invalid_request_error", "not_found", "No key %.40s.", r->id);
        return;
    }
    if (!(changes = admin_body_text(c, r)))
        return;
    admin_begin_change_as_role(c, r);
    admin_param(c, r->id);
    admin_param(c, changes);
    free(changes);
}

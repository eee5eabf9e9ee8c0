/* The admin API: routes, role checks and tenant scoping. See ingest/admin.h, docs/tenancy.md. */
#include "ingest/admin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/api_key.h"
#include "common/clock.h"
#include "common/ids.h"

#define MAX_SEGMENTS 6

/* ---------- SQL ----------
 * Lists of a tenant's rows go through tenant_list (migration 0005), which runs as the
 * row-level-security reader: it sees the caller's tenant only. */

static const char *const SQL_TENANTS_LIST =
    "SELECT jsonb_build_object('object', 'list', 'data',"
    " coalesce(jsonb_agg(admin_tenant_json(t) ORDER BY t.id), '[]'))::text FROM tenants t";
static const char *const SQL_TENANT_GET =
    "SELECT admin_tenant_json(t)::text FROM tenants t WHERE t.id = $1";
static const char *const SQL_TENANT_CREATE = "SELECT admin_create_tenant($1, $2, $3, $4)::text";
static const char *const SQL_TENANT_UPDATE = "SELECT admin_update_tenant($1, $2, $3::jsonb)::text";
static const char *const SQL_PROJECTS_LIST = "SELECT tenant_list($1, 'projects', 0)";
static const char *const SQL_PROJECT_CREATE = "SELECT admin_create_project($1, $2, $3, $4)::text";
static const char *const SQL_PROJECT_UPDATE =
    "SELECT admin_update_project($1, $2, $3, $4::jsonb)::text";
static const char *const SQL_USERS_LIST = "SELECT tenant_list($1, 'users', 0)";
static const char *const SQL_USER_CREATE =
    "SELECT admin_create_user($1, $2, $3, $4, $5, $6)::text";
static const char *const SQL_USER_UPDATE =
    "SELECT admin_update_user($1, $2, $3, $4, $5::jsonb)::text";
static const char *const SQL_KEYS_LIST = "SELECT tenant_list($1, 'keys', 0)";
static const char *const SQL_KEY_CREATE =
    "SELECT admin_create_key($1, $2, $3::uuid, $4, $5, $6, $7, $8::text[],"
    " to_timestamp($9::double precision), $10, $11)::text";
static const char *const SQL_KEY_REVOKE = "SELECT admin_revoke_key($1, $2, $3, $4::uuid)::text";
static const char *const SQL_POLICY_GET =
    "SELECT jsonb_build_object('object', 'policy', 'tenant', id, 'policy', policy)::text"
    " FROM tenants WHERE id = $1";
static const char *const SQL_POLICY_SET = "SELECT admin_set_policy($1, $2, $3, $4::jsonb)::text";
static const char *const SQL_PKEYS_LIST = "SELECT admin_list_provider_keys($1, $2)::text";
static const char *const SQL_PKEY_STORE =
    "SELECT admin_store_provider_key($1, $2, $3::uuid, $4, $5, $6, $7, $8, $9)::text";
static const char *const SQL_PKEY_REVOKE = "SELECT admin_revoke_provider_key($1, $2, $3::uuid)::text";
static const char *const SQL_AUDIT_LIST = "SELECT tenant_list($1, 'audit', $2::int)";

/* ---------- helpers ---------- */

static void refuse(admin_call_t *c, int status, const char *type, const char *code,
                   const char *fmt, ...)
{
    va_list ap;

    c->status = status;
    snprintf(c->type, sizeof(c->type), "%s", type);
    snprintf(c->code, sizeof(c->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof(c->message), fmt, ap);
    va_end(ap);
}

static void not_found(admin_call_t *c)
{
    refuse(c, 404, "invalid_request_error", "not_found", "Unknown admin path or resource.");
}

static int param(admin_call_t *c, const char *v)
{
    if (c->n_params >= ADMIN_MAX_PARAMS)
        return -1;
    c->params[c->n_params] = v ? strdup(v) : NULL;
    if (v && !c->params[c->n_params])
        return -1;
    c->n_params++;
    return 0;
}

static void actor_of(const ingest_identity_t *who, char *out, size_t size)
{
    snprintf(out, size, "key:%s%s%s (%s)", who->key_id, who->user_id[0] ? " user:" : "",
             who->user_id, ingest_role_name(who->role));
}

/* A string field of the body (NULL when absent); -1 when present but not a string. */
static int body_str(json_t *body, const char *key, const char **out)
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

/* Keep only the listed keys of body; the JSON text for the update functions. */
static char *changes_of(json_t *body, const char *const *allowed, char *bad, size_t bad_size)
{
    json_t *out = json_object(), *v;
    const char *k;
    char *text;
    size_t i;

    json_object_foreach(body, k, v) {
        int ok = 0;
        for (i = 0; allowed[i]; i++)
            ok |= strcmp(k, allowed[i]) == 0;
        if (!ok) {
            snprintf(bad, bad_size, "%s", k);
            json_decref(out);
            return NULL;
        }
        json_object_set(out, k, v);
    }
    text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    return text;
}

/* The caller may see tenant t: its own, or any for platform operators. Another tenant's
 * resources do not exist for it (404, not 403: no probing which tenants exist). */
static int sees_tenant(const ingest_identity_t *who, const char *t)
{
    return who->role == ROLE_PLATFORM || strcmp(who->tenant_id, t) == 0;
}

static int needs(admin_call_t *c, const ingest_identity_t *who, ingest_role_t role)
{
    if (who->role >= role)
        return 1;
    refuse(c, 403, "permission_denied", "insufficient_role",
           "This key's role (%s) cannot do this; it needs %s or above.",
           ingest_role_name(who->role), ingest_role_name(role));
    return 0;
}

/* ---------- routes ---------- */

static void plan_tenants(admin_call_t *c, const char *method, json_t *body,
                         const ingest_identity_t *who, const char *actor)
{
    const char *id, *name, *tier;

    if (strcmp(method, "GET") == 0) {
        if (!needs(c, who, ROLE_PLATFORM))
            return;
        c->sql = SQL_TENANTS_LIST;
        return;
    }
    if (strcmp(method, "POST") != 0) {
        refuse(c, 405, "invalid_request_error", "method_not_allowed", "Use GET or POST.");
        return;
    }
    if (!needs(c, who, ROLE_PLATFORM))
        return;
    if (body_str(body, "id", &id) || body_str(body, "name", &name) || body_str(body, "tier", &tier) ||
        !id) {
        refuse(c, 400, "invalid_request_error", "invalid_value",
               "A tenant needs a string id; name and tier are strings.");
        return;
    }
    c->sql = SQL_TENANT_CREATE;
    c->ok_status = 201;
    param(c, actor);
    param(c, id);
    param(c, name);
    param(c, tier);
}

static void plan_keys_create(admin_call_t *c, json_t *body, const ingest_identity_t *who,
                             const char *actor, const char *tenant)
{
    static const char *const role_default = "developer";
    const char *name, *role_s, *project, *user;
    json_t *scopes = json_object_get(body, "scopes"), *exp = json_object_get(body, "expires_at");
    ingest_role_t role;
    unsigned want_scopes = 0;
    long long exp_cap = 0;
    lq_api_key_t made;
    char id[LQ_UUID_STR_LEN + 1], expires[32] = "", *scopes_s;
    size_t i;

    if (body_str(body, "name", &name) || body_str(body, "role", &role_s) ||
        body_str(body, "project", &project) || body_str(body, "user", &user) ||
        (scopes && !json_is_array(scopes)) || (exp && !json_is_null(exp) && !json_is_integer(exp))) {
        refuse(c, 400, "invalid_request_error", "invalid_value",
               "name, role, project and user are strings, scopes a list of strings, expires_at "
               "a Unix time.");
        return;
    }
    role = ingest_role_parse(role_s ? role_s : role_default);
    if (role == ROLE_NONE) {
        refuse(c, 400, "invalid_request_error", "invalid_value",
               "role must be viewer, developer, admin, owner or platform.");
        return;
    }
    /* a key never gets more than its creator; admins and owners need an owner */
    if (role > who->role || (role >= ROLE_ADMIN && who->role < ROLE_OWNER) ||
        (role == ROLE_PLATFORM && who->role != ROLE_PLATFORM)) {
        refuse(c, 403, "permission_denied", "insufficient_role",
               "A %s key cannot create a %s key.", ingest_role_name(who->role),
               ingest_role_name(role));
        return;
    }
    for (i = 0; scopes && i < json_array_size(scopes); i++) {
        const char *sc = json_string_value(json_array_get(scopes, i));
        if (!sc || ingest_scope_parse(sc) == 0) {
            refuse(c, 400, "invalid_request_error", "invalid_value",
                   "scopes are chosen among chat, jobs, admin.");
            return;
        }
        want_scopes |= ingest_scope_parse(sc);
    }
    /* a key never reaches further than the key that creates it: its project, its scopes,
     * its expiry */
    if (who->project_id[0]) {
        if (project && strcmp(project, who->project_id) != 0) {
            refuse(c, 403, "permission_denied", "insufficient_role",
                   "A key of project %s creates keys of that project only.", who->project_id);
            return;
        }
        project = who->project_id;
    }
    if (who->scopes) {
        if (want_scopes & ~who->scopes) {
            refuse(c, 403, "permission_denied", "insufficient_scope",
                   "A key cannot give scopes it does not have.");
            return;
        }
        if (!want_scopes)
            want_scopes = who->scopes;
    }
    if (who->expires_wall_ms) {
        long long cap = (long long)(who->expires_wall_ms / 1000);
        if (!(exp && json_is_integer(exp)) || json_integer_value(exp) > cap)
            exp_cap = cap;
    }
    if (lq_api_key_generate(&made) != LQ_OK) {
        refuse(c, 500, "server_error", "no_randomness", "internal error");
        return;
    }
    snprintf(c->key, sizeof(c->key), "%s", made.key);
    lq_api_key_wipe(&made);
    lq_uuid7(id, lq_wall_ms());
    if (exp_cap)
        snprintf(expires, sizeof(expires), "%lld", exp_cap);
    else if (exp && json_is_integer(exp))
        snprintf(expires, sizeof(expires), "%lld", (long long)json_integer_value(exp));
    {
        /* scopes as a PostgreSQL array literal of validated words */
        size_t o = 0;
        char buf[128];
        static const char *const names[] = {"chat", "jobs", "admin"};
        size_t k;
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "{");
        for (k = 0, i = 0; k < 3 && o < sizeof(buf); k++)
            if (want_scopes & (1u << k))
                o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", i++ ? "," : "", names[k]);
        if (o < sizeof(buf))
            snprintf(buf + o, sizeof(buf) - o, "}");
        scopes_s = buf;
        c->sql = SQL_KEY_CREATE;
        c->ok_status = 201;
        param(c, actor);
        param(c, tenant);
        param(c, id);
        param(c, project);
        param(c, user);
        param(c, name);
        param(c, ingest_role_name(role));
        param(c, scopes_s);
        param(c, expires[0] ? expires : NULL);
        param(c, made.prefix);
        param(c, made.sha256);
    }
}

/* Start a call of sql about tenant t for a caller of at least `least`: params (actor,)
 * t. 0 when refused (the refusal is in c). */
static int begin(admin_call_t *c, const ingest_identity_t *who, ingest_role_t least,
                 const char *sql, int ok_status, const char *actor, const char *t)
{
    if (!needs(c, who, least))
        return 0;
    c->sql = sql;
    c->ok_status = ok_status;
    if (actor)
        param(c, actor);
    param(c, t);
    return 1;
}

/* A PATCH: sql(actor, [caller role,] t, [id,] changes) with only the allowed fields. */
static void patch(admin_call_t *c, const ingest_identity_t *who, ingest_role_t least,
                  const char *sql, const char *actor, int with_role, const char *t,
                  const char *id, json_t *body, const char *const *allowed)
{
    char bad[64] = "", *changes;

    if (!needs(c, who, least))
        return;
    if (!(changes = changes_of(body, allowed, bad, sizeof(bad)))) {
        refuse(c, 400, "invalid_request_error", "unknown_parameter",
               "Unknown or unchangeable field: %.60s.", bad);
        return;
    }
    c->sql = sql;
    param(c, actor);
    if (with_role)
        param(c, ingest_role_name(who->role));
    param(c, t);
    if (id)
        param(c, id);
    param(c, changes);
    free(changes);
}

/* A tenant's own key for a provider endpoint: encrypted here, so the database and its
 * backups only ever hold ciphertext. */
static void plan_provider_key_store(admin_call_t *c, json_t *body, const ingest_identity_t *who,
                                    const lq_master_key_t *master, const char *actor,
                                    const char *t)
{
    const char *endpoint, *key;
    char id[LQ_UUID_STR_LEN + 1], aad[256], masked[32], nonce_hex[2 * LQ_BOX_NONCE_LEN + 1],
        tag_hex[2 * LQ_BOX_TAG_LEN + 1], *ct_hex;
    unsigned char nonce[LQ_BOX_NONCE_LEN], tag[LQ_BOX_TAG_LEN], ct[512];
    size_t len;

    if (!needs(c, who, ROLE_ADMIN))
        return;
    if (!master) {
        refuse(c, 503, "service_unavailable", "no_master_key",
               "Provider keys of tenants are not enabled on this installation (no master key).");
        return;
    }
    if (body_str(body, "endpoint", &endpoint) || body_str(body, "key", &key) || !endpoint || !key ||
        (len = strlen(key)) == 0 || len > sizeof(ct) || !lq_printable_token(key)) {
        refuse(c, 400, "invalid_request_error", "invalid_value",
               "A provider key needs an endpoint (its name in the routing table) and a key of 1 to "
               "512 printable characters without spaces.");
        return;
    }
    lq_uuid7(id, lq_wall_ms());
    snprintf(aad, sizeof(aad), "%s|%s|%s", t, endpoint, id);
    if (lq_box_seal(master, aad, key, len, ct, nonce, tag) != LQ_OK ||
        !(ct_hex = malloc(2 * len + 1))) {
        refuse(c, 500, "server_error", "encryption_failed", "internal error");
        return;
    }
    lq_hex(ct_hex, ct, len);
    lq_hex(nonce_hex, nonce, sizeof(nonce));
    lq_hex(tag_hex, tag, sizeof(tag));
    lq_mask_secret(key, masked, sizeof(masked));
    c->sql = SQL_PKEY_STORE;
    c->ok_status = 201;
    param(c, actor);
    param(c, t);
    param(c, id);
    param(c, endpoint);
    param(c, master->id);
    param(c, nonce_hex);
    param(c, ct_hex);
    param(c, tag_hex);
    param(c, masked);
    free(ct_hex);
}

static void plan_tenant_sub(admin_call_t *c, const char *method, char **seg, int n, json_t *body,
                            const ingest_identity_t *who, const lq_master_key_t *master,
                            const char *actor)
{
    static const char *const tenant_fields[] = {"name", "tier", "limits", "disabled", NULL};
    static const char *const project_fields[] = {"name", "disabled", NULL};
    static const char *const user_fields[] = {"name", "email", "role", "disabled", NULL};
    const char *t = seg[1], *what = n > 2 ? seg[2] : "", *id = n > 3 ? seg[3] : NULL;
    const char *f1, *f2, *f3, *f4;
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST"),
        patching = !strcmp(method, "PATCH"), del = !strcmp(method, "DELETE");

    if (!sees_tenant(who, t)) {
        refuse(c, 404, "invalid_request_error", "not_found", "No tenant %.64s.", t);
        return;
    }
    if (n == 2 && get) {
        begin(c, who, ROLE_VIEWER, SQL_TENANT_GET, 200, NULL, t);
    } else if (n == 2 && patching) {
        patch(c, who, ROLE_PLATFORM, SQL_TENANT_UPDATE, actor, 0, t, NULL, body, tenant_fields);
    } else if (!strcmp(what, "projects") && n == 3 && get) {
        begin(c, who, ROLE_VIEWER, SQL_PROJECTS_LIST, 200, NULL, t);
    } else if (!strcmp(what, "projects") && n == 3 && post) {
        if (body_str(body, "id", &f1) || body_str(body, "name", &f2) || !f1)
            refuse(c, 400, "invalid_request_error", "invalid_value",
                   "A project needs a string id; name is a string.");
        else if (begin(c, who, ROLE_ADMIN, SQL_PROJECT_CREATE, 201, actor, t)) {
            param(c, f1);
            param(c, f2);
        }
    } else if (!strcmp(what, "projects") && n == 4 && patching) {
        patch(c, who, ROLE_ADMIN, SQL_PROJECT_UPDATE, actor, 0, t, id, body, project_fields);
    } else if (!strcmp(what, "users") && n == 3 && get) {
        begin(c, who, ROLE_VIEWER, SQL_USERS_LIST, 200, NULL, t);
    } else if (!strcmp(what, "users") && n == 3 && post) {
        if (body_str(body, "id", &f1) || body_str(body, "email", &f2) ||
            body_str(body, "name", &f3) || body_str(body, "role", &f4) || !f1) {
            refuse(c, 400, "invalid_request_error", "invalid_value",
                   "A user needs a string id; email, name and role are strings.");
        } else if (ingest_role_parse(f4 ? f4 : "developer") >= ROLE_ADMIN && who->role < ROLE_OWNER) {
            refuse(c, 403, "permission_denied", "insufficient_role",
                   "Only an owner creates admins and owners.");
        } else if (begin(c, who, ROLE_ADMIN, SQL_USER_CREATE, 201, actor, t)) {
            param(c, f1);
            param(c, f2);
            param(c, f3);
            param(c, f4 ? f4 : "developer");
        }
    } else if (!strcmp(what, "users") && n == 4 && patching) {
        patch(c, who, ROLE_ADMIN, SQL_USER_UPDATE, actor, 1, t, id, body, user_fields);
    } else if (!strcmp(what, "keys") && n == 3 && get) {
        begin(c, who, ROLE_VIEWER, SQL_KEYS_LIST, 200, NULL, t);
    } else if (!strcmp(what, "keys") && n == 3 && post) {
        if (needs(c, who, ROLE_ADMIN))
            plan_keys_create(c, body, who, actor, t);
    } else if (!strcmp(what, "keys") && n == 4 && del) {
        if (!lq_uuid_valid(id)) {
            refuse(c, 404, "invalid_request_error", "not_found", "No key %.40s.", id);
        } else if (needs(c, who, ROLE_ADMIN)) {
            c->sql = SQL_KEY_REVOKE;
            param(c, actor);
            param(c, ingest_role_name(who->role));
            param(c, t);
            param(c, id);
        }
    } else if (!strcmp(what, "policy") && n == 3 && get) {
        begin(c, who, ROLE_VIEWER, SQL_POLICY_GET, 200, NULL, t);
    } else if ((!strcmp(what, "policy") && n == 3 && !strcmp(method, "PUT")) ||
               (!strcmp(what, "projects") && n == 5 && !strcmp(seg[4], "policy") &&
                (!strcmp(method, "PUT") || del))) {
        char *text = del ? NULL : json_dumps(body, JSON_COMPACT);
        if (begin(c, who, ROLE_ADMIN, SQL_POLICY_SET, 200, actor, t)) {
            param(c, n == 5 ? id : NULL);
            param(c, text);
        }
        free(text);
    } else if (!strcmp(what, "provider-keys") && n == 3 && get) {
        begin(c, who, ROLE_ADMIN, SQL_PKEYS_LIST, 200, actor, t);
    } else if (!strcmp(what, "provider-keys") && n == 3 && post) {
        plan_provider_key_store(c, body, who, master, actor, t);
    } else if (!strcmp(what, "provider-keys") && n == 4 && del) {
        if (!lq_uuid_valid(id))
            refuse(c, 404, "invalid_request_error", "not_found", "No provider key %.40s.", id);
        else if (begin(c, who, ROLE_ADMIN, SQL_PKEY_REVOKE, 200, actor, t))
            param(c, id);
    } else if (!strcmp(what, "audit") && n == 3 && get) {
        if (begin(c, who, ROLE_ADMIN, SQL_AUDIT_LIST, 200, NULL, t))
            param(c, "100");
    } else if ((n == 5 && !strcmp(what, "projects") && !strcmp(seg[4], "policy")) ||
               (n == 2 || (n <= 4 && (!strcmp(what, "projects") || !strcmp(what, "users") ||
                                      !strcmp(what, "keys") || !strcmp(what, "audit") ||
                                      !strcmp(what, "policy") || !strcmp(what, "provider-keys"))))) {
        refuse(c, 405, "invalid_request_error", "method_not_allowed",
               "Method not allowed on this path.");
    } else {
        not_found(c);
    }
}

void ingest_admin_plan(const char *method, const char *path, const char *body, size_t len,
                       const ingest_identity_t *caller, const lq_master_key_t *master,
                       admin_call_t *out)
{
    char copy[512], *seg[MAX_SEGMENTS], *p, *save = NULL, actor[256];
    int n = 0;
    json_t *jb = NULL;
    json_error_t jerr;

    memset(out, 0, sizeof(*out));
    out->ok_status = 200;
    if (strncmp(path, "/admin/v1/", 10) != 0 || strlen(path) >= sizeof(copy)) {
        not_found(out);
        return;
    }
    snprintf(copy, sizeof(copy), "%s", path + 10);
    if ((p = strchr(copy, '?')))
        *p = '\0';
    for (p = strtok_r(copy, "/", &save); p && n < MAX_SEGMENTS; p = strtok_r(NULL, "/", &save))
        seg[n++] = p;
    if (p || n == 0) {
        not_found(out);
        return;
    }
    if (len) {
        jb = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(jb)) {
            json_decref(jb);
            refuse(out, 400, "invalid_request_error", "invalid_json",
                   "The body must be a JSON object.");
            return;
        }
    } else {
        jb = json_object();
    }
    if (caller->scopes && !(caller->scopes & INGEST_SCOPE_ADMIN)) {
        refuse(out, 403, "permission_denied", "insufficient_scope",
               "This key's scopes do not include admin.");
    } else if (!strcmp(seg[0], "me") && n == 1) {
        /* who am I: answered without the database */
        json_t *me = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "object", "identity", "tenant",
                               caller->tenant_id, "project", caller->project_id, "user",
                               caller->user_id, "key_id", caller->key_id, "role",
                               ingest_role_name(caller->role));
        out->status = 200;
        out->immediate = me ? json_dumps(me, JSON_COMPACT) : NULL;
        json_decref(me);
    } else if (!strcmp(seg[0], "tenants") && n == 1) {
        actor_of(caller, actor, sizeof(actor));
        plan_tenants(out, method, jb, caller, actor);
    } else if (!strcmp(seg[0], "tenants")) {
        actor_of(caller, actor, sizeof(actor));
        plan_tenant_sub(out, method, seg, n, jb, caller, master, actor);
    } else {
        not_found(out);
    }
    json_decref(jb);
}

void ingest_admin_call_clear(admin_call_t *c)
{
    int i;

    for (i = 0; i < c->n_params; i++)
        free(c->params[i]);
    free(c->immediate);
    memset(c, 0, sizeof(*c));
}

static char *error_body(const char *message, const char *type, const char *code)
{
    json_t *e = json_pack("{s:{s:s,s:s,s:n,s:s}}", "error", "message", message, "type", type,
                          "param", "code", code);
    char *out = e ? json_dumps(e, JSON_COMPACT) : NULL;

    json_decref(e);
    return out;
}

char *ingest_admin_answer(admin_call_t *c, const PGresult *res, const char *errmsg, int *status)
{
    if (!res) {
        const char *msg = errmsg && strlen(errmsg) > 6 ? errmsg + 6 : "database unavailable";
        if (errmsg && !strncmp(errmsg, "LQ404", 5)) {
            *status = 404;
            return error_body(msg, "invalid_request_error", "not_found");
        }
        if (errmsg && !strncmp(errmsg, "LQ409", 5)) {
            *status = 409;
            return error_body(msg, "invalid_request_error", "conflict");
        }
        if (errmsg && !strncmp(errmsg, "LQ400", 5)) {
            *status = 400;
            return error_body(msg, "invalid_request_error", "invalid_value");
        }
        if (errmsg && !strncmp(errmsg, "LQ403", 5)) {
            *status = 403;
            return error_body(msg, "permission_denied", "insufficient_role");
        }
        if (errmsg && !strncmp(errmsg, "23505", 5)) {
            *status = 409;
            return error_body("It exists already.", "invalid_request_error", "conflict");
        }
        if (errmsg && (!strncmp(errmsg, "22", 2) || !strncmp(errmsg, "23", 2))) {
            *status = 400;
            return error_body("A value is not acceptable.", "invalid_request_error", "invalid_value");
        }
        *status = 503;
        return error_body("The database is unavailable; retry later.", "service_unavailable",
                          "database_unavailable");
    }
    if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        *status = 404;
        return error_body("Not found.", "invalid_request_error", "not_found");
    }
    *status = c->ok_status;
    if (c->key[0]) { /* the clear key, once */
        json_error_t jerr;
        json_t *o = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
        char *out;
        if (!o)
            return NULL;
        json_object_set_new(o, "key", json_string(c->key));
        out = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        memset(c->key, 0, sizeof(c->key));
        return out;
    }
    return strdup(PQgetvalue(res, 0, 0));
}

/* The admin API as a table: each route with the least role it needs, the body fields it
 * accepts, its planner and its statement. One lookup answers every route the same way.
 * See ingest/admin.h and docs/tenancy.md. */
#include "ingest/admin.h"

#include <stdio.h>
#include <string.h>

#include "ingest/admin_plan.h"
#include "ingest/path_match.h"

/* Lists of a tenant's rows go through tenant_list (migration 0005), which runs as the
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
static const char *const SQL_USER_CREATE = "SELECT admin_create_user($1, $2, $3, $4, $5, $6)::text";
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
static const char *const SQL_PKEY_REVOKE =
    "SELECT admin_revoke_provider_key($1, $2, $3::uuid)::text";
static const char *const SQL_KEY_UPDATE =
    "SELECT admin_update_key($1, $2, $3, $4::uuid, $5::jsonb)::text";
static const char *const SQL_TIERS_LIST = "SELECT admin_list_tiers()::text";
static const char *const SQL_QUEUE = "SELECT queue_status()::text";
static const char *const SQL_TIER_PUT = "SELECT admin_put_tier($1, $2, $3::jsonb)::text";
static const char *const SQL_INSTALLATION_GET = "SELECT installation_limits_json()::text";
static const char *const SQL_INSTALLATION_PUT =
    "SELECT admin_set_installation_limits($1, $2::jsonb)::text";
static const char *const SQL_AUDIT_LIST = "SELECT tenant_list($1, 'audit', $2::int)";
static const char *const SQL_AUDIT_VERIFY = "SELECT audit_verify($1)::text";

/* The body fields each route accepts (NULL-terminated); any other is refused. */
static const char *const NO_FIELDS[] = {NULL};
static const char *const TENANT_NEW[] = {"id", "name", "tier", NULL};
static const char *const TENANT_CHANGE[] = {
    "name", "tier", "limits", "disabled", "conversation_retention_days", "request_shards", NULL};
static const char *const PROJECT_NEW[] = {"id", "name", NULL};
static const char *const PROJECT_CHANGE[] = {"name", "disabled", "limits", NULL};
static const char *const USER_NEW[] = {"id", "email", "name", "role", NULL};
static const char *const USER_CHANGE[] = {"name", "email", "role", "disabled", "limits", NULL};
static const char *const KEY_NEW[] = {"name",   "role",       "project", "user",
                                      "scopes", "expires_at", NULL};
static const char *const KEY_CHANGE[] = {"name", "limits", NULL};
static const char *const TIER[] = {"weight", "limits", "description", NULL};
static const char *const LIMITS[] = {"limits", NULL};
static const char *const POLICY[] = {"secrets", "kinds", "blocked_keywords", NULL};
static const char *const PROVIDER_KEY_NEW[] = {"endpoint", "key", NULL};

typedef struct admin_route {
    ingest_route_key_t key; /* method and path pattern: first, for ingest_route_find */
    ingest_role_t least;
    const char *const *fields;
    admin_planner_fn plan;
    const char *const *sql;
} admin_route_t;

#define T "/admin/v1/tenants/{tenant}"

static const admin_route_t routes[] = {
    {{"GET", "/admin/v1/me"}, ROLE_VIEWER, NO_FIELDS, admin_plan_me, NULL},
    {{"GET", "/admin/v1/tenants"},
     ROLE_PLATFORM,
     NO_FIELDS,
     admin_plan_list_all,
     &SQL_TENANTS_LIST},
    {{"POST", "/admin/v1/tenants"},
     ROLE_PLATFORM,
     TENANT_NEW,
     admin_plan_tenant_create,
     &SQL_TENANT_CREATE},
    {{"GET", T}, ROLE_VIEWER, NO_FIELDS, admin_plan_read, &SQL_TENANT_GET},
    {{"PATCH", T}, ROLE_PLATFORM, TENANT_CHANGE, admin_plan_update, &SQL_TENANT_UPDATE},
    {{"GET", T "/projects"}, ROLE_VIEWER, NO_FIELDS, admin_plan_read, &SQL_PROJECTS_LIST},
    {{"POST", T "/projects"},
     ROLE_ADMIN,
     PROJECT_NEW,
     admin_plan_project_create,
     &SQL_PROJECT_CREATE},
    {{"PATCH", T "/projects/{id}"},
     ROLE_ADMIN,
     PROJECT_CHANGE,
     admin_plan_update,
     &SQL_PROJECT_UPDATE},
    {{"PUT", T "/projects/{id}/policy"},
     ROLE_ADMIN,
     POLICY,
     admin_plan_policy_set,
     &SQL_POLICY_SET},
    {{"DELETE", T "/projects/{id}/policy"},
     ROLE_ADMIN,
     NO_FIELDS,
     admin_plan_policy_clear,
     &SQL_POLICY_SET},
    {{"GET", T "/users"}, ROLE_VIEWER, NO_FIELDS, admin_plan_read, &SQL_USERS_LIST},
    {{"POST", T "/users"}, ROLE_ADMIN, USER_NEW, admin_plan_user_create, &SQL_USER_CREATE},
    {{"PATCH", T "/users/{id}"}, ROLE_ADMIN, USER_CHANGE, admin_plan_user_update, &SQL_USER_UPDATE},
    {{"GET", T "/keys"}, ROLE_VIEWER, NO_FIELDS, admin_plan_read, &SQL_KEYS_LIST},
    {{"POST", T "/keys"}, ROLE_ADMIN, KEY_NEW, admin_plan_key_create, &SQL_KEY_CREATE},
    {{"DELETE", T "/keys/{id}"}, ROLE_ADMIN, NO_FIELDS, admin_plan_key_revoke, &SQL_KEY_REVOKE},
    {{"PATCH", T "/keys/{id}"}, ROLE_ADMIN, KEY_CHANGE, admin_plan_key_update, &SQL_KEY_UPDATE},
    {{"GET", T "/policy"}, ROLE_VIEWER, NO_FIELDS, admin_plan_read, &SQL_POLICY_GET},
    {{"PUT", T "/policy"}, ROLE_ADMIN, POLICY, admin_plan_policy_set, &SQL_POLICY_SET},
    {{"GET", T "/provider-keys"}, ROLE_ADMIN, NO_FIELDS, admin_plan_read_audited, &SQL_PKEYS_LIST},
    {{"POST", T "/provider-keys"},
     ROLE_ADMIN,
     PROVIDER_KEY_NEW,
     admin_plan_provider_key_store,
     &SQL_PKEY_STORE},
    {{"DELETE", T "/provider-keys/{id}"},
     ROLE_ADMIN,
     NO_FIELDS,
     admin_plan_provider_key_revoke,
     &SQL_PKEY_REVOKE},
    {{"GET", T "/audit"}, ROLE_ADMIN, NO_FIELDS, admin_plan_audit, &SQL_AUDIT_LIST},
    {{"GET", T "/audit/verify"}, ROLE_ADMIN, NO_FIELDS, admin_plan_read, &SQL_AUDIT_VERIFY},
    /* tiers: every caller reads them (its own is in GET /v1/limits); operators set them */
    {{"GET", "/admin/v1/tiers"}, ROLE_VIEWER, NO_FIELDS, admin_plan_list_all, &SQL_TIERS_LIST},
    /* the operators' view of the queue: what each worker holds and the lag it sees */
    {{"GET", "/admin/v1/queue"}, ROLE_PLATFORM, NO_FIELDS, admin_plan_list_all, &SQL_QUEUE},
    {{"PUT", "/admin/v1/tiers/{id}"}, ROLE_PLATFORM, TIER, admin_plan_platform_put, &SQL_TIER_PUT},
    {{"GET", "/admin/v1/installation/limits"},
     ROLE_PLATFORM,
     NO_FIELDS,
     admin_plan_list_all,
     &SQL_INSTALLATION_GET},
    {{"PUT", "/admin/v1/installation/limits"},
     ROLE_PLATFORM,
     LIMITS,
     admin_plan_platform_put,
     &SQL_INSTALLATION_PUT},
};

#undef T

/* The caller may see tenant t: its own, or any for platform operators. Another tenant's
 * resources do not exist for it (404, not 403: no probing which tenants exist). */
static int sees_tenant(const ingest_identity_t *who, const char *t)
{
    return who->role == ROLE_PLATFORM || strcmp(who->tenant_id, t) == 0;
}

/* The route of method + path, or NULL with the refusal in c: 404 for an unknown path and
 * for another tenant's, 405 for a method the path does not have, 403 below the least role. */
static const admin_route_t *route_of(const char *method, const char *path,
                                     const ingest_identity_t *who, ingest_path_params_t *params,
                                     admin_call_t *c)
{
    int i = ingest_route_find(routes, sizeof(routes) / sizeof(routes[0]), sizeof(routes[0]), method,
                              path, params, c->allow, sizeof(c->allow));
    const char *t = ingest_path_param(params, "tenant");
    char msg[200];

    if (i != INGEST_ROUTE_BAD_METHOD || (t && !sees_tenant(who, t)))
        c->allow[0] = '\0'; /* only a 405 says which methods the path has */
    if (i == INGEST_ROUTE_NOT_FOUND)
        admin_refuse(c, 404, "invalid_request_error", "not_found",
                     "Unknown admin path or resource.");
    else if (t && !sees_tenant(who, t))
        admin_refuse(c, 404, "invalid_request_error", "not_found", "No tenant %.64s.", t);
    else if (i == INGEST_ROUTE_BAD_METHOD)
        admin_refuse(c, 405, "invalid_request_error", "method_not_allowed",
                     "Method not allowed on this path.");
    else if (who->role < routes[i].least) {
        ingest_role_explain(who->role, routes[i].least, msg, sizeof(msg));
        admin_refuse(c, 403, "permission_denied", "insufficient_role", "%s", msg);
    } else
        return &routes[i];
    return NULL;
}

static int accepts(const char *const *fields, const char *name)
{
    for (; *fields; fields++)
        if (!strcmp(*fields, name))
            return 1;
    return 0;
}

/* The body as an object of the route's fields (an empty body is {}), or NULL with the
 * refusal in c. */
static json_t *body_of(const admin_route_t *rt, const char *body, size_t len, admin_call_t *c)
{
    json_error_t jerr;
    json_t *jb = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : json_object(), *v;
    const char *k;

    if (!json_is_object(jb)) {
        json_decref(jb);
        admin_refuse(c, 400, "invalid_request_error", "invalid_json",
                     "The body must be a JSON object.");
        return NULL;
    }
    json_object_foreach(jb, k, v)
    {
        if (accepts(rt->fields, k))
            continue;
        admin_refuse(c, 400, "invalid_request_error", "unknown_parameter",
                     "Unknown or unchangeable field: %.60s.", k);
        snprintf(c->param, sizeof(c->param), "%s", k);
        json_decref(jb);
        return NULL;
    }
    return jb;
}

static void actor_of(const ingest_identity_t *who, char *out, size_t size)
{
    snprintf(out, size, "key:%s%s%s (%s)", who->key_id, who->user_id[0] ? " user:" : "",
             who->user_id, ingest_role_name(who->role));
}

void ingest_admin_plan(const char *method, const char *path, const char *body, size_t len,
                       const ingest_identity_t *caller, const lq_master_key_t *master,
                       admin_call_t *out)
{
    ingest_path_params_t params;
    const admin_route_t *rt;
    admin_req_t req;
    char actor[256];

    memset(out, 0, sizeof(*out));
    out->ok_status = 200;
    rt = route_of(method, path, caller, &params, out);
    if (!rt || !(req.body = body_of(rt, body, len, out)))
        return;
    actor_of(caller, actor, sizeof(actor));
    req.who = caller;
    req.actor = actor;
    req.tenant = ingest_path_param(&params, "tenant");
    req.id = ingest_path_param(&params, "id");
    req.master = master;
    req.sql = rt->sql ? *rt->sql : NULL;
    rt->plan(out, &req);
    json_decref(req.body);
}

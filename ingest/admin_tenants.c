/* Admin planners: the caller itself, tenants, a tenant's audit log. */
#include <stdlib.h>

#include "ingest/admin_plan.h"

/* Who am I: answered without the database. */
void admin_plan_me(admin_call_t *c, const admin_req_t *r)
{
    const ingest_identity_t *who = r->who;
    json_t *me = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "object", "identity", "tenant",
                           who->tenant_id, "project", who->project_id, "user", who->user_id,
                           "key_id", who->key_id, "role", ingest_role_name(who->role));

    c->status = 200;
    c->immediate = me ? json_dumps(me, JSON_COMPACT) : NULL;
    json_decref(me);
}

void admin_plan_tenant_create(admin_call_t *c, const admin_req_t *r)
{
    const char *id, *name, *tier;

    if (admin_body_str(r->body, "id", &id) || admin_body_str(r->body, "name", &name) ||
        admin_body_str(r->body, "tier", &tier) || !id) {
        admin_refuse(c, 400, "invalid_request_error", "invalid_value",
                     "A tenant needs a string id; name and tier are strings.");
        return;
    }
    c->sql = r->sql;
    c->ok_status = 201;
    admin_param(c, r->actor);
    admin_param(c, id);
    admin_param(c, name);
    admin_param(c, tier);
}

void admin_plan_audit(admin_call_t *c, const admin_req_t *r)
{
    c->sql = r->sql;
    admin_param(c, r->tenant);
    admin_param(c, "100"); /* the newest entries */
}

/* Admin planners: a tenant's users. */
#include <stdlib.h>

#include "ingest/admin_plan.h"

void admin_plan_user_create(admin_call_t *c, const admin_req_t *r)
{
    const char *id, *email, *name, *role;

    if (admin_body_str(r->body, "id", &id) || admin_body_str(r->body, "email", &email) ||
        admin_body_str(r->body, "name", &name) || admin_body_str(r->body, "role", &role) || !id) {
        admin_refuse(c, 400, "invalid_request_error", "invalid_value",
                     "A user needs a string id; email, name and role are strings.");
        return;
    }
    if (!role)
        role = "developer";
    if (ingest_role_parse(role) >= ROLE_ADMIN && r->who->role < ROLE_OWNER) {
        admin_refuse(c, 403, "permission_denied", "insufficient_role",
                     "Only an owner creates admins and owners.");
        return;
    }
    admin_begin_change(c, r, 201);
    admin_param(c, id);
    admin_param(c, email);
    admin_param(c, name);
    admin_param(c, role);
}

/* The database function decides what the caller's role may change (owners for admins and
 * owners), so it gets the role too. */
void admin_plan_user_update(admin_call_t *c, const admin_req_t *r)
{
    char *changes = admin_body_text(c, r);

    if (!changes)
        return;
    admin_begin_change_as_role(c, r);
    admin_param(c, r->id);
    admin_param(c, changes);
    free(changes);
}

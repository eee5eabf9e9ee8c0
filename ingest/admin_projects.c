/* Admin planners: a tenant's projects (lists and changes are generic: admin_plan.c). */
#include "ingest/admin_plan.h"

void admin_plan_project_create(admin_call_t *c, const admin_req_t *r)
{
    const char *id, *name;

    if (admin_body_str(r->body, "id", &id) || admin_body_str(r->body, "name", &name) || !id) {
        admin_refuse(c, 400, "invalid_request_error", "invalid_value",
                     "A project needs a string id; name is a string.");
        return;
    }
    admin_begin_change(c, r, 201);
    admin_param(c, id);
    admin_param(c, name);
}

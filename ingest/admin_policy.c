/* Admin planners: the prompt policy of a tenant or of one of its projects. The database
 * function checks the policy's values (ops/migrations/0003_prompt_policy.sql). */
#include <stdlib.h>

#include "ingest/admin_plan.h"

/* sql(actor, tenant, project or NULL, policy or NULL = the tenant's applies) */
static void plan_policy(admin_call_t *c, const admin_req_t *r, const char *policy)
{
    admin_begin_change(c, r, 200);
    admin_param(c, r->id);
    admin_param(c, policy);
}

void admin_plan_policy_set(admin_call_t *c, const admin_req_t *r)
{
    char *text = admin_body_text(c, r);

    if (!text)
        return;
    plan_policy(c, r, text);
    free(text);
}

void admin_plan_policy_clear(admin_call_t *c, const admin_req_t *r)
{
    plan_policy(c, r, NULL);
}

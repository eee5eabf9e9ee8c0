/* ingest/admin_plan.h — what the admin API's planners share: the request as the route
 * table matched it, and the helpers that fill an admin_call_t. Planners (one file per
 * resource) are called by admin_routes.c once the path, the tenant, the method, the role
 * and the body's fields were checked; they never call back into it. */
#ifndef LQ_INGEST_ADMIN_PLAN_H
#define LQ_INGEST_ADMIN_PLAN_H

#include <jansson.h>

#include "ingest/admin.h"

typedef struct admin_req {
    const ingest_identity_t *who;
    const char *actor;             /* who, as the audit log names it */
    const char *tenant;            /* the path's {tenant}, or NULL */
    const char *id;                /* the path's {id}, or NULL */
    json_t *body;                  /* an object holding only the fields the route accepts */
    const lq_master_key_t *master; /* NULL when this node has none */
    const char *sql;               /* the route's statement */
} admin_req_t;

typedef void (*admin_planner_fn)(admin_call_t *c, const admin_req_t *r);

void admin_refuse(admin_call_t *c, int status, const char *type, const char *code, const char *fmt,
                  ...) __attribute__((format(printf, 5, 6)));
/** Append a statement parameter (copied; NULL = SQL NULL). */
void admin_param(admin_call_t *c, const char *v);
/** A string field of the body (NULL when absent or null); -1 when of another type. */
int admin_body_str(json_t *body, const char *key, const char **out);

/** Start the route's statement as most changes do: sql(actor, tenant, ...). */
void admin_begin_change(admin_call_t *c, const admin_req_t *r, int ok_status);
/** The same for changes whose database function weighs the caller's role:
 * sql(actor, role, tenant, ...). */
void admin_begin_change_as_role(admin_call_t *c, const admin_req_t *r);
/** The body as JSON text (malloc'ed), or NULL after refusing c (no memory). */
char *admin_body_text(admin_call_t *c, const admin_req_t *r);

/* Planners of statements whose parameters come from the path alone. */
void admin_plan_list_all(admin_call_t *c, const admin_req_t *r);     /* sql() */
void admin_plan_read(admin_call_t *c, const admin_req_t *r);         /* sql(tenant) */
void admin_plan_read_audited(admin_call_t *c, const admin_req_t *r); /* sql(actor, tenant) */
/* sql(actor, tenant, [id,] changes): the body, whose fields the route declares */
void admin_plan_update(admin_call_t *c, const admin_req_t *r);
/* sql(actor, [id,] body): the installation's settings (tiers, limits), not a tenant's */
void admin_plan_platform_put(admin_call_t *c, const admin_req_t *r);

/* The planners of each resource. */
void admin_plan_me(admin_call_t *c, const admin_req_t *r);
void admin_plan_tenant_create(admin_call_t *c, const admin_req_t *r);
void admin_plan_audit(admin_call_t *c, const admin_req_t *r);
void admin_plan_project_create(admin_call_t *c, const admin_req_t *r);
void admin_plan_user_create(admin_call_t *c, const admin_req_t *r);
void admin_plan_user_update(admin_call_t *c, const admin_req_t *r);
void admin_plan_key_create(admin_call_t *c, const admin_req_t *r);
void admin_plan_key_revoke(admin_call_t *c, const admin_req_t *r);
void admin_plan_key_update(admin_call_t *c, const admin_req_t *r);
void admin_plan_policy_set(admin_call_t *c, const admin_req_t *r);
void admin_plan_policy_clear(admin_call_t *c, const admin_req_t *r);
void admin_plan_provider_key_store(admin_call_t *c, const admin_req_t *r);
void admin_plan_provider_key_revoke(admin_call_t *c, const admin_req_t *r);

#endif

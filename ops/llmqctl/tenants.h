/* ops/llmqctl/tenants.h — tenants, their projects and their users. */
#ifndef LQ_CTL_TENANTS_H
#define LQ_CTL_TENANTS_H

#include "ops/llmqctl/call.h"

int ctl_tenant_create(const ctl_call_t *c);
int ctl_tenant_list(const ctl_call_t *c);
int ctl_tenant_set(const ctl_call_t *c);
int ctl_tenant_disable(const ctl_call_t *c);
int ctl_tenant_enable(const ctl_call_t *c);

int ctl_project_create(const ctl_call_t *c);
int ctl_project_list(const ctl_call_t *c);
int ctl_project_disable(const ctl_call_t *c);

int ctl_user_create(const ctl_call_t *c);
int ctl_user_list(const ctl_call_t *c);
int ctl_user_disable(const ctl_call_t *c);

#endif

/* ops/llmqctl/limits.h — tiers, the limits of projects, users, keys and of the whole
 * installation (docs/limits.md). Tenants' limits: tenant set --limits (tenants.c). */
#ifndef LQ_CTL_LIMITS_H
#define LQ_CTL_LIMITS_H

#include "ops/llmqctl/call.h"

int ctl_tier_list(const ctl_call_t *c);
int ctl_tier_set(const ctl_call_t *c);
int ctl_project_set(const ctl_call_t *c);
int ctl_user_set(const ctl_call_t *c);
int ctl_key_set(const ctl_call_t *c);
int ctl_key_limits(const ctl_call_t *c);
int ctl_installation_set(const ctl_call_t *c);
int ctl_installation_show(const ctl_call_t *c);

#endif

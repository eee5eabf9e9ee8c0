/* ops/llmqctl/policy.h — tenants' and projects' prompt policies. */
#ifndef LQ_CTL_POLICY_H
#define LQ_CTL_POLICY_H

#include "ops/llmqctl/call.h"

int ctl_policy_set(const ctl_call_t *c);
int ctl_policy_show(const ctl_call_t *c);

#endif

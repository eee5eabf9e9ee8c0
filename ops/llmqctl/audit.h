/* ops/llmqctl/audit.h — the audit log: listed, and its hash chains verified. */
#ifndef LQ_CTL_AUDIT_H
#define LQ_CTL_AUDIT_H

#include "ops/llmqctl/call.h"

int ctl_audit_list(const ctl_call_t *c);
int ctl_audit_verify(const ctl_call_t *c);

#endif

/* ops/llmqctl/keys.h — tenants' API keys. */
#ifndef LQ_CTL_KEYS_H
#define LQ_CTL_KEYS_H

#include "ops/llmqctl/call.h"

int ctl_key_create(const ctl_call_t *c);
int ctl_key_list(const ctl_call_t *c);
int ctl_key_revoke(const ctl_call_t *c);

#endif

/* ops/llmqctl/provider_keys.h — tenants' own provider keys, encrypted under the master key. */
#ifndef LQ_CTL_PROVIDER_KEYS_H
#define LQ_CTL_PROVIDER_KEYS_H

#include "ops/llmqctl/call.h"

int ctl_provider_key_set(const ctl_call_t *c);
int ctl_provider_key_list(const ctl_call_t *c);
int ctl_provider_key_revoke(const ctl_call_t *c);
int ctl_provider_key_rotate(const ctl_call_t *c);

#endif

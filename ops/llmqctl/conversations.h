/* ops/llmqctl/conversations.h — retention of server-side conversations
 * (docs/conversations.md). */
#ifndef LQ_CTL_CONVERSATIONS_H
#define LQ_CTL_CONVERSATIONS_H

#include "ops/llmqctl/call.h"

/** conversations purge --days N [--tenant T]: delete the conversations (and their messages)
 * not changed for N days; prints how many. */
int ctl_conversations_purge(const ctl_call_t *c);

#endif

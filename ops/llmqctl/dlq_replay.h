/* ops/llmqctl/dlq_replay.h — dead-lettered requests sent back to the requests topic. */
#ifndef LQ_CTL_DLQ_REPLAY_H
#define LQ_CTL_DLQ_REPLAY_H

#include "ops/llmqctl/call.h"

/** Every dead letter not replayed yet (the consumer group --group remembers where it stopped)
 * goes back to P.requests as an async job with its replay counter raised, keyed by its tenant
 * with the partitioner every llmq producer uses, so it lands on its tenant's partition; the
 * group's offsets are committed only after Kafka acknowledged every copy. */
int ctl_dlq_replay(const ctl_call_t *c);

#endif

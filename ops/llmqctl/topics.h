/* ops/llmqctl/topics.h — llmq's Kafka topics. */
#ifndef LQ_CTL_TOPICS_H
#define LQ_CTL_TOPICS_H

#include "ops/llmqctl/call.h"

int ctl_topics_create(const ctl_call_t *c);

#endif

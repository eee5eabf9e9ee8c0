/* ops/llmqctl/commands.h — the table of llmqctl's commands. */
#ifndef LQ_CTL_COMMANDS_H
#define LQ_CTL_COMMANDS_H

#include "ops/llmqctl/dispatch.h"

extern const ctl_table_t ctl_commands;

#endif

/* ops/llmqctl/dispatch.h — llmqctl's commands as rows of a table, and the one dispatcher that
 * reads a command line against them: unknown commands, unknown options, missing arguments and
 * the usage text are answered from the table, the same way for every command. */
#ifndef LQ_CTL_DISPATCH_H
#define LQ_CTL_DISPATCH_H

#include <stddef.h>
#include <stdio.h>

#include "ops/llmqctl/call.h"

typedef int ctl_handler_t(const ctl_call_t *c); /* the exit status */

typedef enum ctl_needs { CTL_PG, CTL_KAFKA } ctl_needs_t; /* what the dispatcher connects */

/* Arguments are written as in the usage text, separated by spaces: an option with the name of
 * its value ("--tenant T"), an option without one ("--dry-run"), or the positional argument in
 * upper case ("ID"; one per command at most). A word after an option names that option's value,
 * so an option without a value is never followed by the positional argument. */
typedef struct ctl_command {
    const char *group;    /* "key" */
    const char *verb;     /* "create"; NULL when the group alone is the command */
    const char *required; /* "--tenant T ID" */
    const char *optional; /* "--name N --dry-run" */
    const char *help;     /* one line */
    ctl_needs_t needs;
    ctl_handler_t *run;
} ctl_command_t;

typedef struct ctl_table {
    const char *synopsis; /* "llmqctl [--pg URL] ... COMMAND ..." */
    const ctl_command_t *rows;
    size_t n;
    const char *notes; /* printed after the commands */
} ctl_table_t;

#define CTL_RUN (-1)

/** Find the command of argv (group, verb, arguments) and read its arguments into call.
 * CTL_RUN with *cmd set when it is to run; otherwise the exit status, the usage or the error
 * already printed (0 after --help, 2 for a command line the table refuses). */
int ctl_dispatch_parse(const ctl_table_t *t, int argc, char **argv, const ctl_command_t **cmd,
                       ctl_call_t *call);

/** The usage text: the synopsis, every command with its help, the notes. */
void ctl_dispatch_usage(FILE *fp, const ctl_table_t *t);

#endif

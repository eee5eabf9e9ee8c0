/* llmqctl: the operator's command line. Its commands are the rows of commands.c; see
 * docs/operations.md and docs/tenancy.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/pg.h"
#include "ops/llmqctl/commands.h"

#define DEFAULT_PG      "postgresql:///llmq"
#define DEFAULT_BROKERS "127.0.0.1:9092"

typedef struct globals {
    const char *pg, *brokers;
    int next; /* argv's index of the command */
} globals_t;

/* The options before the command: where PostgreSQL and Kafka are. CTL_RUN, or the exit
 * status when nothing is to run. */
static int read_globals(globals_t *g, int argc, char **argv)
{
    g->pg = getenv("LLMQ_PG_URL");
    g->brokers = getenv("LLMQ_KAFKA_BROKERS");
    for (g->next = 1; g->next < argc && strncmp(argv[g->next], "--", 2) == 0; g->next += 2) {
        const char *opt = argv[g->next];
        if (strcmp(opt, "--help") == 0) {
            ctl_dispatch_usage(stdout, &ctl_commands);
            return 0;
        }
        if (strcmp(opt, "--pg") != 0 && strcmp(opt, "--brokers") != 0) {
            fprintf(stderr, "llmqctl: unknown option %s\n", opt);
            ctl_dispatch_usage(stderr, &ctl_commands);
            return 2;
        }
        if (g->next + 1 >= argc)
            return ctl_fail(2, "%s needs a value", opt);
        *(strcmp(opt, "--pg") == 0 ? &g->pg : &g->brokers) = argv[g->next + 1];
    }
    return CTL_RUN;
}

int main(int argc, char **argv)
{
    const ctl_command_t *cmd = NULL;
    ctl_call_t call;
    globals_t g;
    char errstr[512];
    int rc;

    lq_log_setup("llmqctl", "warn", 0);
    rc = read_globals(&g, argc, argv);
    if (rc == CTL_RUN)
        rc = ctl_dispatch_parse(&ctl_commands, argc - g.next, argv + g.next, &cmd, &call);
    if (rc != CTL_RUN)
        return rc;
    call.brokers = g.brokers ? g.brokers : DEFAULT_BROKERS;
    if (cmd->needs == CTL_PG &&
        lq_pg_connect(g.pg ? g.pg : DEFAULT_PG, "llmqctl", &call.conn, errstr, sizeof(errstr)))
        return ctl_fail(1, "%s", errstr);
    rc = cmd->run(&call);
    if (call.conn)
        PQfinish(call.conn);
    return rc;
}

/* llmq-ingest: the HTTP front door. See docs/api.md and docs/configuration.md. */
#include <stdio.h>
#include <stdlib.h>

#include "common/daemon.h"
#include "common/log.h"
#include "ingest/ingest_config.h"
#include "ingest/server.h"

int main(int argc, char **argv)
{
    ingest_settings_t set;
    lq_config_t *cfg =
        lq_daemon_init("llmq-ingest", ingest_settings_tables, argc, argv, &set, sizeof(set));
    ingest_server_t *srv = NULL;
    char errstr[512];
    int sig;

    if (ingest_server_start(&srv, &set, errstr, sizeof(errstr)) != LQ_OK) {
        LQ_ERROR("cannot start: %s", errstr);
        lq_config_destroy(cfg);
        return 1;
    }
    printf("llmq-ingest listening on port %d\n", ingest_server_port(srv));
    fflush(stdout);
    sig = lq_daemon_wait_signal();
    LQ_INFO("signal %d: draining", sig);
    ingest_server_stop(srv, 5000);
    lq_config_destroy(cfg);
    LQ_INFO("stopped");
    return 0;
}

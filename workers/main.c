/* llmq-worker: consumes requests, calls providers, publishes results. See docs/. */
#include <curl/curl.h>

#include "common/daemon.h"
#include "common/log.h"
#include "workers/worker.h"
#include "workers/worker_config.h"

int main(int argc, char **argv)
{
    worker_settings_t set;
    lq_config_t *cfg =
        lq_daemon_init("llmq-worker", worker_settings_tables, argc, argv, &set, sizeof(set));
    worker_t *w = NULL;
    char errstr[512];
    int rc = 0;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    lq_daemon_watch_signals();
    if (worker_create(&w, &set, errstr, sizeof(errstr)) != LQ_OK) {
        LQ_ERROR("cannot start: %s", errstr);
        rc = 1;
        goto out;
    }
    worker_run(w, lq_daemon_should_stop);
    LQ_INFO("stopped");
out:
    worker_destroy(w);
    lq_config_destroy(cfg);
    curl_global_cleanup();
    return rc;
}

/* llmq-sink: writes jobs, usage and traces from Kafka to PostgreSQL. See docs/. */
#include "common/daemon.h"
#include "common/log.h"
#include "sinks/sink.h"
#include "sinks/sink_config.h"

int main(int argc, char **argv)
{
    sink_settings_t set;
    lq_config_t *cfg =
        lq_daemon_init("llmq-sink", sink_settings_tables, argc, argv, &set, sizeof(set));
    sink_t *s = NULL;
    char errstr[512];
    int rc = 0;

    lq_daemon_watch_signals();
    if (sink_create(&s, &set, errstr, sizeof(errstr)) != LQ_OK) {
        LQ_ERROR("cannot start: %s", errstr);
        rc = 1;
        goto out;
    }
    sink_run(s, lq_daemon_should_stop);
    LQ_INFO("stopped");
out:
    sink_destroy(s);
    lq_config_destroy(cfg);
    return rc;
}

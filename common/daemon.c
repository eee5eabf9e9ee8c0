#include "common/daemon.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"

static sigset_t stop_signals;
static atomic_int stop_flag;

lq_config_t *lq_daemon_init(const char *name, const lq_config_def_t *const *tables, int argc,
                            char **argv, void *settings, size_t settings_size)
{
    const lq_common_settings_t *common;
    lq_config_t *cfg = NULL;
    char errstr[512];

    if (lq_config_handle_info_flags(tables, name, argc, argv))
        exit(0);
    if (lq_config_create(&cfg, tables, argc, argv, errstr, sizeof(errstr)) != LQ_OK) {
        fprintf(stderr, "%s: %s\n", name, errstr);
        exit(2);
    }
    if (lq_config_bind(cfg, settings, settings_size, errstr, sizeof(errstr)) != LQ_OK) {
        fprintf(stderr, "%s: %s\n", name, errstr);
        exit(2);
    }
    common = settings;
    if (lq_log_setup(name, common->log.level, common->log.json)) {
        fprintf(stderr, "%s: setting log.level: \"%s\" is not error, warn, info or debug\n", name,
                common->log.level);
        exit(2);
    }
#ifdef __GLIBC__
    /* A fixed threshold: blocks of 256 KiB and more (a hash map's table, a large body) are
     * mapped and unmapped on their own. glibc's default raises the threshold to the size of
     * the last such block freed, after which those blocks stay in the heap: a bounded cache's
     * table, reallocated as it rehashes, then held two tables' worth of memory for good. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    return cfg;
}

int lq_daemon_wait_signal(void)
{
    int sig = 0;

    sigwait(&stop_signals, &sig);
    atomic_store(&stop_flag, 1);
    return sig;
}

static void *watcher(void *arg)
{
    (void)arg;
    lq_daemon_wait_signal();
    return NULL;
}

void lq_daemon_watch_signals(void)
{
    pthread_t t;

    if (pthread_create(&t, NULL, watcher, NULL) == 0)
        pthread_detach(t);
}

int lq_daemon_should_stop(void)
{
    return atomic_load(&stop_flag);
}

void lq_daemon_release_memory(int64_t now_ms)
{
    static _Atomic int64_t next_ms;
    int64_t due = atomic_load(&next_ms);

    if (now_ms < due || !atomic_compare_exchange_strong(&next_ms, &due, now_ms + 30000))
        return;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

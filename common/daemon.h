/* common/daemon.h — start-up and signal handling shared by the daemons. */
#ifndef LQ_DAEMON_H
#define LQ_DAEMON_H

#include <stdint.h>

#include "common/config.h"

/** Parse settings from tables + argv and bind them into the daemon's settings struct
 * (settings_size bytes: see lq_config_bind), set up logging, block SIGTERM/SIGINT/SIGPIPE in
 * all threads created afterwards. Exits the process on --help or a bad setting. The strings
 * of *settings belong to the returned settings (lq_config_destroy at exit). */
lq_config_t *lq_daemon_init(const char *name, const lq_config_def_t *const *tables, int argc,
                            char **argv, void *settings, size_t settings_size);

/** Wait until SIGTERM or SIGINT arrives (returns the signal). */
int lq_daemon_wait_signal(void);

/** 1 once SIGTERM/SIGINT was received (for daemons that poll instead of waiting); call
 * lq_daemon_watch_signals() once first. */
void lq_daemon_watch_signals(void);
int lq_daemon_should_stop(void);

/** Give the memory freed since the last call back to the system (glibc keeps freed memory of
 * each thread's arena for reuse, so a daemon's resident size keeps the high-water mark of its
 * busiest moment). Call it from a periodic loop: it acts at most every 30 s (now_ms: a
 * monotonic clock) and costs a few hundred microseconds then. */
void lq_daemon_release_memory(int64_t now_ms);

#endif

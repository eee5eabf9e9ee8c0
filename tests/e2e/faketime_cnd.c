/* tests/e2e/faketime_cnd.c — preloaded with libfaketime by tests/e2e/test_clock_skew.py.
 *
 * libfaketime moves what timespec_get() answers but does not intercept C11's cnd_timedwait(),
 * whose deadline glibc compares with the real clock. librdkafka computes its deadlines with the
 * one and waits with the other, so the Kafka client of a daemon whose clock is behind times
 * out at once (it fails to start) and one whose clock is ahead waits too long. This moves each
 * deadline from the faked clock back onto the real one, as libfaketime does for
 * pthread_cond_timedwait(): a machine whose clock is wrong waits as long as any other. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

typedef int (*cnd_timedwait_fn)(cnd_t *, mtx_t *, const struct timespec *);

static cnd_timedwait_fn next_timedwait;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void find_next(void)
{
    void *sym = dlsym(RTLD_NEXT, "cnd_timedwait");

    memcpy(&next_timedwait, &sym, sizeof(next_timedwait));
}

int cnd_timedwait(cnd_t *restrict cond, mtx_t *restrict mtx, const struct timespec *restrict ts)
{
    struct timespec faked, real, at;
    long long ns;

    pthread_once(&once, find_next);
    if (!next_timedwait)
        return thrd_error;
    timespec_get(&faked, TIME_UTC);                    /* libfaketime's clock */
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &real); /* the kernel's */
    ns = ((long long)ts->tv_sec - faked.tv_sec + real.tv_sec) * 1000000000LL + ts->tv_nsec -
         faked.tv_nsec + real.tv_nsec;
    if (ns < 0)
        ns = 0;
    at.tv_sec = (time_t)(ns / 1000000000LL);
    at.tv_nsec = (long)(ns % 1000000000LL);
    return next_timedwait(cond, mtx, &at);
}

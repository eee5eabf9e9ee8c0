/* common/clock.h — wall and monotonic time in milliseconds/microseconds, and the cluster's time:
 * the database's clock as this process estimates it (docs/reliability.md, clock skew). */
#ifndef LQ_CLOCK_H
#define LQ_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t lq_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t lq_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t lq_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t lq_mono_ms(void)
{
    return lq_mono_us() / 1000;
}

/** The cluster's time, ms since the epoch: PostgreSQL's clock as this process estimates it
 * from its exchanges with the limit ledger (common/limiter.c: at least every 2 s), so the times
 * that nodes write for each other or compare with each other's (a job's created, started and
 * finished times, a batch's window, a key's expiry) agree whatever each machine's clock says.
 * This machine's wall clock until the first exchange, and in a process without a limiter
 * (limits.enforce = false). Thread-safe. */
int64_t lq_cluster_ms(void);

/** The cluster's time in microseconds since the epoch (the spans of a trace, which come from
 * several machines). */
int64_t lq_cluster_us(void);

/** The cluster's time (µs) of an earlier instant of the monotonic clock (lq_mono_us()), so a
 * struct keeps one start time, not a second one for spans. */
static inline int64_t lq_cluster_us_at(int64_t mono_us)
{
    return lq_cluster_us() - (lq_mono_us() - mono_us);
}

/** The offset of lq_cluster_ms() to this machine's wall clock (database - wall, ms): positive
 * when this machine's clock is behind. Thread-safe. */
int64_t lq_clock_offset_ms(void);

/** One reading ref_ms of the database's clock, taken between this machine's wall times t0_ms
 * (before the query was sent) and t1_ms (after its answer came). Thread-safe. */
void lq_clock_learn(int64_t ref_ms, int64_t t0_ms, int64_t t1_ms);

/** The offset (database - wall, ms) to hold after one reading: `have` while the reading allows
 * it (ref - t1 <= offset <= ref - t0), else the nearest value that it allows, so a steady
 * estimate does not jitter with each round trip and a wrong one moves as little as it must;
 * the middle of the reading when nothing was known (known 0). Pure. */
int64_t lq_clock_offset_next(int64_t have, int known, int64_t ref_ms, int64_t t0_ms, int64_t t1_ms);

#endif

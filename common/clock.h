/* common/clock.h — wall and monotonic time in milliseconds/microseconds. */
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

#endif

/* common/clock.c — the cluster's time (clock.h): this machine's wall clock moved by the offset
 * to the database's clock learned from the limit ledger's answers. */
#include "common/clock.h"

#include <stdatomic.h>

static _Atomic int64_t offset_ms;
static atomic_int offset_known;

int64_t lq_cluster_ms(void)
{
    return lq_wall_ms() + atomic_load_explicit(&offset_ms, memory_order_relaxed);
}

int64_t lq_cluster_us(void)
{
    return lq_wall_us() + atomic_load_explicit(&offset_ms, memory_order_relaxed) * 1000;
}

int64_t lq_clock_offset_ms(void)
{
    return atomic_load_explicit(&offset_ms, memory_order_relaxed);
}

int64_t lq_clock_offset_next(int64_t have, int known, int64_t ref_ms, int64_t t0_ms, int64_t t1_ms)
{
    int64_t lo, hi;

    if (t1_ms < t0_ms) /* the wall clock stepped back during the reading: it says nothing */
        return known ? have : ref_ms - t0_ms;
    lo = ref_ms - t1_ms;
    hi = ref_ms - t0_ms;
    if (!known)
        return lo + (hi - lo) / 2;
    return have < lo ? lo : have > hi ? hi : have;
}

void lq_clock_learn(int64_t ref_ms, int64_t t0_ms, int64_t t1_ms)
{
    int known = atomic_load(&offset_known);
    int64_t next = lq_clock_offset_next(atomic_load(&offset_ms), known, ref_ms, t0_ms, t1_ms);

    atomic_store(&offset_ms, next);
    atomic_store(&offset_known, 1);
}

/* llmq-fairq-bench: the worker's fair scheduler's cost (workers/fair_queue.c). With T tenants
 * each holding a backlog of 4 items, one operation is an enqueue (a random tenant, a random
 * weight) followed by a pick; prints ns per enqueue+pick for 10, 1,000 and 100,000 tenants,
 * the median of 11 rounds:
 *   llmq-fairq-bench [N]     N operations per round (default 1000000) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "workers/fair_queue.h"

#define ROUNDS 11

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t rng(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One round: ns per enqueue+pick with n_tenants backlogged. */
static double round_ns(char (*names)[16], size_t n_tenants, long ops, uint64_t *seed)
{
    worker_fairq_t *q = worker_fairq_create(1u << 20, 1u << 24);
    static int dummy;
    double t0, ns;
    size_t i;
    long k;

    if (!q)
        return -1;
    for (i = 0; i < n_tenants * 4; i++)
        worker_fairq_push(q, names[i % n_tenants], 1 + (int)(i % 8), &dummy, NULL);
    t0 = now_ns();
    for (k = 0; k < ops; k++) {
        size_t t = (size_t)(rng(seed) % n_tenants);
        worker_fairq_push(q, names[t], 1 + (int)(t % 8), &dummy, NULL);
        worker_fairq_pop(q);
    }
    ns = (now_ns() - t0) / (double)ops;
    worker_fairq_destroy(q);
    return ns;
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {10, 1000, 100000};
    long ops = argc > 1 ? atol(argv[1]) : 1000000;
    char(*names)[16] = malloc(100000 * sizeof(*names));
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    double t[ROUNDS];
    size_t s, i;
    int r;

    if (!names || ops < 1)
        return 1;
    for (i = 0; i < 100000; i++)
        snprintf(names[i], sizeof(names[i]), "tenant-%zu", i);
    printf("%-10s %16s\n", "tenants", "ns/enqueue+pick");
    for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (r = 0; r < ROUNDS; r++)
            t[r] = round_ns(names, sizes[s], ops, &seed);
        qsort(t, ROUNDS, sizeof(t[0]), cmp_double);
        printf("%-10zu %16.1f\n", sizes[s], t[ROUNDS / 2]);
    }
    free(names);
    return 0;
}

/* workers/fair_queue: weighted fair queueing across tenants. Shares under backlog (Jain's
 * fairness index, weighted ratios), FIFO per tenant, a tenant joining late is served at once
 * without a burst of saved-up credit, removal, bounds, many tenants. */
#include <stdint.h>

#include "workers/fair_queue.h"
#include "testutil.h"

#define MAX_ITEMS 20000

typedef struct item {
    int tenant, seq;
} item_t;

static item_t items[MAX_ITEMS];
static size_t n_items;

static const char *tenant_name(int t)
{
    static char names[64][16];

    snprintf(names[t], sizeof(names[t]), "tenant-%d", t);
    return names[t];
}

static item_t *push(worker_fairq_t *q, int tenant, int seq, int weight)
{
    item_t *it = &items[n_items++ % MAX_ITEMS];

    it->tenant = tenant;
    it->seq = seq;
    return worker_fairq_push(q, tenant_name(tenant), weight, it, NULL) == LQ_OK ? it : NULL;
}

/* Jain's index of x[0..n): 1 when all equal, 1/n when one takes everything. */
static double jain(const double *x, int n)
{
    double s = 0, s2 = 0;
    int i;

    for (i = 0; i < n; i++) {
        s += x[i];
        s2 += x[i] * x[i];
    }
    return s2 > 0 ? s * s / (n * s2) : 0;
}

/* Every tenant backlogged with the same weight: the picks are shared evenly; each tenant's
 * items come out in the order they went in. */
static void test_equal_shares_fifo(void)
{
    worker_fairq_t *q = worker_fairq_create(1000, 100000);
    int next[8] = {0}, served[8] = {0}, fifo_ok = 1, t, i;
    double share[8];

    n_items = 0;
    for (i = 0; i < 200 * 8; i++) /* uneven arrival: tenant 0 first, all of it */
        push(q, i / 200, i % 200, 1);
    for (i = 0; i < 800; i++) {
        item_t *it = worker_fairq_pop(q);
        fifo_ok &= it && it->seq == next[it->tenant];
        if (it) {
            next[it->tenant]++;
            served[it->tenant]++;
        }
    }
    CHECK(fifo_ok);
    for (t = 0; t < 8; t++)
        share[t] = served[t];
    CHECK(jain(share, 8) >= 0.9);
    for (t = 0; t < 8; t++)
        CHECK_INT(served[t], 100);
    CHECK_INT(worker_fairq_len(q), 800);
    worker_fairq_destroy(q);
}

/* Weights 1:4, both backlogged: shares 1:4 within 10 %. */
static void test_weights(void)
{
    worker_fairq_t *q = worker_fairq_create(5000, 100000);
    int served[2] = {0}, i;
    double ratio;

    n_items = 0;
    for (i = 0; i < 2000; i++) {
        push(q, 0, i, 1);
        push(q, 1, i, 4);
    }
    for (i = 0; i < 1000; i++) {
        item_t *it = worker_fairq_pop(q);
        if (it)
            served[it->tenant]++;
    }
    ratio = (double)served[1] / (served[0] ? served[0] : 1);
    CHECK(ratio >= 4 * 0.9 && ratio <= 4 * 1.1);
    /* out-of-range weights are clamped, not refused */
    CHECK(push(q, 2, 0, 0) != NULL);
    CHECK(push(q, 3, 0, 1000000) != NULL);
    worker_fairq_destroy(q);
}

/* A flooder alone for a long time; a tenant joining is served at once (its first item within
 * two picks) and then only shares: no burst from the time it was idle. */
static void test_late_joiner(void)
{
    worker_fairq_t *q = worker_fairq_create(10000, 100000);
    int i, first = -1, quiet_in_window = 0;

    n_items = 0;
    for (i = 0; i < 5000; i++)
        push(q, 0, i, 1);
    for (i = 0; i < 3000; i++)
        worker_fairq_pop(q);
    for (i = 0; i < 100; i++)
        push(q, 1, i, 1);
    for (i = 0; i < 100; i++) {
        item_t *it = worker_fairq_pop(q);
        if (it && it->tenant == 1) {
            if (first < 0)
                first = i;
            if (i < 20)
                quiet_in_window++;
        }
    }
    CHECK(first >= 0 && first <= 1);
    CHECK(quiet_in_window >= 9 && quiet_in_window <= 11); /* half of 20, not all of them */
    worker_fairq_destroy(q);
}

/* A queued item removed (a cancellation) never comes out; the rest keep their order. */
static void test_remove(void)
{
    worker_fairq_t *q = worker_fairq_create(10, 100);
    worker_fairq_entry_t *e[6];
    item_t it[6];
    int i;

    for (i = 0; i < 6; i++) {
        it[i].tenant = i % 2;
        it[i].seq = i;
        CHECK_INT(worker_fairq_push(q, tenant_name(i % 2), 1, &it[i], &e[i]), LQ_OK);
    }
    CHECK(worker_fairq_remove(q, e[0]) == &it[0]); /* a head */
    CHECK(worker_fairq_remove(q, e[3]) == &it[3]); /* the middle */
    CHECK(worker_fairq_remove(q, e[5]) == &it[5]); /* a tail */
    CHECK_INT(worker_fairq_len(q), 3);
    CHECK_INT(worker_fairq_tenant_len(q, tenant_name(1)), 1);
    CHECK(worker_fairq_pop(q) == &it[1]);
    CHECK(worker_fairq_pop(q) == &it[2]);
    CHECK(worker_fairq_pop(q) == &it[4]);
    CHECK(worker_fairq_pop(q) == NULL);
    worker_fairq_destroy(q);
}

/* The per-tenant bound and the total bound; room comes back as items leave. */
static void test_bounds(void)
{
    worker_fairq_t *q = worker_fairq_create(3, 5);
    item_t it[8];
    int i;

    for (i = 0; i < 3; i++)
        CHECK_INT(worker_fairq_push(q, "a", 1, &it[i], NULL), LQ_OK);
    CHECK(!worker_fairq_room(q, "a"));
    CHECK_INT(worker_fairq_push(q, "a", 1, &it[3], NULL), LQ_ERR_FULL);
    CHECK(worker_fairq_room(q, "b"));
    CHECK_INT(worker_fairq_push(q, "b", 1, &it[4], NULL), LQ_OK);
    CHECK_INT(worker_fairq_push(q, "c", 1, &it[5], NULL), LQ_OK);
    CHECK(!worker_fairq_room(q, "d")); /* total reached */
    CHECK_INT(worker_fairq_push(q, "d", 1, &it[6], NULL), LQ_ERR_FULL);
    CHECK(worker_fairq_pop(q) == &it[0]);
    CHECK(worker_fairq_room(q, "a") && worker_fairq_room(q, "d"));
    worker_fairq_aside_add(q, "z", 2);
    worker_fairq_aside_add(q, "z", -1);
    CHECK_INT(worker_fairq_aside(q, "z"), 1);
    worker_fairq_aside_add(q, "z", -5);
    CHECK_INT(worker_fairq_aside(q, "z"), 0);
    worker_fairq_destroy(q);
}

/* Many tenants coming and going: idle ones are forgotten, nothing is lost or repeated. */
static void test_churn(void)
{
    worker_fairq_t *q = worker_fairq_create(4, 100000);
    static item_t many[3000];
    char name[32];
    int i, out = 0;

    for (i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "churn-%d", i % 1000);
        many[i].seq = i;
        CHECK_INT(worker_fairq_push(q, name, 1 + i % 7, &many[i], NULL), LQ_OK);
        if (i % 3 == 2 && worker_fairq_pop(q))
            out++;
    }
    while (worker_fairq_pop(q))
        out++;
    CHECK_INT(out, 3000);
    CHECK_INT(worker_fairq_len(q), 0);
    worker_fairq_destroy(q);
}

/* A held tenant is skipped until its hold ends, the others are served meanwhile; an item put
 * back at the head keeps its turn; a held tenant's items can still be removed. */
static void test_hold(void)
{
    worker_fairq_t *q = worker_fairq_create(10, 100);
    worker_fairq_entry_t *e;
    item_t it[6];
    int i;

    for (i = 0; i < 4; i++) {
        it[i].tenant = i % 2;
        it[i].seq = i;
        CHECK_INT(worker_fairq_push(q, tenant_name(i % 2), 1, &it[i], NULL), LQ_OK);
    }
    CHECK(worker_fairq_pop(q) == &it[0]);
    CHECK_INT(worker_fairq_push_front(q, tenant_name(0), &it[0], NULL), LQ_OK); /* not yet */
    CHECK_INT(worker_fairq_hold(q, tenant_name(0), 1000), LQ_OK);
    CHECK_INT(worker_fairq_release_due(q, 500), 1000);
    CHECK(worker_fairq_pop(q) == &it[1]);
    CHECK(worker_fairq_pop(q) == &it[3]);
    CHECK(worker_fairq_pop(q) == NULL); /* tenant 0 waits */
    CHECK_INT(worker_fairq_len(q), 2);
    it[4].tenant = 0;
    CHECK_INT(worker_fairq_push(q, tenant_name(0), 1, &it[4], &e), LQ_OK);
    CHECK(worker_fairq_remove(q, e) == &it[4]); /* a cancellation while held */
    CHECK(worker_fairq_pop(q) == NULL);
    CHECK_INT(worker_fairq_release_due(q, 1000), -1);
    CHECK(worker_fairq_pop(q) == &it[0]); /* its turn kept, then its FIFO */
    CHECK(worker_fairq_pop(q) == &it[2]);
    CHECK(worker_fairq_pop(q) == NULL);
    CHECK_INT(worker_fairq_held(q), 0);
    worker_fairq_destroy(q);
}

int main(void)
{
    test_hold();
    test_equal_shares_fifo();
    test_weights();
    test_late_joiner();
    test_remove();
    test_bounds();
    test_churn();
    TEST_DONE();
}

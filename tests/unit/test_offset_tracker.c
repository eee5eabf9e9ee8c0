/* workers/offset_tracker: out-of-order completion, in-order commit. Every scenario runs the
 * tracker next to a simple reference model and checks, after every call, that both agree
 * on the returned commit position and on the pending count, that the position never moves
 * backwards and that it never passes an unfinished offset. */
#include <stdint.h>

#include "workers/offset_tracker.h"
#include "testutil.h"

/* ---- deterministic PRNG (xorshift64*) ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t rng_below(size_t n)
{
    return (size_t)(rng() % n);
}

/* ---- reference model: offsets in order, done flags, index of the oldest unreleased ---- */

typedef struct model {
    int64_t *off;
    char *done;
    size_t n, cap, head;
    int64_t committed; /* -1 until the first release */
} model_t;

static void model_init(model_t *m)
{
    memset(m, 0, sizeof(*m));
    m->committed = -1;
}

static void model_free(model_t *m)
{
    free(m->off);
    free(m->done);
}

static void model_add(model_t *m, int64_t off)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 256;
        m->off = realloc(m->off, m->cap * sizeof(*m->off));
        m->done = realloc(m->done, m->cap);
        if (!m->off || !m->done)
            abort();
    }
    m->off[m->n] = off;
    m->done[m->n] = 0;
    m->n++;
}

/* Index of off among the added offsets, or -1. */
static long model_find(const model_t *m, int64_t off)
{
    size_t lo = 0, hi = m->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->off[mid] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->n && m->off[lo] == off ? (long)lo : -1;
}

/* What worker_offsets_done must return for off. */
static int64_t model_done(model_t *m, int64_t off)
{
    long i = model_find(m, off);
    int64_t released = -1;

    if (i < 0 || (size_t)i < m->head)
        return -1; /* unknown or already released */
    m->done[i] = 1;
    while (m->head < m->n && m->done[m->head]) {
        released = m->off[m->head];
        m->head++;
    }
    if (released < 0)
        return -1;
    m->committed = released + 1;
    return m->committed;
}

static size_t model_pending(const model_t *m)
{
    return m->n - m->head;
}

/* ---- the tracker under test, wrapped with the invariant checks ---- */

typedef struct pair {
    worker_offsets_t *t;
    model_t m;
    int64_t last_pos; /* the last position the tracker returned */
    long mismatches;  /* calls where tracker and model disagreed */
    long backwards;   /* positions that moved backwards */
    long overtakes;   /* positions past an unfinished offset */
    long calls;
} pair_t;

static void pair_init(pair_t *p)
{
    memset(p, 0, sizeof(*p));
    p->t = worker_offsets_create();
    CHECK(p->t != NULL);
    if (!p->t)
        exit(1);
    model_init(&p->m);
    p->last_pos = -1;
}

static void pair_free(pair_t *p)
{
    worker_offsets_destroy(p->t);
    model_free(&p->m);
}

static void pair_add(pair_t *p, int64_t off)
{
    lq_err_t err = worker_offsets_add(p->t, off);

    p->calls++;
    if (err != LQ_OK) {
        if (p->mismatches++ < 5)
            fprintf(stderr, "add(%lld) refused (%d)\n", (long long)off, (int)err);
        return;
    }
    model_add(&p->m, off);
    if (worker_offsets_pending(p->t) != model_pending(&p->m))
        p->mismatches++;
}

static int64_t pair_done(pair_t *p, int64_t off)
{
    int64_t got = worker_offsets_done(p->t, off);
    int64_t want = model_done(&p->m, off);

    p->calls++;
    if (got != want || worker_offsets_pending(p->t) != model_pending(&p->m)) {
        if (p->mismatches++ < 5)
            fprintf(stderr, "done(%lld) = %lld, model %lld; pending %zu, model %zu\n",
                    (long long)off, (long long)got, (long long)want, worker_offsets_pending(p->t),
                    model_pending(&p->m));
    }
    if (got >= 0) {
        if (got <= p->last_pos)
            p->backwards++;
        p->last_pos = got;
        /* the oldest unfinished offset (if any) is at or after the position */
        if (p->m.head < p->m.n && got > p->m.off[p->m.head])
            p->overtakes++;
        /* everything before the position has finished */
        if (p->m.head > 0 && got != p->m.off[p->m.head - 1] + 1)
            p->overtakes++;
    }
    return got;
}

static void pair_verify(pair_t *p, const char *what)
{
    if (p->mismatches || p->backwards || p->overtakes)
        fprintf(stderr, "%s: %ld mismatches, %ld backwards, %ld overtakes in %ld calls\n", what,
                p->mismatches, p->backwards, p->overtakes, p->calls);
    CHECK_INT(p->mismatches, 0);
    CHECK_INT(p->backwards, 0);
    CHECK_INT(p->overtakes, 0);
}

/* Offsets with gaps (compacted topics, transaction markers): 1 to 4 apart. */
static int64_t *gapped_offsets(size_t n, int64_t start)
{
    int64_t *o = malloc(n * sizeof(*o));
    size_t i;

    if (!o)
        abort();
    for (i = 0; i < n; i++) {
        o[i] = start;
        start += 1 + (int64_t)rng_below(4);
    }
    return o;
}

/* ---- scenarios ---- */

static void test_basics(void)
{
    worker_offsets_t *t = worker_offsets_create();

    CHECK(t != NULL);
    if (!t)
        return;
    CHECK_INT(worker_offsets_pending(t), 0);
    CHECK_INT(worker_offsets_done(t, 0), -1); /* nothing tracked */
    CHECK_INT(worker_offsets_add(t, 100), LQ_OK);
    CHECK_INT(worker_offsets_add(t, 101), LQ_OK);
    CHECK_INT(worker_offsets_add(t, 105), LQ_OK); /* gap: 102..104 never consumed */
    CHECK_INT(worker_offsets_pending(t), 3);
    /* non-increasing adds are refused and change nothing */
    CHECK_INT(worker_offsets_add(t, 105), LQ_ERR_INVALID);
    CHECK_INT(worker_offsets_add(t, 104), LQ_ERR_INVALID);
    CHECK_INT(worker_offsets_add(t, 0), LQ_ERR_INVALID);
    CHECK_INT(worker_offsets_add(t, -1), LQ_ERR_INVALID);
    CHECK_INT(worker_offsets_pending(t), 3);
    /* unknown offsets: below, inside a gap, above */
    CHECK_INT(worker_offsets_done(t, 99), -1);
    CHECK_INT(worker_offsets_done(t, 103), -1);
    CHECK_INT(worker_offsets_done(t, 106), -1);
    CHECK_INT(worker_offsets_pending(t), 3);
    /* 101 finishes first: 100 still blocks the commit */
    CHECK_INT(worker_offsets_done(t, 101), -1);
    CHECK_INT(worker_offsets_done(t, 101), -1); /* duplicate */
    CHECK_INT(worker_offsets_pending(t), 3);
    CHECK_INT(worker_offsets_done(t, 100), 102); /* 100 and 101 released at once */
    CHECK_INT(worker_offsets_pending(t), 1);
    CHECK_INT(worker_offsets_done(t, 100), -1); /* already released: ignored */
    CHECK_INT(worker_offsets_done(t, 101), -1);
    CHECK_INT(worker_offsets_done(t, 105), 106); /* the position jumps the gap */
    CHECK_INT(worker_offsets_pending(t), 0);
    CHECK_INT(worker_offsets_done(t, 105), -1);
    /* emptied: the add order still holds */
    CHECK_INT(worker_offsets_add(t, 105), LQ_ERR_INVALID);
    CHECK_INT(worker_offsets_add(t, 200), LQ_OK);
    CHECK_INT(worker_offsets_done(t, 200), 201);
    worker_offsets_destroy(t);
    worker_offsets_destroy(NULL); /* NULL-safe */

    /* offset 0 is a real offset */
    t = worker_offsets_create();
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK_INT(worker_offsets_add(t, 0), LQ_OK);
    CHECK_INT(worker_offsets_done(t, 0), 1);
    worker_offsets_destroy(t);
}

#define N_BIG 10000

static void test_in_order(void)
{
    pair_t p;
    int64_t *o = gapped_offsets(N_BIG, 5);
    size_t i;
    long advanced = 0;

    pair_init(&p);
    for (i = 0; i < N_BIG; i++)
        pair_add(&p, o[i]);
    CHECK_INT(worker_offsets_pending(p.t), N_BIG);
    for (i = 0; i < N_BIG; i++)
        if (pair_done(&p, o[i]) == o[i] + 1)
            advanced++;
    CHECK_INT(advanced, N_BIG); /* every completion advances by exactly one */
    CHECK_INT(worker_offsets_pending(p.t), 0);
    CHECK_INT(p.last_pos, o[N_BIG - 1] + 1);
    pair_verify(&p, "in order");
    pair_free(&p);
    free(o);
}

static void test_reverse(void)
{
    pair_t p;
    int64_t *o = gapped_offsets(N_BIG, 0);
    size_t i;
    long advanced = 0;

    pair_init(&p);
    for (i = 0; i < N_BIG; i++)
        pair_add(&p, o[i]);
    for (i = N_BIG; i-- > 1;)
        if (pair_done(&p, o[i]) != -1)
            advanced++;
    CHECK_INT(advanced, 0); /* the oldest is unfinished: nothing moves */
    CHECK_INT(worker_offsets_pending(p.t), N_BIG);
    CHECK_INT(pair_done(&p, o[0]), o[N_BIG - 1] + 1); /* then everything at once */
    CHECK_INT(worker_offsets_pending(p.t), 0);
    pair_verify(&p, "reverse");
    pair_free(&p);
    free(o);
}

/* Shuffled completion of 10,000 gapped offsets, all added first. */
static void test_random_order(void)
{
    pair_t p;
    int64_t *o = gapped_offsets(N_BIG, 1000000), tmp;
    int64_t *perm = malloc(N_BIG * sizeof(*perm));
    size_t i, j;

    if (!perm)
        abort();
    pair_init(&p);
    for (i = 0; i < N_BIG; i++) {
        pair_add(&p, o[i]);
        perm[i] = o[i];
    }
    for (i = N_BIG - 1; i > 0; i--) { /* Fisher-Yates */
        j = rng_below(i + 1);
        tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    for (i = 0; i < N_BIG; i++) {
        pair_done(&p, perm[i]);
        if (i % 7 == 0) /* duplicates and unknowns sprinkled in */
            pair_done(&p, perm[rng_below(i + 1)]);
        if (i % 11 == 0)
            pair_done(&p, o[rng_below(N_BIG)] + 1000000000);
    }
    CHECK_INT(worker_offsets_pending(p.t), 0);
    CHECK_INT(p.last_pos, o[N_BIG - 1] + 1);
    pair_verify(&p, "random order");
    pair_free(&p);
    free(perm);
    free(o);
}

/* Consumption and completion interleaved, as in a worker: offsets are added while earlier
 * ones are still in flight, a window of up to 300 in flight, completions in random order,
 * plus duplicate, unknown and refused calls. */
static void test_interleaved(void)
{
    pair_t p;
    int64_t next = 0, *flight = malloc(400 * sizeof(*flight));
    size_t nflight = 0, added = 0, refused_ok = 0, refused_calls = 0;

    if (!flight)
        abort();
    pair_init(&p);
    while (added < N_BIG || nflight > 0) {
        size_t r = rng_below(10);
        if (added < N_BIG && nflight < 300 && (r < 5 || nflight == 0)) {
            next += 1 + (int64_t)rng_below(3);
            pair_add(&p, next);
            flight[nflight++] = next;
            added++;
        } else if (nflight > 0 && r < 9) {
            size_t k = rng_below(nflight);
            int64_t off = flight[k];
            flight[k] = flight[--nflight];
            pair_done(&p, off);
        } else if (r == 9) {
            /* a refused add changes nothing */
            refused_calls++;
            if (worker_offsets_add(p.t, next - (int64_t)rng_below(3)) == LQ_ERR_INVALID)
                refused_ok++;
            pair_done(&p, next + 1); /* not added yet: unknown */
            if (p.m.head > 0)
                pair_done(&p, p.m.off[p.m.head - 1]); /* already released */
        }
        if (worker_offsets_pending(p.t) != model_pending(&p.m))
            p.mismatches++;
    }
    CHECK_INT(refused_ok, refused_calls);
    CHECK(refused_calls > 100);
    CHECK_INT(worker_offsets_pending(p.t), 0);
    CHECK_INT(p.last_pos, next + 1);
    pair_verify(&p, "interleaved");
    pair_free(&p);
    free(flight);
}

/* Growth beyond the initial capacity while the ring has wrapped (head in the middle). */
static void test_growth_wrapped(void)
{
    pair_t p;
    int64_t off = 0;
    int i;

    pair_init(&p);
    for (i = 0; i < 50; i++)
        pair_add(&p, off++);
    for (i = 0; i < 40; i++)
        pair_done(&p, i); /* head moves to slot 40 */
    CHECK_INT(worker_offsets_pending(p.t), 10);
    for (i = 0; i < 5000; i++) /* wraps, then doubles several times */
        pair_add(&p, off++);
    CHECK_INT(worker_offsets_pending(p.t), 5010);
    /* finish every odd offset (40, the oldest, stays open), then the even ones, newest
     * first: nothing moves until 40 finishes last */
    for (i = 41; i < off; i += 2)
        pair_done(&p, i);
    CHECK_INT(worker_offsets_pending(p.t), 5010);
    for (i = (int)off - 1; i > 40; i--)
        if (i % 2 == 0)
            pair_done(&p, i);
    CHECK_INT(worker_offsets_pending(p.t), 5010);
    CHECK_INT(p.last_pos, 40);
    CHECK_INT(pair_done(&p, 40), off);
    CHECK_INT(worker_offsets_pending(p.t), 0);
    CHECK_INT(p.last_pos, off);
    pair_verify(&p, "growth");
    pair_free(&p);
}

int main(void)
{
    test_basics();
    test_in_order();
    test_reverse();
    test_random_order();
    test_interleaved();
    test_growth_wrapped();
    TEST_DONE();
}

/* common/limiter: the node's decisions without a ledger to ask — the first request waits for
 * an exchange that fails, then the node admits its share of each limit (all of it: it is the
 * only node it knows of) counted locally, refuses past it with a retry, hands slots back,
 * and says it is degraded. Scope keys, and which asks need the limiter at all. (The ledger
 * itself is tested end to end: tests/e2e/test_limit_enforcement.py.) */
#include <pthread.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/limiter.h"
#include "testutil.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int called;
static lq_limit_verdict_t got;

static void decided(void *arg, const lq_limit_verdict_t *v)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    got = *v;
    called = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

static lq_limit_outcome_t take(lq_limiter_t *l, const lq_limit_ask_t *a, lq_limit_verdict_t *v)
{
    lq_limit_outcome_t o;

    called = 0;
    o = lq_limiter_take(l, a, v, decided, NULL);
    if (o != LQ_LIMIT_PENDING)
        return o;
    pthread_mutex_lock(&mu);
    while (!called)
        pthread_cond_wait(&cv, &mu);
    *v = got;
    pthread_mutex_unlock(&mu);
    return v->outcome;
}

static void test_keys_and_asks(void)
{
    char key[LQ_LIMIT_KEY_MAX];
    lq_limits_t l;
    lq_limit_ask_t a = {0};

    lq_limit_scope_key(LQ_SCOPE_TENANT, "acme", key);
    CHECK_STR(key, "t:acme");
    lq_limit_scope_key(LQ_SCOPE_USER, "", key);
    CHECK_STR(key, "");
    lq_limit_scope_key(LQ_SCOPE_INSTALLATION, NULL, key);
    CHECK_STR(key, "i");
    CHECK_INT(lq_limit_dim_unit(LQ_LIMIT_TPD), LQ_UNIT_TOK);
    lq_limits_unlimited(&l);
    a.limits = &l;
    a.ids[LQ_SCOPE_TENANT] = "acme";
    a.amount[LQ_UNIT_REQ] = 1;
    a.slot = 1;
    CHECK(!lq_limit_ask_limited(&a)); /* nothing limited */
    l.v[LQ_SCOPE_USER][LQ_LIMIT_RPM] = 5;
    CHECK(!lq_limit_ask_limited(&a)); /* a user limit, and the key has no user */
    l.v[LQ_SCOPE_INSTALLATION][LQ_LIMIT_CONCURRENT] = 5;
    CHECK(lq_limit_ask_limited(&a));
    a.slot = 0;
    CHECK(!lq_limit_ask_limited(&a));
    l.v[LQ_SCOPE_TENANT][LQ_LIMIT_TPM] = 100;
    CHECK(!lq_limit_ask_limited(&a)); /* no tokens asked */
    a.amount[LQ_UNIT_TOK] = 10;
    CHECK(lq_limit_ask_limited(&a));
}

static void test_without_the_ledger(void)
{
    lq_limiter_options_t o = {"postgresql://llmq@127.0.0.1:1/none?connect_timeout=1", "test-node",
                              0, 0};
    lq_limiter_t *l = NULL;
    lq_limits_t lim;
    lq_limit_ask_t a = {0};
    lq_limit_verdict_t v, held[2];
    char err[256];
    int i, admitted = 0;

    CHECK_INT(lq_limiter_create(&l, &o, err, sizeof(err)), LQ_OK);
    if (!l)
        return;
    lq_limits_unlimited(&lim);
    lim.v[LQ_SCOPE_TENANT][LQ_LIMIT_RPM] = 10;
    a.limits = &lim;
    a.ids[LQ_SCOPE_TENANT] = "acme";
    a.amount[LQ_UNIT_REQ] = 1;
    CHECK_INT(take(l, &a, &v), LQ_LIMIT_ADMIT); /* after the failed exchange */
    CHECK(v.degraded && lq_limiter_degraded(l));
    CHECK(v.view.has[0] && v.view.limit[0] == 10);
    for (i = 0; i < 20; i++)
        admitted += take(l, &a, &v) == LQ_LIMIT_ADMIT;
    CHECK_INT(admitted, 9); /* the node's share: the whole limit, one node known */
    CHECK_INT(v.outcome, LQ_LIMIT_RATE);
    CHECK(v.dim == LQ_LIMIT_RPM && v.scope == LQ_SCOPE_TENANT && v.limit == 10);
    CHECK(v.retry_after_ms > 0 && v.degraded);
    /* slots: two in flight, the third refused until one ends */
    lim.v[LQ_SCOPE_TENANT][LQ_LIMIT_RPM] = LQ_LIMIT_NONE;
    lim.v[LQ_SCOPE_TENANT][LQ_LIMIT_CONCURRENT] = 2;
    a.amount[LQ_UNIT_REQ] = 0;
    a.slot = 1;
    CHECK_INT(take(l, &a, &held[0]), LQ_LIMIT_ADMIT);
    CHECK_INT(take(l, &a, &held[1]), LQ_LIMIT_ADMIT);
    CHECK_INT(take(l, &a, &v), LQ_LIMIT_RATE);
    CHECK(v.dim == LQ_LIMIT_CONCURRENT);
    lq_limiter_leave(l, &held[0].ticket);
    CHECK_INT(take(l, &a, &held[0]), LQ_LIMIT_ADMIT);
    lq_limiter_leave(l, &held[0].ticket);
    lq_limiter_leave(l, &held[1].ticket);
    /* a request larger than the limit never fits */
    lim.v[LQ_SCOPE_TENANT][LQ_LIMIT_TPM] = 100;
    a.slot = 0;
    a.amount[LQ_UNIT_TOK] = 101;
    CHECK_INT(take(l, &a, &v), LQ_LIMIT_RATE);
    CHECK(v.dim == LQ_LIMIT_TPM && v.retry_after_ms == -1);
    lq_limiter_destroy(l);
}

/* The refusal's words, type and code, as both the ingest node and the worker answer them. */
static void test_refusal_words(void)
{
    lq_limit_verdict_t v = {0};
    const char *type, *code;
    char msg[300];

    v.outcome = LQ_LIMIT_RATE;
    v.scope = LQ_SCOPE_USER;
    v.dim = LQ_LIMIT_RPM;
    v.limit = 20;
    lq_limit_refusal(&v, msg, sizeof(msg), &type, &code);
    CHECK_STR(msg, "Rate limit reached for requests per minute (rpm) of the user: limit 20.");
    CHECK_STR(type, "requests");
    CHECK_STR(code, "rate_limit_exceeded");
    v.dim = LQ_LIMIT_TPD;
    lq_limit_refusal(&v, msg, sizeof(msg), &type, &code);
    CHECK_STR(type, "tokens");
    v.outcome = LQ_LIMIT_QUOTA;
    v.scope = LQ_SCOPE_TENANT;
    v.dim = LQ_LIMIT_USD_PER_DAY;
    v.limit = 5 * LQ_MICRO_USD;
    lq_limit_refusal(&v, msg, sizeof(msg), &type, &code);
    CHECK_STR(msg, "Budget reached for USD per day (usd_per_day) of the tenant: limit 5.00 USD.");
    CHECK_STR(type, "insufficient_quota");
    CHECK_STR(code, "insufficient_quota");
}

/* The cluster's time: the offset to the ledger's clock from readings taken between two wall
 * times; a steady estimate stays put, a wrong one moves to the nearest value a reading allows. */
static void test_the_cluster_clock(void)
{
    /* the first reading: its middle (the ledger read 1,000,000 between wall 910,000 and 910,010:
     * a machine 90 s behind) */
    CHECK_INT(lq_clock_offset_next(0, 0, 1000000, 910000, 910010), 89995);
    /* within the next reading's bounds: unchanged, however its round trip falls */
    CHECK_INT(lq_clock_offset_next(89995, 1, 1002000, 912000, 912008), 89995);
    CHECK_INT(lq_clock_offset_next(89995, 1, 1002000, 912003, 912009), 89995);
    /* outside: to the nearest bound (the machine's clock was put right by 90 s) */
    CHECK_INT(lq_clock_offset_next(89995, 1, 1004000, 1003990, 1003999), 10);
    CHECK_INT(lq_clock_offset_next(-5, 1, 1004000, 1003990, 1003999), 1);
    CHECK_INT(lq_clock_offset_next(4, 1, 1004000, 1003990, 1003999), 4);
    /* a wall clock that went back during the reading says nothing */
    CHECK_INT(lq_clock_offset_next(7, 1, 1004000, 1004100, 1004000), 7);
    /* learned, the cluster's time is the ledger's within the reading's round trip */
    {
        int64_t t0 = lq_wall_ms(), t1;
        lq_clock_learn(t0 + 90000 + 2, t0, t0 + 4);
        t1 = lq_cluster_ms() - lq_wall_ms();
        CHECK(t1 >= 90000 - 2 && t1 <= 90000 + 6);
    }
}

int main(void)
{
    test_the_cluster_clock();
    test_refusal_words();
    test_keys_and_asks();
    test_without_the_ledger();
    TEST_DONE();
}

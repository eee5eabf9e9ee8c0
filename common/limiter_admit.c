/* common/limiter_admit.c — deciding one request against the node's allowances (see
 * limiter.h), and, while the ledger cannot be reached, against the node's share of each
 * limit, counted locally. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/limiter_internal.h"

static const struct dim_def {
    int series;
    int64_t window; /* ms; 0: calendar */
} dim_defs[LQ_LIMIT_DIM_COUNT] = {
    [LQ_LIMIT_RPM] = {1, 60000},       [LQ_LIMIT_RPH] = {2, 3600000},
    [LQ_LIMIT_RPD] = {2, 86400000},    [LQ_LIMIT_TPM] = {3, 60000},
    [LQ_LIMIT_TPD] = {4, 86400000},    [LQ_LIMIT_USD_PER_DAY] = {5, 0},
    [LQ_LIMIT_USD_PER_MONTH] = {6, 0}, [LQ_LIMIT_CONCURRENT] = {0, 0},
};

lq_limit_unit_t lq_limit_dim_unit(lq_limit_dim_t d)
{
    switch (d) {
    case LQ_LIMIT_RPM:
    case LQ_LIMIT_RPH:
    case LQ_LIMIT_RPD:
        return LQ_UNIT_REQ;
    case LQ_LIMIT_TPM:
    case LQ_LIMIT_TPD:
        return LQ_UNIT_TOK;
    case LQ_LIMIT_USD_PER_DAY:
    case LQ_LIMIT_USD_PER_MONTH:
        return LQ_UNIT_USD;
    default:
        return LQ_UNIT_COUNT;
    }
}

void lq_limit_refusal(const lq_limit_verdict_t *v, char *msg, size_t n, const char **type,
                      const char **code)
{
    static const char *const words[LQ_LIMIT_DIM_COUNT] = {
        "requests per minute", "requests per hour", "requests per day", "tokens per minute",
        "tokens per day",      "USD per day",       "USD per month",    "requests in flight"};
    int quota = v->outcome == LQ_LIMIT_QUOTA, d = v->dim < LQ_LIMIT_DIM_COUNT;
    char limit[40];

    if (lq_limit_dim_is_usd(v->dim))
        snprintf(limit, sizeof(limit), "%.2f USD", (double)v->limit / LQ_MICRO_USD);
    else
        snprintf(limit, sizeof(limit), "%lld", (long long)v->limit);
    snprintf(msg, n, "%s reached for %s (%s) of the %s: limit %s.", quota ? "Budget" : "Rate limit",
             d ? words[v->dim] : "a limit", d ? lq_limit_dim_name(v->dim) : "?",
             lq_limit_scope_name(v->scope), limit);
    *type = quota                                      ? "insufficient_quota"
            : lq_limit_dim_unit(v->dim) == LQ_UNIT_TOK ? "tokens"
                                                       : "requests";
    *code = quota ? "insufficient_quota" : "rate_limit_exceeded";
}

void lq_limit_scope_key(lq_limit_scope_t s, const char *id, char out[LQ_LIMIT_KEY_MAX])
{
    static const char tag[LQ_LIMIT_SCOPE_COUNT] = {'t', 'p', 'u', 'k', 'i'};

    out[0] = '\0';
    if (s == LQ_SCOPE_INSTALLATION)
        snprintf(out, LQ_LIMIT_KEY_MAX, "i");
    else if (s < LQ_LIMIT_SCOPE_COUNT && id && id[0])
        snprintf(out, LQ_LIMIT_KEY_MAX, "%c:%s", tag[s], id);
}

int lq_limit_ask_limited(const lq_limit_ask_t *a)
{
    int s, d;

    for (s = 0; s < LQ_LIMIT_SCOPE_COUNT; s++) {
        if (s != LQ_SCOPE_INSTALLATION && (!a->ids[s] || !a->ids[s][0]))
            continue;
        for (d = 0; d < LQ_LIMIT_DIM_COUNT; d++) {
            lq_limit_unit_t u = lq_limit_dim_unit((lq_limit_dim_t)d);
            if (a->limits->v[s][d] < 0)
                continue;
            if (d == LQ_LIMIT_CONCURRENT ? a->slot : a->amount[u] > 0)
                return 1;
        }
    }
    return 0;
}

lim_key_t *lim_key_get(lq_limiter_t *l, lq_limit_scope_t s, const char *key)
{
    lim_key_t *k = lq_hashmap_get(l->keys, key);
    int d;

    if (k)
        return k;
    k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    snprintf(k->key, sizeof(k->key), "%s", key);
    k->scope = s;
    for (d = 0; d < LQ_LIMIT_DIM_COUNT; d++)
        k->lim[d] = LQ_LIMIT_NONE;
    k->rate_start = lq_mono_ms();
    if (lq_hashmap_put(l->keys, key, k)) {
        free(k);
        return NULL;
    }
    return k;
}

static void ring_free(lim_ring_t *r)
{
    free(r->idx);
    free(r->count);
    memset(r, 0, sizeof(*r));
}

void lim_key_free(lim_key_t *k)
{
    int i;

    if (!k)
        return;
    for (i = 0; i < 7; i++)
        ring_free(&k->ring[i]);
    free(k);
}

int lim_unit_limited(const lim_key_t *k, lq_limit_unit_t u)
{
    int d;

    for (d = 0; d < LQ_LIMIT_CONCURRENT; d++)
        if (lq_limit_dim_unit((lq_limit_dim_t)d) == u && k->lim[d] >= 0)
            return 1;
    return 0;
}

/* The smallest limit of unit u at k (LQ_LIMIT_NONE when none). */
static int64_t unit_min_limit(const lim_key_t *k, lq_limit_unit_t u, lq_limit_dim_t *which)
{
    int64_t m = LQ_LIMIT_NONE;
    int d;

    for (d = 0; d < LQ_LIMIT_CONCURRENT; d++)
        if (lq_limit_dim_unit((lq_limit_dim_t)d) == u && k->lim[d] >= 0 &&
            (m < 0 || k->lim[d] < m)) {
            m = k->lim[d];
            if (which)
                *which = (lq_limit_dim_t)d;
        }
    return m;
}

int64_t lim_chunk(const lq_limiter_t *l, const lim_key_t *k, lq_limit_unit_t u)
{
    int64_t m = unit_min_limit(k, u, NULL), cap, want;

    if (m < 0)
        return 0;
    cap = m / (8 * (l->nodes > 0 ? l->nodes : 1)); /* never hold much of a limit */
    if (cap < 2)
        return 0;
    want = (int64_t)ceil(k->rate[u] * (double)l->o.lease_ms / 1000.0 * 1.25);
    if (want > cap)
        want = cap;
    return want < k->last_need[u] ? 0 : want; /* less than one request needs: of no use */
}

/* Slots held beyond those in use, so most requests take one without an exchange: an eighth
 * of the limit divided by the nodes; none for small limits, or while none is in use. */
static int64_t slot_headroom(const lq_limiter_t *l, const lim_key_t *k)
{
    int64_t headroom = k->lim[LQ_LIMIT_CONCURRENT] / (8 * (l->nodes > 0 ? l->nodes : 1));

    return headroom < 2 || k->slots_used == 0 ? 0 : headroom;
}

int64_t lim_slots_wanted(const lq_limiter_t *l, const lim_key_t *k)
{
    return k->slots_used + k->slots_waiting + slot_headroom(l, k);
}

int lim_slots_too_many(const lq_limiter_t *l, const lim_key_t *k)
{
    /* twice the headroom before giving back: not an exchange for every request that ends */
    return k->slots_held > lim_slots_wanted(l, k) + slot_headroom(l, k);
}

void lim_push_back(lq_limiter_t *l, const char *key, int series, int64_t bucket, int64_t amount)
{
    char where[LQ_LIMIT_KEY_MAX + 48];
    size_t at;
    lim_back_t *b;

    if (amount == 0 || series <= 0)
        return;
    /* one entry per bucket: a busy node gives back thousands of settlements a second */
    snprintf(where, sizeof(where), "%d|%lld|%s", series, (long long)bucket, key);
    at = l->back_index ? (size_t)(uintptr_t)lq_hashmap_get(l->back_index, where) : 0;
    if (at) {
        l->back[at - 1].amount += amount;
        return;
    }
    if (l->n_back == l->cap_back) {
        size_t cap = l->cap_back ? l->cap_back * 2 : 64;
        lim_back_t *nb = cap <= 1000000 ? realloc(l->back, cap * sizeof(*nb)) : NULL;
        if (!nb)
            return; /* lost: a return only makes the limit stricter for one window */
        l->back = nb;
        l->cap_back = cap;
    }
    b = &l->back[l->n_back++];
    snprintf(b->key, sizeof(b->key), "%s", key);
    b->series = series;
    b->bucket = bucket;
    b->amount = amount;
    if (l->back_index)
        lq_hashmap_put(l->back_index, where, (void *)(uintptr_t)l->n_back);
}

/* ---------- counting without the ledger ---------- */

static int64_t series_width(int s)
{
    return s == 1 || s == 3 ? 100 : s == 2 || s == 4 ? 60000 : 0;
}

static int64_t bucket_of(int s, int64_t t)
{
    time_t secs;
    struct tm tm;

    if (series_width(s))
        return t / series_width(s);
    if (s == 5)
        return t / 86400000;
    secs = (time_t)(t / 1000);
    gmtime_r(&secs, &tm);
    return (int64_t)(tm.tm_year + 1900) * 12 + tm.tm_mon;
}

static lim_ring_t *ring_of(lim_key_t *k, int s)
{
    lim_ring_t *r = &k->ring[s];

    if (!r->n) {
        int n = series_width(s) == 100 ? 600 : series_width(s) ? 1440 : 2;
        r->idx = calloc((size_t)n, sizeof(int64_t));
        r->count = calloc((size_t)n, sizeof(int64_t));
        if (!r->idx || !r->count) {
            ring_free(r);
            return NULL;
        }
        r->n = n;
        r->width = series_width(s);
    }
    return r;
}

static int64_t ring_sum(lim_key_t *k, lq_limit_dim_t d, int64_t now_ms)
{
    int s = dim_defs[d].series, i;
    lim_ring_t *r = &k->ring[s];
    int64_t lo, sum = 0;

    if (!r->n)
        return 0;
    lo = dim_defs[d].window ? (now_ms - dim_defs[d].window) / r->width : bucket_of(s, now_ms);
    for (i = 0; i < r->n; i++)
        if (r->idx[i] >= lo && r->count[i])
            sum += r->count[i];
    return sum;
}

static void ring_add(lim_key_t *k, int s, int64_t now_ms, int64_t amount)
{
    lim_ring_t *r = ring_of(k, s);
    int64_t b = bucket_of(s, now_ms);
    int i;

    if (!r)
        return;
    i = (int)(b % r->n);
    if (r->idx[i] != b) {
        r->idx[i] = b;
        r->count[i] = 0;
    }
    r->count[i] += amount;
}

void lim_flush_rings(lq_limiter_t *l, lim_key_t *k)
{
    int s, i;

    for (s = 1; s <= 6; s++) {
        lim_ring_t *r = &k->ring[s];
        for (i = 0; i < r->n; i++)
            if (r->count[i]) {
                lim_push_back(l, k->key, s, r->idx[i], -r->count[i]);
                k->unsynced[s] += r->count[i];
            }
        ring_free(r);
    }
}

/* What this node may still admit of dimension d without the ledger: its share of the limit,
 * less its share of what the ledger had counted when it was lost (while that can still be in
 * the window), less what it admitted since. */
static int64_t degraded_room(const lq_limiter_t *l, lim_key_t *k, lq_limit_dim_t d, int64_t now)
{
    int64_t nodes = l->nodes > 0 ? l->nodes : 1, room = k->lim[d] / nodes;
    int64_t carry_until =
        dim_defs[d].window ? k->deg_since + dim_defs[d].window : k->seen_mono + k->reset_in[d];

    if (now < carry_until)
        room -= (k->deg_used[d] + nodes - 1) / nodes;
    room -= k->unsynced[dim_defs[d].series];       /* admitted here, maybe not in the ledger yet */
    return room - ring_sum(k, d, lq_cluster_ms()); /* the ledger's buckets */
}

/* ---------- one decision ---------- */

typedef struct decision {
    lq_limit_outcome_t outcome;
    lim_key_t *k;
    lq_limit_dim_t dim;
    int64_t retry_ms;
    int need_exchange;
    int use_degraded[LQ_LIMIT_SCOPE_COUNT][LQ_UNIT_COUNT + 1];
} decision_t;

static void refuse(decision_t *dc, lim_key_t *k, lq_limit_dim_t d, int64_t retry_ms)
{
    lq_limit_unit_t u = lq_limit_dim_unit(d);

    if (dc->outcome != LQ_LIMIT_ADMIT && dc->retry_ms < 0)
        return; /* already never */
    if (dc->outcome == LQ_LIMIT_ADMIT || retry_ms < 0 || retry_ms > dc->retry_ms) {
        dc->outcome = u == LQ_UNIT_USD ? LQ_LIMIT_QUOTA : LQ_LIMIT_RATE;
        dc->k = k;
        dc->dim = d;
        dc->retry_ms = retry_ms;
    }
}

/* Unit u of one scope: enough allowance, a refusal, or an exchange needed. */
static void check_unit(lq_limiter_t *l, decision_t *dc, lim_key_t *k, int si, lq_limit_unit_t u,
                       int64_t amount, int final, int64_t now)
{
    lq_limit_dim_t d = LQ_LIMIT_RPM;
    int64_t m = unit_min_limit(k, u, &d);
    int dd;

    if (m < 0 || amount <= 0)
        return;
    if (amount > m) {
        refuse(dc, k, d, -1);
        return;
    }
    if (k->al[u].left >= amount && k->al[u].expires > now)
        return;
    if (l->degraded) {
        for (dd = 0; dd < LQ_LIMIT_CONCURRENT; dd++)
            if (lq_limit_dim_unit((lq_limit_dim_t)dd) == u && k->lim[dd] >= 0 &&
                degraded_room(l, k, (lq_limit_dim_t)dd, now) < amount)
                refuse(dc, k, (lq_limit_dim_t)dd, 1000);
        dc->use_degraded[si][u] = 1;
        return;
    }
    if (k->ask_again[u] > now || final) {
        int64_t retry = k->retry_at[u] > now ? k->retry_at[u] - now : 1;
        refuse(dc, k, k->refused_dim[u], k->retry_at[u] < 0 ? -1 : retry);
        return;
    }
    k->dirty = 1; /* the thread counts what waits (limiter.c) */
    dc->need_exchange = 1;
}

static void check_slot(lq_limiter_t *l, decision_t *dc, lim_key_t *k, int si, int final,
                       int64_t now)
{
    int64_t lim = k->lim[LQ_LIMIT_CONCURRENT];

    if (lim < 0)
        return;
    if (lim == 0) {
        refuse(dc, k, LQ_LIMIT_CONCURRENT, -1);
        return;
    }
    if (k->slots_used < k->slots_held && k->slots_expires > now)
        return;
    if (l->degraded) {
        if (k->slots_used >= lim / (l->nodes > 0 ? l->nodes : 1))
            refuse(dc, k, LQ_LIMIT_CONCURRENT, 1000);
        dc->use_degraded[si][LQ_UNIT_COUNT] = 1;
        return;
    }
    if (final) {
        refuse(dc, k, LQ_LIMIT_CONCURRENT, 1000);
        return;
    }
    k->dirty = 1;
    dc->need_exchange = 1;
}

static void count_rate(lim_key_t *k, const lq_limit_ask_t *a, int64_t now)
{
    int u;

    if (now - k->rate_start >= 1000) {
        double secs = (double)(now - k->rate_start) / 1000.0;
        for (u = 0; u < LQ_UNIT_COUNT; u++) {
            k->rate[u] = 0.5 * k->rate[u] + 0.5 * (double)k->rate_count[u] / secs;
            k->rate_count[u] = 0;
        }
        k->rate_start = now;
    }
    for (u = 0; u < LQ_UNIT_COUNT; u++) {
        k->rate_count[u] += a->amount[u];
        if (a->amount[u] > 0)
            k->last_need[u] = a->amount[u];
    }
}

/* Take what the ask needs from k (it was all checked), into the ticket. */
static void take_from(lq_limiter_t *l, lim_key_t *k, const lq_limit_ask_t *a, const decision_t *dc,
                      int si, struct lq_limit_held *h, int64_t now)
{
    int u, j;

    snprintf(h->key, sizeof(h->key), "%s", k->key);
    for (u = 0; u < LQ_UNIT_COUNT; u++) {
        if (a->amount[u] <= 0 || !lim_unit_limited(k, (lq_limit_unit_t)u))
            continue;
        h->amount[u] = a->amount[u];
        if (dc->use_degraded[si][u]) {
            int64_t at = lq_cluster_ms(); /* the ledger's buckets */
            ring_add(k, 2 * u + 1, at, a->amount[u]);
            ring_add(k, 2 * u + 2, at, a->amount[u]);
            l->rings_unflushed = 1;
            continue; /* series 0: nothing to settle in the ledger */
        }
        k->al[u].left -= a->amount[u];
        for (j = 0; j < 2; j++) {
            h->series[u][j] = k->al[u].series[j];
            h->bucket[u][j] = k->al[u].bucket[j];
        }
        if (lim_chunk(l, k, (lq_limit_unit_t)u) > 2 * k->al[u].left ||
            k->al[u].expires - now < l->o.lease_ms / 4)
            k->dirty = 1; /* ask for the next grant before this one runs out */
    }
    if (a->slot && k->lim[LQ_LIMIT_CONCURRENT] >= 0) {
        h->slot = 1;
        k->slots_used++;
    }
    count_rate(k, a, now);
}

/* The tightest request and token limits of the scopes, for the headers. */
static void fill_view(lim_key_t *const *ks, int n, lq_limit_view_t *v, int64_t now)
{
    int i, d;

    memset(v, 0, sizeof(*v));
    for (i = 0; i < n; i++) {
        const lim_key_t *k = ks[i];
        for (d = 0; d < LQ_LIMIT_USD_PER_DAY; d++) {
            int w = lq_limit_dim_unit((lq_limit_dim_t)d) == LQ_UNIT_TOK;
            int64_t rem, reset;
            if (k->lim[d] < 0)
                continue;
            rem = k->lim[d] - (k->known ? k->used[d] : 0) +
                  (k->al[w].expires > now ? k->al[w].left : 0);
            rem = rem < 0 ? 0 : rem > k->lim[d] ? k->lim[d] : rem;
            reset = k->known ? k->reset_in[d] - (now - k->seen_mono) : 0;
            if (!v->has[w] || rem < v->remaining[w] ||
                (rem == v->remaining[w] && k->lim[d] < v->limit[w])) {
                v->has[w] = 1;
                v->limit[w] = k->lim[d];
                v->remaining[w] = rem;
                v->reset_ms[w] = reset > 0 ? reset : 0;
            }
        }
    }
}

lq_limit_outcome_t lim_decide(lq_limiter_t *l, const lq_limit_ask_t *a, lq_limit_verdict_t *v,
                              int final)
{
    lim_key_t *ks[LQ_LIMIT_SCOPE_COUNT];
    int si[LQ_LIMIT_SCOPE_COUNT];
    decision_t dc;
    int64_t now = lq_mono_ms();
    int s, n = 0, u, i;

    memset(&dc, 0, sizeof(dc));
    memset(v, 0, sizeof(*v));
    for (s = 0; s < LQ_LIMIT_SCOPE_COUNT; s++) {
        char key[LQ_LIMIT_KEY_MAX];
        lim_key_t *k;
        lq_limit_scope_key((lq_limit_scope_t)s, a->ids[s], key);
        if (!key[0] || !(k = lim_key_get(l, (lq_limit_scope_t)s, key)))
            continue;
        memcpy(k->lim, a->limits->v[s], sizeof(k->lim));
        k->last_used = now;
        si[n] = s;
        ks[n++] = k;
        for (u = 0; u < LQ_UNIT_COUNT; u++)
            check_unit(l, &dc, k, s, (lq_limit_unit_t)u, a->amount[u], final, now);
        if (a->slot)
            check_slot(l, &dc, k, s, final, now);
    }
    v->degraded = l->degraded;
    if (dc.outcome != LQ_LIMIT_ADMIT) {
        v->outcome = dc.outcome;
        v->scope = dc.k->scope;
        v->dim = dc.dim;
        v->limit = dc.k->lim[dc.dim];
        v->retry_after_ms = dc.retry_ms;
        fill_view(ks, n, &v->view, now);
        return dc.outcome;
    }
    if (dc.need_exchange)
        return LQ_LIMIT_PENDING;
    for (i = 0; i < n; i++)
        take_from(l, ks[i], a, &dc, si[i], &v->ticket.k[v->ticket.n++], now);
    fill_view(ks, n, &v->view, now);
    return LQ_LIMIT_ADMIT;
}

/* common/limiter.c — the limiter's thread: one exchange with the ledger at a time
 * (limits_exchange, ops/migrations/0008_limit_ledger.sql) for every scope that has requests
 * waiting, an allowance running low or expiring, or slots to renew or give back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "common/clock.h"
#include "common/limiter_internal.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"

#define TICK_MS      250
#define HEARTBEAT_MS 2000 /* the ledger counts nodes seen in the last 10 s */

static lq_metric_t *m_degraded, *m_exchanges, *m_exchange_errors, *m_clock_offset;

/* The units as the ledger names them (limit_take). */
static const char *const unit_name[LQ_UNIT_COUNT] = {"req", "tok", "usd"};

static const char *sql_dim_name(int d)
{
    return d == LQ_LIMIT_CONCURRENT ? "con" : lq_limit_dim_name((lq_limit_dim_t)d);
}

/* ---------- what waits ---------- */

static void clear_waiting(const char *key, void *value, void *arg)
{
    lim_key_t *k = value;

    (void)key;
    (void)arg;
    memset(k->waiting, 0, sizeof(k->waiting));
    memset(k->wait_min, 0, sizeof(k->wait_min));
    k->slots_waiting = 0;
}

/* Sum what the waiters ask of each scope (they marked their scopes dirty). */
static void count_waiting(lq_limiter_t *l)
{
    lim_waiter_t *w;
    int s, u;

    lq_hashmap_foreach(l->keys, clear_waiting, NULL);
    for (w = l->waiters; w; w = w->next) {
        if (w->usage_cb)
            continue;
        for (s = 0; s < LQ_LIMIT_SCOPE_COUNT; s++) {
            char key[LQ_LIMIT_KEY_MAX];
            lim_key_t *k;
            lq_limit_scope_key((lq_limit_scope_t)s, w->ask.ids[s], key);
            if (!key[0] || !(k = lq_hashmap_get(l->keys, key)))
                continue;
            for (u = 0; u < LQ_UNIT_COUNT; u++) {
                int64_t a = w->ask.amount[u];
                if (a <= 0)
                    continue;
                k->waiting[u] += a;
                if (!k->wait_min[u] || a < k->wait_min[u])
                    k->wait_min[u] = a;
            }
            k->slots_waiting += w->ask.slot;
        }
    }
}

/* ---------- the body of an exchange ---------- */

static json_t *key_op(lq_limiter_t *l, lim_key_t *k, int64_t now)
{
    json_t *op = json_object(), *lim = json_object(), *want = json_object(), *mn = json_object();
    int d, u, leased = 0;

    for (d = 0; d < LQ_LIMIT_DIM_COUNT; d++)
        if (k->lim[d] >= 0)
            json_object_set_new(lim, sql_dim_name(d), json_integer(k->lim[d]));
    for (u = 0; u < LQ_UNIT_COUNT; u++) {
        int64_t chunk = lim_chunk(l, k, (lq_limit_unit_t)u);
        k->sent_want[u] = 0;
        if (!lim_unit_limited(k, (lq_limit_unit_t)u) || (!k->waiting[u] && !chunk))
            continue;
        if (!k->waiting[u] && k->al[u].expires > now && k->al[u].left * 2 >= chunk)
            continue; /* enough left: nothing to ask */
        k->sent_want[u] = k->waiting[u] + chunk;
        leased |= chunk > 0;
        json_object_set_new(want, unit_name[u], json_integer(k->sent_want[u]));
        json_object_set_new(mn, unit_name[u], json_integer(k->waiting[u] ? k->wait_min[u] : 1));
    }
    k->sent_lease = leased ? l->o.lease_ms : LQ_LIMITER_IMMEDIATE_MS;
    k->sent_slots = k->lim[LQ_LIMIT_CONCURRENT] >= 0;
    json_object_set_new(op, "k", json_string(k->key));
    json_object_set_new(op, "lim", lim);
    json_object_set_new(op, "want", want);
    json_object_set_new(op, "min", mn);
    json_object_set_new(op, "lease", json_integer(k->sent_lease));
    if (k->sent_slots) {
        json_object_set_new(op, "slots", json_integer(lim_slots_wanted(l, k)));
        json_object_set_new(op, "slot_lease", json_integer(l->o.slot_lease_ms));
    }
    return op;
}

#define IDLE_FORGET_MS (10 * 60 * 1000) /* a scope unused this long, holding nothing, goes */
#define FORGET_MAX     1024             /* forgotten per round at most */

typedef struct build {
    lq_limiter_t *l;
    json_t *ops;
    int64_t now;
    lim_key_t *idle[FORGET_MAX]; /* scopes to forget after the walk */
    size_t n_idle;
} build_t;

/* Nothing held, nothing pending, nothing to write back: the scope can be forgotten. */
static int forgettable(const lim_key_t *k, int64_t now)
{
    int u, s;

    if (k->dirty || k->slots_held || k->slots_used || k->deg_since ||
        now - k->last_used < IDLE_FORGET_MS)
        return 0;
    for (u = 0; u < LQ_UNIT_COUNT; u++)
        if (k->al[u].left > 0)
            return 0;
    for (s = 1; s <= 6; s++)
        if (k->ring[s].n || k->unsynced[s])
            return 0;
    return 1;
}

/* Expired allowances go back; slots that need renewal or are too many mark their scope. */
static void visit_key(const char *key, void *value, void *arg)
{
    build_t *b = arg;
    lim_key_t *k = value;
    int u, j;

    (void)key;
    for (u = 0; u < LQ_UNIT_COUNT; u++) {
        lim_allowance_t *a = &k->al[u];
        if (a->left > 0 && a->expires <= b->now) {
            for (j = 0; j < 2; j++)
                lim_push_back(b->l, k->key, a->series[j], a->bucket[j], a->left);
            a->left = 0;
        }
    }
    if (k->slots_held > 0 &&
        (k->slots_expires - b->now < b->l->o.slot_lease_ms / 2 || lim_slots_too_many(b->l, k)))
        k->dirty = 1;
    if (forgettable(k, b->now) && b->n_idle < FORGET_MAX) {
        b->idle[b->n_idle++] = k;
        return;
    }
    if (k->dirty) {
        for (u = 0; u < LQ_UNIT_COUNT; u++) { /* what waits is more than what is left: the rest */
            lim_allowance_t *a = &k->al[u];   /* goes back first, so it can be granted again */
            if (k->waiting[u] > 0 && a->left > 0) {
                for (j = 0; j < 2; j++)
                    lim_push_back(b->l, k->key, a->series[j], a->bucket[j], a->left);
                a->left = 0;
            }
        }
        k->dirty = 0;
        k->sent_mono = b->now;
        json_array_append_new(b->ops, key_op(b->l, k, b->now));
    }
}

static json_t *take_back(lq_limiter_t *l)
{
    json_t *back = json_array();
    size_t i;

    for (i = 0; i < l->n_back; i++)
        json_array_append_new(back, json_pack("{s:s,s:i,s:I,s:I}", "k", l->back[i].key, "s",
                                              l->back[i].series, "b", (json_int_t)l->back[i].bucket,
                                              "a", (json_int_t)l->back[i].amount));
    l->n_back = 0;
    lq_hashmap_destroy(l->back_index); /* (the map has no clear) */
    l->back_index = lq_hashmap_create(64);
    return back;
}

/* Put the returns of a failed exchange back in the queue. */
static void keep_back(lq_limiter_t *l, json_t *back)
{
    size_t i;
    json_t *e;

    json_array_foreach(back, i, e)
    {
        lim_push_back(l, json_string_value(json_object_get(e, "k")),
                      (int)json_integer_value(json_object_get(e, "s")),
                      json_integer_value(json_object_get(e, "b")),
                      json_integer_value(json_object_get(e, "a")));
    }
}

/* ---------- its answer ---------- */

static lq_limit_dim_t dim_of_name(const char *name)
{
    int d;

    for (d = 0; d < LQ_LIMIT_DIM_COUNT; d++)
        if (strcmp(sql_dim_name(d), name) == 0)
            return (lq_limit_dim_t)d;
    return LQ_LIMIT_DIM_COUNT;
}

static void apply_grant(lq_limiter_t *l, lim_key_t *k, lq_limit_unit_t u, json_t *g, json_t *b)
{
    int64_t amount = json_integer_value(json_object_get(g, unit_name[u]));
    json_t *bk = json_object_get(b, unit_name[u]), *v;
    lim_allowance_t *a = &k->al[u];
    const char *series;
    int j = 0;

    if (amount <= 0)
        return;
    if (a->left > 0) /* the rest of the last grant goes back: one grant held at a time */
        for (j = 0; j < 2; j++)
            lim_push_back(l, k->key, a->series[j], a->bucket[j], a->left);
    memset(a, 0, sizeof(*a));
    a->left = amount;
    a->expires = k->sent_mono + k->sent_lease;
    j = 0;
    json_object_foreach(bk, series, v)
    {
        if (j < 2) {
            a->series[j] = atoi(series);
            a->bucket[j++] = json_integer_value(v);
        }
    }
    k->ask_again[u] = 0;
}

/* A unit asked for and not granted: refused here until it may fit, asked again sooner. */
static void note_refusal(lq_limiter_t *l, lim_key_t *k, lq_limit_unit_t u, int64_t now, int none)
{
    int64_t retry = 0;
    int d, never = 0;

    for (d = 0; d < LQ_LIMIT_CONCURRENT; d++) {
        if (lq_limit_dim_unit((lq_limit_dim_t)d) != u || k->lim[d] < 0)
            continue;
        if (k->free_in[d] < 0 && !never) {
            never = 1;
            k->refused_dim[u] = (lq_limit_dim_t)d;
        } else if (!never && k->free_in[d] >= retry) {
            retry = k->free_in[d];
            k->refused_dim[u] = (lq_limit_dim_t)d;
        }
    }
    k->retry_at[u] = never ? -1 : now + (retry > 0 ? retry : 1);
    if (none) /* refuse here for a while rather than ask the ledger for each request */
        k->ask_again[u] = now + (never || retry > l->o.lease_ms / 2 ? l->o.lease_ms / 2 : retry);
}

static void apply_key(lq_limiter_t *l, json_t *r, int64_t ledger_now, int64_t now)
{
    lim_key_t *k = lq_hashmap_get(l->keys, json_string_value(json_object_get(r, "k")));
    json_t *g = json_object_get(r, "g"), *dims = json_object_get(r, "d"), *st;
    const char *name;
    int u;

    if (!k)
        return;
    json_object_foreach(dims, name, st)
    {
        lq_limit_dim_t d = dim_of_name(name);
        int64_t fr = json_integer_value(json_array_get(st, 2));
        if (d == LQ_LIMIT_DIM_COUNT)
            continue;
        k->used[d] = json_integer_value(json_array_get(st, 0));
        k->reset_in[d] = json_integer_value(json_array_get(st, 1)) - ledger_now;
        k->free_in[d] = fr < 0 ? -1 : fr - ledger_now;
    }
    k->known = 1;
    k->seen_mono = now;
    for (u = 0; u < LQ_UNIT_COUNT; u++) {
        int64_t got = json_integer_value(json_object_get(g, unit_name[u]));
        apply_grant(l, k, (lq_limit_unit_t)u, g, json_object_get(r, "b"));
        if (k->sent_want[u] > 0 && got < k->waiting[u])
            note_refusal(l, k, (lq_limit_unit_t)u, now, got <= 0);
    }
    if (k->sent_slots) {
        k->slots_held = json_integer_value(json_object_get(g, "slots"));
        k->slots_expires = k->sent_mono + l->o.slot_lease_ms;
    }
}

/* The ledger's answer to an exchange sent at this machine's wall time t0 and answered at t1. */
static void apply(lq_limiter_t *l, json_t *res, int64_t t0, int64_t t1)
{
    int64_t ledger_now = json_integer_value(json_object_get(res, "now")), now = lq_mono_ms();
    json_t *r;
    size_t i;

    l->nodes = json_integer_value(json_object_get(res, "nodes"));
    if (l->nodes < 1)
        l->nodes = 1;
    lq_clock_learn(ledger_now, t0, t1); /* the cluster's time (common/clock.h) */
    lq_metric_set(m_clock_offset, lq_clock_offset_ms());
    json_array_foreach(json_object_get(res, "keys"), i, r)
    {
        apply_key(l, r, ledger_now, now);
    }
}

/* ---------- the exchange ---------- */

static json_t *exchange(lq_limiter_t *l, PGconn **conn, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    const char *params[2] = {l->node_id, text};
    char errstr[256];
    PGresult *res;
    json_t *out = NULL;

    if (!text)
        return NULL;
    if (!*conn && lq_pg_connect(l->conninfo, "llmq-limits", conn, errstr, sizeof(errstr))) {
        LQ_WARN("limits: the ledger cannot be reached: %s", errstr);
        free(text);
        return NULL;
    }
    res = PQexecParams(*conn, "SELECT limits_exchange($1, $2::jsonb)", 2, NULL, params, NULL, NULL,
                       0);
    free(text);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        out = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    else
        LQ_WARN("limits: exchange failed: %s", PQresultErrorMessage(res));
    PQclear(res);
    if (!out && PQstatus(*conn) != CONNECTION_OK) {
        PQfinish(*conn);
        *conn = NULL;
    }
    return out;
}

static void enter_degraded(const char *key, void *value, void *arg)
{
    lim_key_t *k = value;

    (void)key;
    (void)arg;
    k->deg_since = lq_mono_ms();
    memcpy(k->deg_used, k->used, sizeof(k->deg_used));
}

static void flush_rings(const char *key, void *value, void *arg)
{
    (void)key;
    lim_flush_rings(arg, value);
}

/* An exchange succeeded: it carried every count flushed from the rings (the ledger applies
 * them before any grant), and the node decides from the ledger again. */
static void synced(const char *key, void *value, void *arg)
{
    lim_key_t *k = value;

    (void)key;
    (void)arg;
    memset(k->unsynced, 0, sizeof(k->unsynced));
    k->deg_since = 0;
}

/* ---------- waiters ---------- */

typedef struct resolved {
    lim_waiter_t *w;
    lq_limit_verdict_t v;
    lq_limit_usage_t u;
} resolved_t;

static void read_usage(lq_limiter_t *l, const lim_waiter_t *w, lq_limit_usage_t *u, int ok)
{
    int64_t now = lq_mono_ms();
    int s, d;

    memset(u, 0, sizeof(*u));
    u->ok = ok;
    for (s = 0; s < LQ_LIMIT_SCOPE_COUNT; s++) {
        char key[LQ_LIMIT_KEY_MAX];
        lim_key_t *k;
        lq_limit_scope_key((lq_limit_scope_t)s, w->ask.ids[s], key);
        if (!key[0] || !(k = lq_hashmap_get(l->keys, key)) || !k->known)
            continue;
        for (d = 0; d < LQ_LIMIT_DIM_COUNT; d++) {
            int64_t reset = k->reset_in[d] - (now - k->seen_mono);
            u->used[s][d] = k->used[d];
            u->reset_ms[s][d] = reset > 0 ? reset : 0;
        }
    }
}

/* Decide the waiters of the exchange that just ended (l->mu held). */
static resolved_t *resolve(lq_limiter_t *l, lim_waiter_t *list, size_t *n, int ok)
{
    lim_waiter_t *w;
    resolved_t *r;
    size_t i = 0;

    *n = 0;
    for (w = list; w; w = w->next)
        (*n)++;
    r = *n ? calloc(*n, sizeof(*r)) : NULL;
    for (w = list; w && r; w = w->next, i++) {
        r[i].w = w;
        if (w->usage_cb)
            read_usage(l, w, &r[i].u, ok);
        else
            lim_decide(l, &w->ask, &r[i].v, 1);
    }
    return r;
}

static void call_back(resolved_t *r, size_t n, lim_waiter_t *list)
{
    size_t i;

    for (i = 0; i < n && r; i++) {
        if (r[i].w->usage_cb)
            r[i].w->usage_cb(r[i].w->arg, &r[i].u);
        else
            r[i].w->cb(r[i].w->arg, &r[i].v);
    }
    while (list) {
        lim_waiter_t *next = list->next;
        if (!r && (list->usage_cb || list->cb)) { /* no memory to decide: refuse */
            lq_limit_verdict_t v;
            lq_limit_usage_t u;
            memset(&v, 0, sizeof(v));
            memset(&u, 0, sizeof(u));
            v.outcome = LQ_LIMIT_RATE;
            v.retry_after_ms = 1000;
            if (list->usage_cb)
                list->usage_cb(list->arg, &u);
            else
                list->cb(list->arg, &v);
        }
        free(list);
        list = next;
    }
    free(r);
}

/* One round (l->mu held on entry and exit): send what is due, apply the answer, decide
 * the waiters. Returns 1 when another round is due at once. */
static int round_once(lq_limiter_t *l, PGconn **conn)
{
    build_t b = {.l = l, .ops = json_array(), .now = lq_mono_ms()};
    json_t *body, *back, *res = NULL;
    lim_waiter_t *list;
    resolved_t *r;
    size_t n, i;
    int again = 0, flushed = l->degraded || l->rings_unflushed;
    int64_t t0, t1;

    /* what was admitted without the ledger goes first, before any grant; that includes what
     * was admitted during the exchange that found the ledger again (the lock is not held
     * while it runs), which this flushes at the next one */
    if (flushed)
        lq_hashmap_foreach(l->keys, flush_rings, l);
    l->rings_unflushed = 0;
    count_waiting(l);
    lq_hashmap_foreach(l->keys, visit_key, &b);
    for (i = 0; i < b.n_idle; i++) /* (the walk may not change the map) */
        lim_key_free(lq_hashmap_remove(l->keys, b.idle[i]->key));
    back = take_back(l);
    list = l->waiters;
    l->waiters = NULL;
    l->waiters_tail = &l->waiters;
    if (json_array_size(b.ops) == 0 && json_array_size(back) == 0 && !list &&
        b.now - l->last_exchange < HEARTBEAT_MS) {
        json_decref(b.ops);
        json_decref(back);
        return 0;
    }
    body = json_pack("{s:o,s:o}", "ops", b.ops, "back", back);
    pthread_mutex_unlock(&l->mu);
    t0 = lq_wall_ms();
    if (body)
        res = exchange(l, conn, body);
    t1 = lq_wall_ms();
    pthread_mutex_lock(&l->mu);
    l->last_exchange = b.now;
    lq_metric_add(m_exchanges, 1);
    if (res) {
        if (l->degraded)
            LQ_INFO("limits: the ledger answers again; admitting from it");
        if (flushed) /* the ledger has what was flushed */
            lq_hashmap_foreach(l->keys, synced, NULL);
        l->degraded = 0;
        apply(l, res, t0, t1);
    } else {
        lq_metric_add(m_exchange_errors, 1);
        keep_back(l, json_object_get(body, "back"));
        if (!l->degraded) {
            LQ_WARN("limits: admitting this node's share of each limit until the ledger answers");
            lq_hashmap_foreach(l->keys, enter_degraded, NULL);
            l->degraded = 1;
        }
    }
    lq_metric_set(m_degraded, l->degraded);
    json_decref(res);
    json_decref(body);
    r = resolve(l, list, &n, res != NULL);
    pthread_mutex_unlock(&l->mu);
    call_back(r, n, list);
    pthread_mutex_lock(&l->mu);
    return again;
}

static void *run(void *arg)
{
    lq_limiter_t *l = arg;
    PGconn *conn = NULL;
    int again = 1;

    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        if (!again && !l->waiters && !l->wake) {
            struct timespec ts; /* (the condition variable's clock is monotonic) */
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += (long)TICK_MS * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&l->cv, &l->mu, &ts);
            if (l->stop)
                break;
        }
        l->wake = 0;
        again = round_once(l, &conn);
        if (l->degraded && !again && !l->waiters && !l->wake) { /* down: try again a tick later */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        }
    }
    pthread_mutex_unlock(&l->mu);
    if (conn)
        PQfinish(conn);
    return NULL;
}

/* ---------- the API ---------- */

/* Timed waits on the monotonic clock: a wall clock set back (a skewed machine put right) never
 * holds up the thread's renewals and heartbeats. */
static void cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t a;

    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

lq_err_t lq_limiter_create(lq_limiter_t **out, const lq_limiter_options_t *o, char *errstr,
                           size_t errstr_size)
{
    lq_limiter_t *l = calloc(1, sizeof(*l));

    *out = NULL;
    if (!l || !(l->keys = lq_hashmap_create(64)) || !(l->back_index = lq_hashmap_create(64)) ||
        !(l->conninfo = strdup(o->conninfo))) {
        if (l) {
            lq_hashmap_destroy(l->keys);
            lq_hashmap_destroy(l->back_index);
        }
        free(l);
        snprintf(errstr, errstr_size, "limits: out of memory");
        return LQ_ERR_NOMEM;
    }
    l->o = *o;
    l->o.conninfo = l->conninfo;
    snprintf(l->node_id, sizeof(l->node_id), "%s", o->node_id);
    if (l->o.lease_ms <= 0)
        l->o.lease_ms = 1000;
    if (l->o.slot_lease_ms <= 0)
        l->o.slot_lease_ms = 5000;
    l->nodes = 1;
    l->waiters_tail = &l->waiters;
    pthread_mutex_init(&l->mu, NULL);
    cond_init_monotonic(&l->cv);
    if (!m_degraded) {
        m_degraded = lq_metrics_gauge("llmq_limits_degraded",
                                      "1 while the limit ledger cannot be reached and this node "
                                      "admits only its share of each limit",
                                      NULL);
        m_exchanges = lq_metrics_counter("llmq_limits_exchanges_total",
                                         "exchanges with the limit ledger", NULL);
        m_exchange_errors = lq_metrics_counter("llmq_limits_exchange_errors_total",
                                               "exchanges with the limit ledger that failed", NULL);
        m_clock_offset = lq_metrics_gauge("llmq_clock_offset_ms",
                                          "the database's clock minus this machine's, in ms, as "
                                          "measured at the last exchange with the limit ledger",
                                          NULL);
    }
    if (pthread_create(&l->thread, NULL, run, l)) {
        snprintf(errstr, errstr_size, "limits: cannot start a thread");
        lq_limiter_destroy(l);
        return LQ_ERR_IO;
    }
    l->started = 1;
    *out = l;
    return LQ_OK;
}

static void free_key(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    lim_key_free(value);
}

void lq_limiter_destroy(lq_limiter_t *l)
{
    lim_waiter_t *list;

    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (l->started)
        pthread_join(l->thread, NULL);
    l->degraded = 1; /* what still waits is decided without the ledger */
    list = l->waiters;
    l->waiters = NULL;
    {
        size_t n;
        resolved_t *r = resolve(l, list, &n, 0);
        call_back(r, n, list);
    }
    lq_hashmap_foreach(l->keys, free_key, NULL);
    lq_hashmap_destroy(l->keys);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->back);
    lq_hashmap_destroy(l->back_index);
    free(l->conninfo);
    free(l);
}

static lim_waiter_t *waiter_new(const lq_limit_ask_t *a)
{
    lim_waiter_t *w = calloc(1, sizeof(*w));
    int s;

    if (!w)
        return NULL;
    w->ask = *a;
    w->limits = *a->limits;
    w->ask.limits = &w->limits;
    for (s = 0; s < LQ_LIMIT_SCOPE_COUNT; s++) {
        snprintf(w->ids[s], sizeof(w->ids[s]), "%s", a->ids[s] ? a->ids[s] : "");
        w->ask.ids[s] = w->ids[s];
    }
    return w;
}

static void enqueue(lq_limiter_t *l, lim_waiter_t *w)
{
    *l->waiters_tail = w;
    l->waiters_tail = &w->next;
    l->wake = 1;
    pthread_cond_signal(&l->cv);
}

lq_limit_outcome_t lq_limiter_take(lq_limiter_t *l, const lq_limit_ask_t *a, lq_limit_verdict_t *v,
                                   lq_limit_cb cb, void *arg)
{
    lq_limit_outcome_t o;
    lim_waiter_t *w;

    pthread_mutex_lock(&l->mu);
    o = lim_decide(l, a, v, 0);
    if (o == LQ_LIMIT_PENDING) {
        if ((w = waiter_new(a)) != NULL) {
            w->cb = cb;
            w->arg = arg;
            enqueue(l, w);
        } else {
            o = v->outcome = LQ_LIMIT_RATE;
            v->retry_after_ms = 1000;
        }
    } else if (o == LQ_LIMIT_ADMIT) {
        int i;
        for (i = 0; i < v->ticket.n; i++) {
            lim_key_t *k = lq_hashmap_get(l->keys, v->ticket.k[i].key);
            if (k && k->dirty) { /* a grant running low: ask ahead */
                l->wake = 1;
                pthread_cond_signal(&l->cv);
            }
        }
    }
    pthread_mutex_unlock(&l->mu);
    return o;
}

void lq_limiter_leave(lq_limiter_t *l, const lq_limit_ticket_t *t)
{
    int i;

    pthread_mutex_lock(&l->mu);
    for (i = 0; i < t->n; i++) {
        lim_key_t *k;
        if (!t->k[i].slot || !(k = lq_hashmap_get(l->keys, t->k[i].key)) || k->slots_used <= 0)
            continue;
        k->slots_used--;
        if (lim_slots_too_many(l, k) && !l->degraded) {
            k->dirty = 1; /* give the slot back now: another node may be waiting for it */
            l->wake = 1;
            pthread_cond_signal(&l->cv);
        }
    }
    pthread_mutex_unlock(&l->mu);
}

void lq_limiter_settle(lq_limiter_t *l, const lq_limit_ticket_t *t, int64_t tok, int64_t usd)
{
    int i, j, u;

    pthread_mutex_lock(&l->mu);
    for (i = 0; i < t->n; i++) {
        for (u = LQ_UNIT_TOK; u <= LQ_UNIT_USD; u++) {
            int64_t diff = t->k[i].amount[u] - (u == LQ_UNIT_TOK ? tok : usd);
            if (t->k[i].amount[u] <= 0)
                continue;
            for (j = 0; j < 2; j++)
                lim_push_back(l, t->k[i].key, t->k[i].series[u][j], t->k[i].bucket[u][j], diff);
        }
    }
    pthread_mutex_unlock(&l->mu);
}

lq_err_t lq_limiter_usage(lq_limiter_t *l, const lq_limit_ask_t *a, lq_limit_usage_cb cb, void *arg)
{
    lim_waiter_t *w = waiter_new(a);
    int s;

    if (!w)
        return LQ_ERR_NOMEM;
    w->usage_cb = cb;
    w->arg = arg;
    pthread_mutex_lock(&l->mu);
    for (s = 0; s < LQ_LIMIT_SCOPE_COUNT; s++) {
        char key[LQ_LIMIT_KEY_MAX];
        lim_key_t *k;
        lq_limit_scope_key((lq_limit_scope_t)s, w->ask.ids[s], key);
        if (!key[0] || !(k = lim_key_get(l, (lq_limit_scope_t)s, key)))
            continue;
        memcpy(k->lim, a->limits->v[s], sizeof(k->lim));
        k->dirty = 1;
    }
    enqueue(l, w);
    pthread_mutex_unlock(&l->mu);
    return LQ_OK;
}

int lq_limiter_degraded(lq_limiter_t *l)
{
    int d;

    pthread_mutex_lock(&l->mu);
    d = l->degraded;
    pthread_mutex_unlock(&l->mu);
    return d;
}

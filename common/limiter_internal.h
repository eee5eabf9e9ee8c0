/* common/limiter_internal.h — the limiter's state, shared by its admission (limiter_admit.c)
 * and its exchanges with the ledger (limiter.c). Everything here is guarded by
 * lq_limiter.mu. */
#ifndef LQ_LIMITER_INTERNAL_H
#define LQ_LIMITER_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "common/hashmap.h"
#include "common/limiter.h"

#define LQ_LIMITER_IMMEDIATE_MS 100 /* the lease of a grant used as soon as it arrives */

/* Allowance of one unit granted to this node: usable until `expires` (monotonic ms). */
typedef struct lim_allowance {
    int64_t left;
    int64_t expires;
    int series[2];
    int64_t bucket[2];
} lim_allowance_t;

/* Counts admitted while the ledger could not be reached, by the ledger's buckets (written to
 * the ledger when it answers again). One ring per series. */
typedef struct lim_ring {
    int64_t width; /* ms; 0: a calendar series (day or month) */
    int n;
    int64_t *idx, *count;
} lim_ring_t;

typedef struct lim_key {
    char key[LQ_LIMIT_KEY_MAX];
    lq_limit_scope_t scope;
    int64_t lim[LQ_LIMIT_DIM_COUNT];
    lim_allowance_t al[LQ_UNIT_COUNT];
    /* the ledger's last answer, seen at seen_mono (ms from then) */
    int known;
    int64_t seen_mono;
    int64_t used[LQ_LIMIT_DIM_COUNT], reset_in[LQ_LIMIT_DIM_COUNT], free_in[LQ_LIMIT_DIM_COUNT];
    /* a unit the ledger refused: refused locally until ask_again, retry at retry_at */
    int64_t ask_again[LQ_UNIT_COUNT], retry_at[LQ_UNIT_COUNT];
    lq_limit_dim_t refused_dim[LQ_UNIT_COUNT];
    /* slots */
    int64_t slots_held, slots_used, slots_expires;
    int64_t slots_waiting;
    int slots_asked; /* the last exchange had slots for this key */
    /* demand */
    int64_t waiting[LQ_UNIT_COUNT], wait_min[LQ_UNIT_COUNT];
    int64_t rate_start, rate_count[LQ_UNIT_COUNT];
    int64_t last_used;          /* monotonic ms of its last decision: idle scopes are forgotten */
    double rate[LQ_UNIT_COUNT]; /* per second */
    int64_t last_need[LQ_UNIT_COUNT]; /* the last request's amount */
    int dirty;                        /* goes into the next exchange */
    /* what the exchange in flight asked for */
    int64_t sent_want[LQ_UNIT_COUNT], sent_lease, sent_mono;
    int sent_slots;
    /* degraded */
    int64_t deg_since;                    /* monotonic ms; 0 when not degraded */
    int64_t deg_used[LQ_LIMIT_DIM_COUNT]; /* the ledger's use when it was lost */
    lim_ring_t ring[7];                   /* by series 1..6 */
    int64_t unsynced[7]; /* written from the rings, not yet confirmed by the ledger */
} lim_key_t;

typedef struct lim_waiter {
    struct lim_waiter *next;
    lq_limit_ask_t ask;
    lq_limits_t limits;
    char ids[LQ_LIMIT_SCOPE_COUNT][LQ_LIMIT_KEY_MAX];
    lq_limit_cb cb;
    lq_limit_usage_cb usage_cb; /* a usage read instead of a take */
    void *arg;
} lim_waiter_t;

/* An amount given back to the ledger (negative: added). */
typedef struct lim_back {
    char key[LQ_LIMIT_KEY_MAX];
    int series;
    int64_t bucket, amount;
} lim_back_t;

struct lq_limiter {
    lq_limiter_options_t o;
    char node_id[128];
    char *conninfo;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int started, stop, wake;
    lq_hashmap_t *keys;
    lim_waiter_t *waiters, **waiters_tail;
    lim_back_t *back;
    size_t n_back, cap_back;
    lq_hashmap_t *back_index; /* "series|bucket|key" -> 1 + its index in back */
    int64_t nodes;            /* nodes seen by the ledger lately (>= 1) */
    int degraded;
    int rings_unflushed;   /* admitted without the ledger since the last flush of the rings */
    int64_t last_exchange; /* monotonic ms */
};

/* limiter_admit.c */
lim_key_t *lim_key_get(lq_limiter_t *l, lq_limit_scope_t s, const char *key);
void lim_key_free(lim_key_t *k);
lq_limit_outcome_t lim_decide(lq_limiter_t *l, const lq_limit_ask_t *a, lq_limit_verdict_t *v,
                              int final);
/** Units of k that a dimension limits; 1 when unit u is limited at k. */
int lim_unit_limited(const lim_key_t *k, lq_limit_unit_t u);
/** The grant size worth asking for unit u ahead of demand (0: ask only for what waits). */
int64_t lim_chunk(const lq_limiter_t *l, const lim_key_t *k, lq_limit_unit_t u);
int64_t lim_slots_wanted(const lq_limiter_t *l, const lim_key_t *k);
/** 1 when k holds so many more slots than it wants that some should go back now. */
int lim_slots_too_many(const lq_limiter_t *l, const lim_key_t *k);
void lim_push_back(lq_limiter_t *l, const char *key, int series, int64_t bucket, int64_t amount);
/** Move what was admitted without the ledger into l->back (counted in k->unsynced until an
 * exchange carries it). */
void lim_flush_rings(lq_limiter_t *l, lim_key_t *k);

#endif

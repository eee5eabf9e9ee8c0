/* common/limiter.h — the node's side of the limit ledger (ops/migrations/0008_limit_ledger.sql,
 * docs/limits.md "Enforcement"). A node admits requests from allowances that it takes from the
 * ledger in PostgreSQL: grants of requests, tokens and money per scope with a short lease, and
 * concurrency slots that it holds and renews. Most requests are decided in memory; a request
 * that needs more than the node holds waits for one exchange with the ledger (a background
 * thread batches every waiting request and every scope's renewal into one call). When the
 * ledger cannot be reached the node admits only its share of each limit (limit / nodes) and
 * says so (lq_limiter_degraded). */
#ifndef LQ_LIMITER_H
#define LQ_LIMITER_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/limits.h"

typedef struct lq_limiter lq_limiter_t;

typedef struct lq_limiter_options {
    const char *conninfo;  /* the ledger's database */
    const char *node_id;   /* unique per process */
    int64_t lease_ms;      /* how long a node may admit from one grant (<= 0: 1000) */
    int64_t slot_lease_ms; /* how long held slots live without renewal (<= 0: 5000) */
} lq_limiter_options_t;

typedef enum lq_limit_unit {
    LQ_UNIT_REQ = 0,
    LQ_UNIT_TOK,
    LQ_UNIT_USD,
    LQ_UNIT_COUNT
} lq_limit_unit_t;

typedef enum lq_limit_outcome {
    LQ_LIMIT_ADMIT = 0,
    LQ_LIMIT_RATE,   /* over a request or token rate, or concurrency: rate_limit_exceeded */
    LQ_LIMIT_QUOTA,  /* over a budget: insufficient_quota */
    LQ_LIMIT_PENDING /* decided later, by the callback */
} lq_limit_outcome_t;

/* What one request takes. */
typedef struct lq_limit_ask {
    const lq_limits_t *limits;
    const char *ids[LQ_LIMIT_SCOPE_COUNT]; /* tenant, project, user, key ids; NULL or "": no
                                              such scope (the installation needs none) */
    int64_t amount[LQ_UNIT_COUNT];         /* requests, tokens, micro-USD (worst cases) */
    int slot;                              /* takes a concurrency slot (lq_limiter_leave) */
} lq_limit_ask_t;

#define LQ_LIMIT_KEY_MAX 80

/* What an admitted request holds, to be given back. */
typedef struct lq_limit_ticket {
    int n;
    struct lq_limit_held {
        char key[LQ_LIMIT_KEY_MAX];
        int slot;
        int64_t amount[LQ_UNIT_COUNT];
        int series[LQ_UNIT_COUNT][2];
        int64_t bucket[LQ_UNIT_COUNT][2]; /* where the amount was granted */
    } k[LQ_LIMIT_SCOPE_COUNT];
} lq_limit_ticket_t;

/* The tightest request and token limits, for the x-ratelimit-* headers. */
typedef struct lq_limit_view {
    int has[2]; /* [0] requests, [1] tokens */
    int64_t limit[2], remaining[2], reset_ms[2];
} lq_limit_view_t;

typedef struct lq_limit_verdict {
    lq_limit_outcome_t outcome;
    lq_limit_scope_t scope; /* refusals: the limit that refused */
    lq_limit_dim_t dim;
    int64_t limit;
    int64_t retry_after_ms; /* refusals: when it fits again; -1 never (the limit is smaller) */
    int degraded;           /* decided without the ledger */
    lq_limit_view_t view;
    lq_limit_ticket_t ticket;
} lq_limit_verdict_t;

/** Called once, on the limiter's thread, for a pending take. */
typedef void (*lq_limit_cb)(void *arg, const lq_limit_verdict_t *v);

/* Use and reset time of every limited dimension of a request's scopes. */
typedef struct lq_limit_usage {
    int ok; /* 0: the ledger could not be reached */
    int64_t used[LQ_LIMIT_SCOPE_COUNT][LQ_LIMIT_DIM_COUNT];
    int64_t reset_ms[LQ_LIMIT_SCOPE_COUNT][LQ_LIMIT_DIM_COUNT]; /* from now */
} lq_limit_usage_t;

typedef void (*lq_limit_usage_cb)(void *arg, const lq_limit_usage_t *u);

lq_err_t lq_limiter_create(lq_limiter_t **out, const lq_limiter_options_t *o, char *errstr,
                           size_t errstr_size);
/** Stops the thread; pending takes are refused (degraded). NULL-safe. */
void lq_limiter_destroy(lq_limiter_t *l);

/** 1 when an ask takes anything that is limited (else the limiter need not be asked). */
int lq_limit_ask_limited(const lq_limit_ask_t *a);

/** Admit or refuse now (*v set), or LQ_LIMIT_PENDING: cb(arg, verdict) comes later. */
lq_limit_outcome_t lq_limiter_take(lq_limiter_t *l, const lq_limit_ask_t *a, lq_limit_verdict_t *v,
                                   lq_limit_cb cb, void *arg);
/** The request ended: its slots go back. */
void lq_limiter_leave(lq_limiter_t *l, const lq_limit_ticket_t *t);
/** The request ended having used tok tokens and usd micro-USD: the rest of what it took
 * goes back (more is added when it used more). Does not release slots. */
void lq_limiter_settle(lq_limiter_t *l, const lq_limit_ticket_t *t, int64_t tok, int64_t usd);
/** Current use of a's scopes, read from the ledger (takes nothing); cb on the thread. */
lq_err_t lq_limiter_usage(lq_limiter_t *l, const lq_limit_ask_t *a, lq_limit_usage_cb cb,
                          void *arg);

/** A refusal in OpenAI's terms: "Rate limit reached for requests per minute (rpm) of the
 * tenant: limit 20." (or "Budget reached for USD per day ...: limit 5.00 USD.") into msg, and
 * the error's type ("requests", "tokens" or "insufficient_quota") and code
 * ("rate_limit_exceeded" or "insufficient_quota"). Callers add when to retry. */
void lq_limit_refusal(const lq_limit_verdict_t *v, char *msg, size_t n, const char **type,
                      const char **code);

/** 1 while the ledger cannot be reached. */
int lq_limiter_degraded(lq_limiter_t *l);

/** The scope key of scope s and id ("t:acme"); "" when the request has no such scope. */
void lq_limit_scope_key(lq_limit_scope_t s, const char *id, char out[LQ_LIMIT_KEY_MAX]);
/** The unit a dimension counts. */
lq_limit_unit_t lq_limit_dim_unit(lq_limit_dim_t d);

#endif

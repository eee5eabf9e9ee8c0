/* common/limits.h — the limits that apply to a request, as a compact struct: per scope
 * (tenant, project, user, key, installation) one value per dimension (requests per
 * minute/hour/day, tokens per minute/day, USD per day/month, requests in flight), or
 * LQ_LIMIT_NONE. Read once from the resolved JSON that the key lookup returns (the
 * database's limits_resolved, ops/migrations/0007_limits.sql); see docs/limits.md. */
#ifndef LQ_LIMITS_H
#define LQ_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"

typedef enum lq_limit_dim {
    LQ_LIMIT_RPM = 0,
    LQ_LIMIT_RPH,
    LQ_LIMIT_RPD,
    LQ_LIMIT_TPM,
    LQ_LIMIT_TPD,
    LQ_LIMIT_USD_PER_DAY, /* micro-USD */
    LQ_LIMIT_USD_PER_MONTH,
    LQ_LIMIT_CONCURRENT,
    LQ_LIMIT_DIM_COUNT
} lq_limit_dim_t;

typedef enum lq_limit_scope {
    LQ_SCOPE_TENANT = 0,
    LQ_SCOPE_PROJECT,
    LQ_SCOPE_USER,
    LQ_SCOPE_KEY,
    LQ_SCOPE_INSTALLATION,
    LQ_LIMIT_SCOPE_COUNT
} lq_limit_scope_t;

#define LQ_LIMIT_NONE    (-1)                      /* no limit */
#define LQ_LIMIT_MAX     INT64_C(1000000000000000) /* the largest count (10^15) */
#define LQ_LIMIT_USD_MAX 1000000000.0              /* the largest amount, USD */
#define LQ_MICRO_USD     1000000

typedef struct lq_limits {
    char tier[64];
    int weight; /* the tier's share of worker capacity, 1-1000 */
    int64_t v[LQ_LIMIT_SCOPE_COUNT][LQ_LIMIT_DIM_COUNT]; /* money in micro-USD */
} lq_limits_t;

/** The JSON name of a dimension ("rpm") or scope ("tenant"); NULL when out of range. */
const char *lq_limit_dim_name(lq_limit_dim_t d);
const char *lq_limit_scope_name(lq_limit_scope_t s);
/** 1 when the dimension is an amount of money (micro-USD in the struct, USD in JSON). */
int lq_limit_dim_is_usd(lq_limit_dim_t d);

/** Every value LQ_LIMIT_NONE, tier "", weight 1. */
void lq_limits_unlimited(lq_limits_t *l);

/** The resolved limits JSON {"tier","weight","tenant":{dims},...,"installation":{dims}}
 * into *out. Refuses (LQ_ERR_INVALID, errstr naming the field) what the database never
 * writes: unknown scopes or dimensions, values that are not numbers, negative, fractional
 * counts, amounts beyond the maxima, a weight outside 1-1000. A missing scope has no
 * limits; null is no limit. */
lq_err_t lq_limits_parse(const char *json, lq_limits_t *out, char *errstr, size_t errstr_size);

/** The limits as the JSON that lq_limits_parse reads ({"tier","weight","tenant":{...},...}),
 * into out (NUL-terminated). The length; 0 (out "") when nothing is limited; -1 when it
 * does not fit in n bytes. */
int lq_limits_format(const lq_limits_t *l, char *out, size_t n);

/** {"tier","weight","scopes":{"tenant":{...},...}}: the limits set, in their JSON units.
 * New reference, NULL without memory. */
json_t *lq_limits_to_json(const lq_limits_t *l);

#endif

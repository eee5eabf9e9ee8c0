/* The limits of a request as a struct. See common/limits.h. */
#include "common/limits.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct dim_row {
    const char *name;
    int usd;
} dims[LQ_LIMIT_DIM_COUNT] = {
    [LQ_LIMIT_RPM] = {"rpm", 0},
    [LQ_LIMIT_RPH] = {"rph", 0},
    [LQ_LIMIT_RPD] = {"rpd", 0},
    [LQ_LIMIT_TPM] = {"tpm", 0},
    [LQ_LIMIT_TPD] = {"tpd", 0},
    [LQ_LIMIT_USD_PER_DAY] = {"usd_per_day", 1},
    [LQ_LIMIT_USD_PER_MONTH] = {"usd_per_month", 1},
    [LQ_LIMIT_CONCURRENT] = {"concurrent", 0},
};

static const char *const scopes[LQ_LIMIT_SCOPE_COUNT] = {
    [LQ_SCOPE_TENANT] = "tenant",
    [LQ_SCOPE_PROJECT] = "project",
    [LQ_SCOPE_USER] = "user",
    [LQ_SCOPE_KEY] = "key",
    [LQ_SCOPE_INSTALLATION] = "installation",
};

const char *lq_limit_dim_name(lq_limit_dim_t d)
{
    return (unsigned)d < LQ_LIMIT_DIM_COUNT ? dims[d].name : NULL;
}

const char *lq_limit_scope_name(lq_limit_scope_t s)
{
    return (unsigned)s < LQ_LIMIT_SCOPE_COUNT ? scopes[s] : NULL;
}

int lq_limit_dim_is_usd(lq_limit_dim_t d)
{
    return (unsigned)d < LQ_LIMIT_DIM_COUNT && dims[d].usd;
}

static int dim_of(const char *name)
{
    int d;

    for (d = 0; d < LQ_LIMIT_DIM_COUNT; d++)
        if (!strcmp(name, dims[d].name))
            return d;
    return -1;
}

static int scope_of(const char *name)
{
    int s;

    for (s = 0; s < LQ_LIMIT_SCOPE_COUNT; s++)
        if (!strcmp(name, scopes[s]))
            return s;
    return -1;
}

void lq_limits_unlimited(lq_limits_t *l)
{
    int s, d;

    memset(l, 0, sizeof(*l));
    l->weight = 1;
    for (s = 0; s < LQ_LIMIT_SCOPE_COUNT; s++)
        for (d = 0; d < LQ_LIMIT_DIM_COUNT; d++)
            l->v[s][d] = LQ_LIMIT_NONE;
}

/* A whole number in [0, max] (PostgreSQL may write 5 as 5.0); -1 when it is not one. */
static int64_t whole_number(const json_t *v, int64_t max)
{
    double x;

    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        return i >= 0 && i <= max ? (int64_t)i : -1;
    }
    if (!json_is_real(v))
        return -1;
    x = json_real_value(v);
    return x >= 0 && x <= (double)max && x == floor(x) ? (int64_t)x : -1;
}

/* An amount of USD in [0, LQ_LIMIT_USD_MAX] as micro-USD; -1 when it is not one. */
static int64_t micro_usd(const json_t *v)
{
    double x;

    if (!json_is_number(v))
        return -1;
    x = json_number_value(v);
    return x >= 0 && x <= LQ_LIMIT_USD_MAX ? (int64_t)llround(x * LQ_MICRO_USD) : -1;
}

static lq_err_t parse_scope(const json_t *o, int s, lq_limits_t *out, char *errstr,
                            size_t errstr_size)
{
    const char *k;
    json_t *v;

    if (!json_is_object(o)) {
        snprintf(errstr, errstr_size, "limits: %s is not an object", scopes[s]);
        return LQ_ERR_INVALID;
    }
    json_object_foreach((json_t *)o, k, v)
    {
        int d = dim_of(k);
        int64_t x;
        if (d < 0) {
            snprintf(errstr, errstr_size, "limits: %s.%.40s is no known limit", scopes[s], k);
            return LQ_ERR_INVALID;
        }
        if (json_is_null(v))
            continue;
        x = dims[d].usd ? micro_usd(v) : whole_number(v, LQ_LIMIT_MAX);
        if (x < 0) {
            snprintf(errstr, errstr_size, "limits: %s.%s is not a valid limit", scopes[s], k);
            return LQ_ERR_INVALID;
        }
        out->v[s][d] = x;
    }
    return LQ_OK;
}

/* The top level: tier, weight and the scopes. */
static lq_err_t parse_top(json_t *root, lq_limits_t *out, char *errstr, size_t errstr_size)
{
    const char *k;
    json_t *v;
    lq_err_t err;

    json_object_foreach(root, k, v)
    {
        int s = scope_of(k);
        if (s >= 0) {
            if ((err = parse_scope(v, s, out, errstr, errstr_size)) != LQ_OK)
                return err;
        } else if (!strcmp(k, "tier") && json_is_string(v) &&
                   json_string_length(v) < sizeof(out->tier)) {
            snprintf(out->tier, sizeof(out->tier), "%s", json_string_value(v));
        } else if (!strcmp(k, "weight") && whole_number(v, 1000) >= 1) {
            out->weight = (int)whole_number(v, 1000);
        } else {
            snprintf(errstr, errstr_size, "limits: %.40s is unknown or not valid", k);
            return LQ_ERR_INVALID;
        }
    }
    return LQ_OK;
}

lq_err_t lq_limits_parse(const char *json, lq_limits_t *out, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = json ? json_loads(json, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    lq_err_t err;

    lq_limits_unlimited(out);
    if (!json_is_object(root)) {
        snprintf(errstr, errstr_size, "limits: not a JSON object");
        json_decref(root);
        return LQ_ERR_INVALID;
    }
    err = parse_top(root, out, errstr, errstr_size);
    json_decref(root);
    if (err != LQ_OK)
        lq_limits_unlimited(out);
    return err;
}

static json_t *scope_json(const lq_limits_t *l, int s)
{
    json_t *o = json_object();
    int d;

    for (d = 0; o && d < LQ_LIMIT_DIM_COUNT; d++) {
        int64_t x = l->v[s][d];
        if (x == LQ_LIMIT_NONE)
            continue;
        json_object_set_new(o, dims[d].name,
                            dims[d].usd ? json_real((double)x / LQ_MICRO_USD)
                                        : json_integer((json_int_t)x));
    }
    return o;
}

json_t *lq_limits_to_json(const lq_limits_t *l)
{
    json_t *out = json_pack("{s:s,s:i,s:{}}", "tier", l->tier, "weight", l->weight, "scopes");
    json_t *sc = out ? json_object_get(out, "scopes") : NULL;
    int s;

    for (s = 0; sc && s < LQ_LIMIT_SCOPE_COUNT; s++)
        json_object_set_new(sc, scopes[s], scope_json(l, s));
    return out;
}

/* Append the text of fmt to out at *len; 0, or -1 when it does not fit. */
static int append(char *out, size_t n, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int append(char *out, size_t n, size_t *len, const char *fmt, ...)
{
    va_list ap;
    int w;

    va_start(ap, fmt);
    w = vsnprintf(out + *len, n - *len, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= n - *len)
        return -1;
    *len += (size_t)w;
    return 0;
}

static int format_scope(const lq_limits_t *l, int s, char *out, size_t n, size_t *len)
{
    int d, first = 1, err = 0;

    for (d = 0; d < LQ_LIMIT_DIM_COUNT && !err; d++) {
        int64_t x = l->v[s][d];
        if (x == LQ_LIMIT_NONE)
            continue;
        err = append(out, n, len, "%s\"%s\":", first ? "" : ",", dims[d].name);
        if (!err && dims[d].usd)
            err = append(out, n, len, "%lld.%06lld", (long long)(x / LQ_MICRO_USD),
                         (long long)(x % LQ_MICRO_USD));
        else if (!err)
            err = append(out, n, len, "%lld", (long long)x);
        first = 0;
    }
    return err;
}

int lq_limits_format(const lq_limits_t *l, char *out, size_t n)
{
    size_t len = 0;
    int s, d, any = 0;

    if (n == 0 || strpbrk(l->tier, "\"\\") ||
        append(out, n, &len, "{\"tier\":\"%s\",\"weight\":%d", l->tier, l->weight))
        return -1;
    for (s = 0; s < LQ_LIMIT_SCOPE_COUNT; s++) {
        int limited = 0;
        for (d = 0; d < LQ_LIMIT_DIM_COUNT; d++)
            limited |= l->v[s][d] != LQ_LIMIT_NONE;
        if (!limited)
            continue;
        any = 1;
        if (append(out, n, &len, ",\"%s\":{", scopes[s]) || format_scope(l, s, out, n, &len) ||
            append(out, n, &len, "}"))
            return -1;
    }
    if (!any) {
        out[0] = '\0';
        return 0;
    }
    return append(out, n, &len, "}") ? -1 : (int)len;
}

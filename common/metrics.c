#include "common/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"

enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM };

static const double bucket_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                       0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
#define N_BUCKETS (sizeof(bucket_bounds) / sizeof(bucket_bounds[0]))

struct lq_metric {
    enum kind kind;
    char *name, *help, *labels;
    _Atomic int64_t value;
    _Atomic uint64_t buckets[N_BUCKETS + 1]; /* last = +Inf */
    _Atomic uint64_t sum_us;
    _Atomic uint64_t count;
    struct lq_metric *next; /* registration order */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static lq_hashmap_t *reg_map;
static lq_metric_t *reg_head, *reg_tail;

static lq_metric_t *get_or_create(enum kind kind, const char *name, const char *help,
                                  const char *labels)
{
    char key[512];
    lq_metric_t *m;

    snprintf(key, sizeof(key), "%s{%s}", name, labels ? labels : "");
    pthread_mutex_lock(&reg_lock);
    if (!reg_map)
        reg_map = lq_hashmap_create(64);
    m = reg_map ? lq_hashmap_get(reg_map, key) : NULL;
    if (!m && reg_map) {
        m = calloc(1, sizeof(*m));
        if (m) {
            m->kind = kind;
            m->name = strdup(name);
            m->help = strdup(help ? help : "");
            m->labels = strdup(labels ? labels : "");
            if (!m->name || !m->help || !m->labels || lq_hashmap_put(reg_map, key, m) != LQ_OK) {
                free(m->name);
                free(m->help);
                free(m->labels);
                free(m);
                m = NULL;
            } else if (reg_tail) {
                reg_tail->next = m;
                reg_tail = m;
            } else {
                reg_head = reg_tail = m;
            }
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return m;
}

lq_metric_t *lq_metrics_counter(const char *name, const char *help, const char *labels)
{
    return get_or_create(K_COUNTER, name, help, labels);
}

lq_metric_t *lq_metrics_gauge(const char *name, const char *help, const char *labels)
{
    return get_or_create(K_GAUGE, name, help, labels);
}

lq_metric_t *lq_metrics_histogram(const char *name, const char *help, const char *labels)
{
    return get_or_create(K_HISTOGRAM, name, help, labels);
}

void lq_metric_add(lq_metric_t *m, int64_t delta)
{
    if (m)
        atomic_fetch_add_explicit(&m->value, delta, memory_order_relaxed);
}

void lq_metric_set(lq_metric_t *m, int64_t value)
{
    if (m)
        atomic_store_explicit(&m->value, value, memory_order_relaxed);
}

void lq_metric_observe_us(lq_metric_t *m, int64_t us)
{
    double s = (double)us / 1e6;
    size_t i;

    if (!m)
        return;
    if (us < 0)
        us = 0;
    for (i = 0; i < N_BUCKETS && s > bucket_bounds[i]; i++)
        ;
    atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->sum_us, (uint64_t)us, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
}

typedef struct buf {
    char *p;
    size_t len, cap;
    int failed;
} buf_t;

static void bprintf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        {
            size_t ncap = (b->cap + (size_t)n + 1) * 2;
            char *np = realloc(b->p, ncap);
            if (!np) {
                b->failed = 1;
                return;
            }
            b->p = np;
            b->cap = ncap;
        }
    }
}

static void render_one(buf_t *b, lq_metric_t *m)
{
    const char *sep = *m->labels ? "," : "";

    if (m->kind == K_HISTOGRAM) {
        uint64_t cum = 0;
        size_t i;
        for (i = 0; i <= N_BUCKETS; i++) {
            cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
            if (i < N_BUCKETS)
                bprintf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", m->name, m->labels, sep,
                        bucket_bounds[i], (unsigned long long)cum);
            else
                bprintf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", m->name, m->labels, sep,
                        (unsigned long long)cum);
        }
        bprintf(b, "%s_sum%s%s%s %.6f\n", m->name, *m->labels ? "{" : "", m->labels,
                *m->labels ? "}" : "", (double)atomic_load(&m->sum_us) / 1e6);
        bprintf(b, "%s_count%s%s%s %llu\n", m->name, *m->labels ? "{" : "", m->labels,
                *m->labels ? "}" : "", (unsigned long long)atomic_load(&m->count));
    } else if (*m->labels) {
        bprintf(b, "%s{%s} %lld\n", m->name, m->labels, (long long)atomic_load(&m->value));
    } else {
        bprintf(b, "%s %lld\n", m->name, (long long)atomic_load(&m->value));
    }
}

char *lq_metrics_render(size_t *len)
{
    buf_t b = {malloc(4096), 0, 4096, 0};
    lq_metric_t *m;

    if (!b.p)
        return NULL;
    b.p[0] = '\0';
    pthread_mutex_lock(&reg_lock);
    for (m = reg_head; m; m = m->next) {
        lq_metric_t *prev, *x;
        int seen = 0;
        for (prev = reg_head; prev != m; prev = prev->next)
            if (strcmp(prev->name, m->name) == 0)
                seen = 1;
        if (seen)
            continue; /* the family was written with its first member */
        {
            static const char *const types[] = {"counter", "gauge", "histogram"};
            bprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, types[m->kind]);
        }
        for (x = m; x; x = x->next)
            if (strcmp(x->name, m->name) == 0)
                render_one(&b, x);
    }
    pthread_mutex_unlock(&reg_lock);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

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

/* The series of one name: one HELP/TYPE header, its members in registration order. */
typedef struct family {
    enum kind kind;
    char *name, *help;
    struct lq_metric *head, *tail;
    struct family *next; /* registration order */
} family_t;

struct lq_metric {
    family_t *family;
    char *labels;
    _Atomic int64_t value;
    _Atomic uint64_t real_bits; /* lq_metric_add_real's sum: the bits of a double, 0 = 0.0 */
    _Atomic uint64_t buckets[N_BUCKETS + 1]; /* last = +Inf */
    _Atomic uint64_t sum_us;
    _Atomic uint64_t count;
    struct lq_metric *next; /* in its family */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static lq_hashmap_t *reg_series;   /* "name{labels}" -> lq_metric_t */
static lq_hashmap_t *reg_families; /* name -> family_t */
static family_t *fam_head, *fam_tail;

/* The family called name, made when new; NULL on allocation failure or another kind. */
static family_t *family_of(enum kind kind, const char *name, const char *help)
{
    family_t *f = lq_hashmap_get(reg_families, name);

    if (f)
        return f->kind == kind ? f : NULL;
    f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->kind = kind;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help || lq_hashmap_put(reg_families, name, f) != LQ_OK) {
        free(f->name);
        free(f->help);
        free(f);
        return NULL;
    }
    if (fam_tail)
        fam_tail->next = f;
    else
        fam_head = f;
    fam_tail = f;
    return f;
}

/* A new series of f under key; NULL on allocation failure. */
static lq_metric_t *series_new(family_t *f, const char *key, const char *labels)
{
    lq_metric_t *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    m->family = f;
    m->labels = strdup(labels ? labels : "");
    if (!m->labels || lq_hashmap_put(reg_series, key, m) != LQ_OK) {
        free(m->labels);
        free(m);
        return NULL;
    }
    if (f->tail)
        f->tail->next = m;
    else
        f->head = m;
    f->tail = m;
    return m;
}

static lq_metric_t *get_or_create(enum kind kind, const char *name, const char *help,
                                  const char *labels)
{
    size_t size = strlen(name) + (labels ? strlen(labels) : 0) + 3;
    char *key = malloc(size);
    lq_metric_t *m = NULL;
    family_t *f;

    if (!key)
        return NULL;
    snprintf(key, size, "%s{%s}", name, labels ? labels : "");
    pthread_mutex_lock(&reg_lock);
    if (!reg_series)
        reg_series = lq_hashmap_create(64);
    if (!reg_families)
        reg_families = lq_hashmap_create(64);
    if (!reg_series || !reg_families)
        goto out;
    m = lq_hashmap_get(reg_series, key);
    if (m) {
        if (m->family->kind != kind)
            m = NULL;
        goto out;
    }
    f = family_of(kind, name, help);
    if (f)
        m = series_new(f, key, labels);
out:
    pthread_mutex_unlock(&reg_lock);
    free(key);
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

static double bits_to_double(uint64_t bits)
{
    double d;

    memcpy(&d, &bits, sizeof(d));
    return d;
}

void lq_metric_add_real(lq_metric_t *m, double delta)
{
    uint64_t old, sum;
    double d;

    if (!m || delta == 0.0)
        return;
    old = atomic_load_explicit(&m->real_bits, memory_order_relaxed);
    do {
        d = bits_to_double(old) + delta;
        memcpy(&sum, &d, sizeof(sum));
    } while (!atomic_compare_exchange_weak_explicit(&m->real_bits, &old, sum, memory_order_relaxed,
                                                    memory_order_relaxed));
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

/* ---- rendering ---- */

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

static void render_histogram(buf_t *b, const char *name, const lq_metric_t *m)
{
    const char *sep = *m->labels ? "," : "";
    const char *open = *m->labels ? "{" : "", *close = *m->labels ? "}" : "";
    uint64_t cum = 0;
    size_t i;

    for (i = 0; i <= N_BUCKETS; i++) {
        cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
        if (i < N_BUCKETS)
            bprintf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, m->labels, sep, bucket_bounds[i],
                    (unsigned long long)cum);
        else
            bprintf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, m->labels, sep,
                    (unsigned long long)cum);
    }
    bprintf(b, "%s_sum%s%s%s %.6f\n", name, open, m->labels, close,
            (double)atomic_load(&m->sum_us) / 1e6);
    bprintf(b, "%s_count%s%s%s %llu\n", name, open, m->labels, close,
            (unsigned long long)atomic_load(&m->count));
}

static void render_one(buf_t *b, const family_t *f, const lq_metric_t *m)
{
    long long v = (long long)atomic_load(&m->value);
    double real = bits_to_double(atomic_load(&m->real_bits));
    const char *open = *m->labels ? "{" : "", *close = *m->labels ? "}" : "";

    if (f->kind == K_HISTOGRAM)
        render_histogram(b, f->name, m);
    else if (real != 0.0)
        bprintf(b, "%s%s%s%s %.15g\n", f->name, open, m->labels, close, (double)v + real);
    else
        bprintf(b, "%s%s%s%s %lld\n", f->name, open, m->labels, close, v);
}

char *lq_metrics_render(size_t *len)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    buf_t b = {malloc(4096), 0, 4096, 0};
    const family_t *f;
    const lq_metric_t *m;

    if (!b.p)
        return NULL;
    b.p[0] = '\0';
    pthread_mutex_lock(&reg_lock);
    for (f = fam_head; f; f = f->next) {
        bprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, types[f->kind]);
        for (m = f->head; m; m = m->next)
            render_one(&b, f, m);
    }
    pthread_mutex_unlock(&reg_lock);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

int lq_metrics_label_escape(char *dst, size_t dst_size, const char *value)
{
    size_t o = 0;

    if (!dst_size)
        return -1;
    for (; *value; value++) {
        const char *rep = *value == '\\'   ? "\\\\"
                          : *value == '"'  ? "\\\""
                          : *value == '\n' ? "\\n"
                                           : NULL;
        size_t n = rep ? 2 : 1;
        if (o + n >= dst_size) {
            dst[0] = '\0';
            return -1;
        }
        if (rep)
            memcpy(dst + o, rep, 2);
        else
            dst[o] = *value;
        o += n;
    }
    dst[o] = '\0';
    return 0;
}

/* ---- capped label values ---- */

struct lq_metric_cap {
    pthread_rwlock_t lock;
    lq_hashmap_t *entries; /* value -> entry, for the values admitted */
    void *other;           /* LQ_METRIC_CAP_OTHER's entry, made when first needed */
    size_t max, n;
    lq_metric_cap_make_fn make;
    void *arg;
    void *own_arg; /* freed with the cap (lq_metrics_capped_counters' spec) */
    void (*free_arg)(void *arg);
};

lq_metric_cap_t *lq_metric_cap_create(size_t max_values, lq_metric_cap_make_fn make, void *arg)
{
    lq_metric_cap_t *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->entries = lq_hashmap_create(max_values < 64 ? 16 : 64);
    if (!c->entries || pthread_rwlock_init(&c->lock, NULL) != 0) {
        lq_hashmap_destroy(c->entries);
        free(c);
        return NULL;
    }
    c->max = max_values;
    c->make = make;
    c->arg = arg;
    return c;
}

static void free_entry(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

void lq_metric_cap_destroy(lq_metric_cap_t *c)
{
    if (!c)
        return;
    lq_hashmap_foreach(c->entries, free_entry, NULL);
    lq_hashmap_destroy(c->entries);
    free(c->other);
    if (c->free_arg)
        c->free_arg(c->own_arg);
    pthread_rwlock_destroy(&c->lock);
    free(c);
}

/* value's entry, made when new; under the write lock. */
static void *cap_admit(lq_metric_cap_t *c, const char *value)
{
    void *e = lq_hashmap_get(c->entries, value);

    if (e)
        return e;
    if (c->n < c->max) {
        e = c->make(c->arg, value);
        if (e && lq_hashmap_put(c->entries, value, e) != LQ_OK) {
            free(e);
            e = NULL;
        }
        if (e)
            c->n++;
        return e;
    }
    if (!c->other)
        c->other = c->make(c->arg, LQ_METRIC_CAP_OTHER);
    return c->other;
}

void *lq_metric_cap_get(lq_metric_cap_t *c, const char *value)
{
    void *e;

    if (!c || !value)
        return NULL;
    pthread_rwlock_rdlock(&c->lock);
    e = lq_hashmap_get(c->entries, value);
    if (!e && c->n >= c->max)
        e = c->other;
    pthread_rwlock_unlock(&c->lock);
    if (e)
        return e;
    pthread_rwlock_wrlock(&c->lock);
    e = cap_admit(c, value);
    pthread_rwlock_unlock(&c->lock);
    return e;
}

size_t lq_metric_cap_count(lq_metric_cap_t *c)
{
    size_t n;

    if (!c)
        return 0;
    pthread_rwlock_rdlock(&c->lock);
    n = c->n;
    pthread_rwlock_unlock(&c->lock);
    return n;
}

/* lq_metrics_capped_counters: what each entry is made of. */
typedef struct capped_spec {
    char *name, *help, *label;
    char **variants;
    size_t n_variants;
} capped_spec_t;

static void spec_free(void *arg)
{
    capped_spec_t *s = arg;
    size_t i;

    if (!s)
        return;
    for (i = 0; s->variants && i < s->n_variants; i++)
        free(s->variants[i]);
    free(s->variants);
    free(s->name);
    free(s->help);
    free(s->label);
    free(s);
}

static void *capped_make(void *arg, const char *value)
{
    const capped_spec_t *s = arg;
    size_t n = s->n_variants ? s->n_variants : 1, i;
    lq_metric_t **e = calloc(n, sizeof(*e));
    char escaped[512], labels[1024];
    int len;

    if (!e || lq_metrics_label_escape(escaped, sizeof(escaped), value))
        goto fail;
    for (i = 0; i < n; i++) {
        len = snprintf(labels, sizeof(labels), "%s=\"%s\"%s%s", s->label, escaped,
                       s->n_variants ? "," : "", s->n_variants ? s->variants[i] : "");
        if (len < 0 || (size_t)len >= sizeof(labels))
            goto fail;
        e[i] = lq_metrics_counter(s->name, s->help, labels);
        if (!e[i])
            goto fail;
    }
    return e;
fail:
    free(e);
    return NULL;
}

static capped_spec_t *spec_new(const char *name, const char *help, const char *label,
                               const char *const *variants, size_t n_variants)
{
    capped_spec_t *s = calloc(1, sizeof(*s));
    size_t i;

    if (!s)
        return NULL;
    s->name = strdup(name);
    s->help = strdup(help ? help : "");
    s->label = strdup(label);
    s->variants = n_variants ? calloc(n_variants, sizeof(*s->variants)) : NULL;
    s->n_variants = n_variants;
    if (!s->name || !s->help || !s->label || (n_variants && !s->variants))
        goto fail;
    for (i = 0; i < n_variants; i++) {
        s->variants[i] = strdup(variants[i]);
        if (!s->variants[i])
            goto fail;
    }
    return s;
fail:
    spec_free(s);
    return NULL;
}

lq_metric_cap_t *lq_metrics_capped_counters(const char *name, const char *help, const char *label,
                                            const char *const *variants, size_t n_variants,
                                            size_t max_values)
{
    capped_spec_t *s = spec_new(name, help, label, variants, n_variants);
    lq_metric_cap_t *c = s ? lq_metric_cap_create(max_values, capped_make, s) : NULL;

    if (!c) {
        spec_free(s);
        return NULL;
    }
    c->own_arg = s;
    c->free_arg = spec_free;
    return c;
}

lq_metric_t *const *lq_metrics_capped_get(lq_metric_cap_t *c, const char *value)
{
    return lq_metric_cap_get(c, value);
}

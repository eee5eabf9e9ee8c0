/* Weighted fair queueing across tenants: per-tenant FIFOs, a heap of the backlogged tenants
 * ordered by their head's start tag, and a virtual time (start-time fair queueing). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "workers/fair_queue.h"

#define COST_SCALE  1000000ULL /* virtual time of one item of weight 1 */
#define NOT_IN_HEAP SIZE_MAX
#define SWEEP_MIN   64 /* idle tenants kept before a sweep */

typedef struct fq_tenant fq_tenant_t;

struct worker_fairq_entry {
    worker_fairq_entry_t *prev, *next;
    fq_tenant_t *tenant;
    void *item;
    uint64_t start, seq;
};

struct fq_tenant {
    char *name;
    worker_fairq_entry_t *head, *tail;
    size_t len, aside;
    uint64_t last_finish;
    size_t heap_idx;
    int64_t held_until; /* > 0: out of the heap until then (worker_fairq_hold) */
};

struct worker_fairq {
    lq_hashmap_t *tenants; /* name -> fq_tenant_t */
    fq_tenant_t **heap;    /* tenants with items, by (head start, head seq) */
    size_t heap_len, heap_cap;
    uint64_t vtime, seq;
    size_t total, tenant_max, total_max;
    size_t sweep_at;    /* tenants known when the next sweep is due */
    fq_tenant_t **held; /* tenants held (worker_fairq_hold) */
    size_t n_held, cap_held;
};

/* ---- the heap of backlogged tenants ---- */

static int before(const fq_tenant_t *a, const fq_tenant_t *b)
{
    if (a->head->start != b->head->start)
        return a->head->start < b->head->start;
    return a->head->seq < b->head->seq;
}

static void heap_set(worker_fairq_t *q, size_t i, fq_tenant_t *t)
{
    q->heap[i] = t;
    t->heap_idx = i;
}

static void sift_up(worker_fairq_t *q, size_t i)
{
    fq_tenant_t *t = q->heap[i];

    while (i > 0 && before(t, q->heap[(i - 1) / 2])) {
        heap_set(q, i, q->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(q, i, t);
}

static void sift_down(worker_fairq_t *q, size_t i)
{
    fq_tenant_t *t = q->heap[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->heap_len)
            break;
        if (c + 1 < q->heap_len && before(q->heap[c + 1], q->heap[c]))
            c++;
        if (!before(q->heap[c], t))
            break;
        heap_set(q, i, q->heap[c]);
        i = c;
    }
    heap_set(q, i, t);
}

static int heap_push(worker_fairq_t *q, fq_tenant_t *t)
{
    if (q->heap_len == q->heap_cap) {
        size_t cap = q->heap_cap ? q->heap_cap * 2 : 16;
        fq_tenant_t **h = realloc(q->heap, cap * sizeof(*h));
        if (!h)
            return -1;
        q->heap = h;
        q->heap_cap = cap;
    }
    q->heap[q->heap_len] = t;
    t->heap_idx = q->heap_len++;
    sift_up(q, t->heap_idx);
    return 0;
}

static void heap_remove(worker_fairq_t *q, fq_tenant_t *t)
{
    size_t i = t->heap_idx;
    fq_tenant_t *last = q->heap[--q->heap_len];

    t->heap_idx = NOT_IN_HEAP;
    if (last == t)
        return;
    heap_set(q, i, last);
    sift_down(q, i);
    sift_up(q, last->heap_idx);
}

/* ---- tenants ---- */

static void tenant_free(fq_tenant_t *t)
{
    if (t) {
        free(t->name);
        free(t);
    }
}

static fq_tenant_t *tenant_get(worker_fairq_t *q, const char *name)
{
    fq_tenant_t *t = lq_hashmap_get(q->tenants, name);

    if (t)
        return t;
    t = calloc(1, sizeof(*t));
    if (!t || !(t->name = strdup(name)) || lq_hashmap_put(q->tenants, name, t) != LQ_OK) {
        tenant_free(t);
        return NULL;
    }
    t->heap_idx = NOT_IN_HEAP;
    return t;
}

typedef struct sweep {
    const worker_fairq_t *q;
    fq_tenant_t **out;
    size_t n, cap;
} sweep_t;

static void sweep_one(const char *key, void *value, void *arg)
{
    sweep_t *s = arg;
    fq_tenant_t *t = value;

    (void)key;
    if (!t->len && !t->aside && !t->held_until && t->last_finish <= s->q->vtime && s->n < s->cap)
        s->out[s->n++] = t;
}

/* Forget idle tenants whose last finish tag the virtual time has passed: they would start at
 * the virtual time anyway. Runs when idle ones outnumber the backlogged ones (amortised). */
static void sweep_idle(worker_fairq_t *q)
{
    size_t known = lq_hashmap_size(q->tenants), i;
    sweep_t s = {q, NULL, 0, known};

    if (known < q->sweep_at || known < 4 * q->heap_len + SWEEP_MIN)
        return;
    if (!(s.out = malloc(known * sizeof(*s.out))))
        return;
    lq_hashmap_foreach(q->tenants, sweep_one, &s);
    for (i = 0; i < s.n; i++) {
        lq_hashmap_remove(q->tenants, s.out[i]->name);
        tenant_free(s.out[i]);
    }
    free(s.out);
    q->sweep_at = 2 * lq_hashmap_size(q->tenants) + SWEEP_MIN; /* amortised: O(1) per pick */
}

/* ---- the queue ---- */

worker_fairq_t *worker_fairq_create(size_t tenant_max, size_t total_max)
{
    worker_fairq_t *q = calloc(1, sizeof(*q));

    if (!q || !(q->tenants = lq_hashmap_create(256))) {
        free(q);
        return NULL;
    }
    q->tenant_max = tenant_max ? tenant_max : 1;
    q->total_max = total_max ? total_max : 1;
    q->sweep_at = SWEEP_MIN;
    return q;
}

static void free_tenant_cb(const char *key, void *value, void *arg)
{
    fq_tenant_t *t = value;
    worker_fairq_entry_t *e = t->head, *next;

    (void)key;
    (void)arg;
    for (; e; e = next) {
        next = e->next;
        free(e);
    }
    tenant_free(t);
}

void worker_fairq_destroy(worker_fairq_t *q)
{
    if (!q)
        return;
    lq_hashmap_foreach(q->tenants, free_tenant_cb, NULL);
    lq_hashmap_destroy(q->tenants);
    free(q->heap);
    free(q->held);
    free(q);
}

int worker_fairq_room(const worker_fairq_t *q, const char *tenant)
{
    return q->total < q->total_max && worker_fairq_tenant_len(q, tenant) < q->tenant_max;
}

lq_err_t worker_fairq_push(worker_fairq_t *q, const char *tenant, int weight, void *item,
                           worker_fairq_entry_t **entry)
{
    if (!worker_fairq_room(q, tenant))
        return LQ_ERR_FULL;
    return worker_fairq_push_over(q, tenant, weight, item, entry);
}

static void unlink_entry(fq_tenant_t *t, worker_fairq_entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        t->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        t->tail = e->prev;
}

lq_err_t worker_fairq_push_over(worker_fairq_t *q, const char *tenant, int weight, void *item,
                                worker_fairq_entry_t **entry)
{
    fq_tenant_t *t;
    worker_fairq_entry_t *e;

    if (!(t = tenant_get(q, tenant)) || !(e = calloc(1, sizeof(*e))))
        return LQ_ERR_NOMEM;
    if (weight < 1)
        weight = 1;
    if (weight > WORKER_FAIRQ_WEIGHT_MAX)
        weight = WORKER_FAIRQ_WEIGHT_MAX;
    e->tenant = t;
    e->item = item;
    e->seq = q->seq++;
    e->start = t->last_finish > q->vtime ? t->last_finish : q->vtime;
    t->last_finish = e->start + COST_SCALE / (uint64_t)weight;
    e->prev = t->tail;
    if (t->tail)
        t->tail->next = e;
    else
        t->head = e;
    t->tail = e;
    if (t->len++ == 0 && !t->held_until && heap_push(q, t)) {
        unlink_entry(t, e);
        t->len--;
        free(e);
        return LQ_ERR_NOMEM;
    }
    q->total++;
    if (entry)
        *entry = e;
    return LQ_OK;
}

/* Unlink e from its tenant's FIFO and keep the heap in order; frees e, returns its item. */
static void *take(worker_fairq_t *q, worker_fairq_entry_t *e)
{
    fq_tenant_t *t = e->tenant;
    void *item = e->item;
    int was_head = t->head == e;

    unlink_entry(t, e);
    free(e);
    t->len--;
    q->total--;
    if (t->heap_idx != NOT_IN_HEAP) {
        if (!t->len)
            heap_remove(q, t);
        else if (was_head)
            sift_down(q, t->heap_idx); /* the next head's start tag is not smaller */
    }
    return item;
}

void *worker_fairq_pop(worker_fairq_t *q)
{
    void *item;

    if (!q->heap_len)
        return NULL;
    q->vtime = q->heap[0]->head->start;
    item = take(q, q->heap[0]->head);
    sweep_idle(q);
    return item;
}

void *worker_fairq_remove(worker_fairq_t *q, worker_fairq_entry_t *entry)
{
    return take(q, entry);
}

size_t worker_fairq_len(const worker_fairq_t *q)
{
    return q->total;
}

size_t worker_fairq_tenant_len(const worker_fairq_t *q, const char *tenant)
{
    const fq_tenant_t *t = lq_hashmap_get(q->tenants, tenant);

    return t ? t->len : 0;
}

void worker_fairq_aside_add(worker_fairq_t *q, const char *tenant, int delta)
{
    fq_tenant_t *t = delta > 0 ? tenant_get(q, tenant) : lq_hashmap_get(q->tenants, tenant);

    if (!t)
        return;
    if (delta < 0 && (size_t)-delta > t->aside)
        t->aside = 0;
    else
        t->aside = (size_t)((long long)t->aside + delta);
}

size_t worker_fairq_aside(const worker_fairq_t *q, const char *tenant)
{
    const fq_tenant_t *t = lq_hashmap_get(q->tenants, tenant);

    return t ? t->aside : 0;
}

static void aside_zero(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    ((fq_tenant_t *)value)->aside = 0;
}

void worker_fairq_aside_reset(worker_fairq_t *q)
{
    if (q)
        lq_hashmap_foreach(q->tenants, aside_zero, NULL);
}

lq_err_t worker_fairq_push_front(worker_fairq_t *q, const char *tenant, void *item,
                                 worker_fairq_entry_t **entry)
{
    fq_tenant_t *t;
    worker_fairq_entry_t *e;

    if (!(t = tenant_get(q, tenant)) || !(e = calloc(1, sizeof(*e))))
        return LQ_ERR_NOMEM;
    e->tenant = t;
    e->item = item;
    e->seq = q->seq++;
    e->start = t->head && t->head->start < q->vtime ? t->head->start : q->vtime;
    e->next = t->head;
    if (t->head)
        t->head->prev = e;
    else
        t->tail = e;
    t->head = e;
    if (t->len++ == 0 && !t->held_until && heap_push(q, t)) {
        unlink_entry(t, e);
        t->len--;
        free(e);
        return LQ_ERR_NOMEM;
    }
    if (t->heap_idx != NOT_IN_HEAP)
        sift_up(q, t->heap_idx);
    q->total++;
    if (entry)
        *entry = e;
    return LQ_OK;
}

lq_err_t worker_fairq_hold(worker_fairq_t *q, const char *tenant, int64_t until)
{
    fq_tenant_t *t = tenant_get(q, tenant);

    if (!t)
        return LQ_ERR_NOMEM;
    if (until < 1)
        until = 1;
    if (t->held_until) {
        if (until > t->held_until)
            t->held_until = until;
        return LQ_OK;
    }
    if (q->n_held == q->cap_held) {
        size_t cap = q->cap_held ? q->cap_held * 2 : 8;
        fq_tenant_t **h = realloc(q->held, cap * sizeof(*h));
        if (!h)
            return LQ_ERR_NOMEM;
        q->held = h;
        q->cap_held = cap;
    }
    q->held[q->n_held++] = t;
    t->held_until = until;
    if (t->heap_idx != NOT_IN_HEAP)
        heap_remove(q, t);
    return LQ_OK;
}

int64_t worker_fairq_release_due(worker_fairq_t *q, int64_t now)
{
    int64_t next = -1;
    size_t i = 0;

    while (i < q->n_held) {
        fq_tenant_t *t = q->held[i];
        if (t->held_until > now) {
            if (next < 0 || t->held_until < next)
                next = t->held_until;
            i++;
            continue;
        }
        t->held_until = 0;
        q->held[i] = q->held[--q->n_held];
        if (t->len && heap_push(q, t))
            worker_fairq_hold(q, t->name, now + 1000); /* no memory: try again later */
    }
    return next;
}

size_t worker_fairq_held(const worker_fairq_t *q)
{
    return q->n_held;
}

/* The jobs' timers: a binary min-heap on due_us (mock answers, retry back-offs, first-byte
 * timeouts), so one poll can wait exactly until the next one. */
#include <stdlib.h>

#include "workers/timers.h"

static void heap_swap(worker_t *w, size_t a, size_t b)
{
    job_t *t = w->heap[a];
    w->heap[a] = w->heap[b];
    w->heap[b] = t;
    w->heap[a]->heap_idx = a;
    w->heap[b]->heap_idx = b;
}

lq_err_t timer_add(worker_t *w, job_t *j, timer_kind_t kind, int64_t due_us)
{
    size_t i;

    if (w->heap_len == w->heap_cap) {
        size_t ncap = w->heap_cap ? w->heap_cap * 2 : 256;
        job_t **nh = realloc(w->heap, ncap * sizeof(*nh));
        if (!nh)
            return LQ_ERR_NOMEM;
        w->heap = nh;
        w->heap_cap = ncap;
    }
    j->timer = kind;
    j->due_us = due_us;
    i = w->heap_len++;
    w->heap[i] = j;
    j->heap_idx = i;
    while (i > 0 && w->heap[(i - 1) / 2]->due_us > w->heap[i]->due_us) {
        heap_swap(w, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return LQ_OK;
}

static void heap_fix(worker_t *w, size_t i)
{
    for (;;) { /* sift down */
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < w->heap_len && w->heap[l]->due_us < w->heap[m]->due_us)
            m = l;
        if (r < w->heap_len && w->heap[r]->due_us < w->heap[m]->due_us)
            m = r;
        if (m == i)
            break;
        heap_swap(w, i, m);
        i = m;
    }
    while (i > 0 && w->heap[(i - 1) / 2]->due_us > w->heap[i]->due_us) { /* sift up */
        heap_swap(w, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

/* Take j's pending timer out of the heap (a job finishing before its timer fires). */
void timer_remove(worker_t *w, job_t *j)
{
    size_t i = j->heap_idx;

    if (j->timer == T_NONE || i >= w->heap_len || w->heap[i] != j)
        return;
    j->timer = T_NONE;
    w->heap_len--;
    if (i == w->heap_len)
        return;
    w->heap[i] = w->heap[w->heap_len];
    w->heap[i]->heap_idx = i;
    heap_fix(w, i);
}

job_t *timer_pop_due(worker_t *w, int64_t now_us)
{
    job_t *top;

    if (!w->heap_len || w->heap[0]->due_us > now_us)
        return NULL;
    top = w->heap[0];
    w->heap_len--;
    if (w->heap_len) {
        w->heap[0] = w->heap[w->heap_len];
        w->heap[0]->heap_idx = 0;
        heap_fix(w, 0);
    }
    return top;
}

int64_t timer_wait_ms(const worker_t *w, int64_t now_us, int64_t cap_ms)
{
    int64_t until;

    if (!w->heap_len)
        return cap_ms;
    until = (w->heap[0]->due_us - now_us + 999) / 1000;
    if (until >= cap_ms)
        return cap_ms;
    return until < 0 ? 0 : until;
}

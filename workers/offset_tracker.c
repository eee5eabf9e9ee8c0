#include "workers/offset_tracker.h"

#include <stdlib.h>

typedef struct slot {
    int64_t offset;
    int done;
} slot_t;

/* A ring of slots in offset order: head is the oldest unfinished-or-blocking offset. */
struct worker_offsets {
    slot_t *ring;
    size_t cap, head, count;
    int64_t last_added;
};

worker_offsets_t *worker_offsets_create(void)
{
    worker_offsets_t *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->cap = 64;
    t->ring = calloc(t->cap, sizeof(*t->ring));
    if (!t->ring) {
        free(t);
        return NULL;
    }
    t->last_added = -1;
    return t;
}

void worker_offsets_destroy(worker_offsets_t *t)
{
    if (!t)
        return;
    free(t->ring);
    free(t);
}

static slot_t *at(const worker_offsets_t *t, size_t i)
{
    return &t->ring[(t->head + i) % t->cap];
}

lq_err_t worker_offsets_add(worker_offsets_t *t, int64_t offset)
{
    if (offset <= t->last_added)
        return LQ_ERR_INVALID;
    if (t->count == t->cap) {
        size_t ncap = t->cap * 2, i;
        slot_t *nr = malloc(ncap * sizeof(*nr));
        if (!nr)
            return LQ_ERR_NOMEM;
        for (i = 0; i < t->count; i++)
            nr[i] = *at(t, i);
        free(t->ring);
        t->ring = nr;
        t->cap = ncap;
        t->head = 0;
    }
    at(t, t->count)->offset = offset;
    at(t, t->count)->done = 0;
    t->count++;
    t->last_added = offset;
    return LQ_OK;
}

int64_t worker_offsets_done(worker_offsets_t *t, int64_t offset)
{
    size_t lo = 0, hi = t->count;
    int64_t released = -1;

    while (lo < hi) { /* binary search: the ring is sorted by offset */
        size_t mid = lo + (hi - lo) / 2;
        if (at(t, mid)->offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == t->count || at(t, lo)->offset != offset)
        return -1;
    at(t, lo)->done = 1;
    while (t->count > 0 && at(t, 0)->done) {
        released = at(t, 0)->offset;
        t->head = (t->head + 1) % t->cap;
        t->count--;
    }
    return released >= 0 ? released + 1 : -1;
}

size_t worker_offsets_pending(const worker_offsets_t *t)
{
    return t->count;
}

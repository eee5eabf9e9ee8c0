#include "common/hashmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    char *key; /* NULL = empty; TOMBSTONE = deleted */
    void *value;
    uint64_t hash;
} slot_t;

static char tombstone_mark;
#define TOMBSTONE (&tombstone_mark)

struct lq_hashmap {
    slot_t *slots;
    size_t cap;    /* power of two */
    size_t used;   /* live entries */
    size_t filled; /* live + tombstones */
};

uint64_t lq_hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

lq_hashmap_t *lq_hashmap_create(size_t initial_capacity)
{
    lq_hashmap_t *m = calloc(1, sizeof(*m));
    size_t cap = 16;

    if (!m)
        return NULL;
    while (cap < initial_capacity * 2)
        cap <<= 1;
    m->slots = calloc(cap, sizeof(*m->slots));
    if (!m->slots) {
        free(m);
        return NULL;
    }
    m->cap = cap;
    return m;
}

void lq_hashmap_destroy(lq_hashmap_t *m)
{
    size_t i;

    if (!m)
        return;
    for (i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != TOMBSTONE)
            free(m->slots[i].key);
    free(m->slots);
    free(m);
}

static slot_t *find_slot(const lq_hashmap_t *m, const char *key, uint64_t h)
{
    size_t i = (size_t)h & (m->cap - 1);

    for (;;) {
        slot_t *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != TOMBSTONE && s->hash == h && strcmp(s->key, key) == 0)
            return s;
        i = (i + 1) & (m->cap - 1);
    }
}

/* Rehash without the tombstones; twice the size only when live entries fill half of it. (A
 * map used as a bounded cache, created for its bound and so at most half full, keeps its size
 * however many entries come and go: doubling it at the first rehash had made a full cache look
 * like a leak of a few MB, minutes after it filled.) */
static lq_err_t grow(lq_hashmap_t *m)
{
    size_t ncap = m->used * 2 > m->cap ? m->cap * 2 : m->cap, i;
    slot_t *ns = calloc(ncap, sizeof(*ns));

    if (!ns)
        return LQ_ERR_NOMEM;
    for (i = 0; i < m->cap; i++) {
        slot_t *s = &m->slots[i];
        if (s->key && s->key != TOMBSTONE) {
            size_t j = (size_t)s->hash & (ncap - 1);
            while (ns[j].key)
                j = (j + 1) & (ncap - 1);
            ns[j] = *s;
        }
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    m->filled = m->used;
    return LQ_OK;
}

lq_err_t lq_hashmap_put(lq_hashmap_t *m, const char *key, void *value)
{
    uint64_t h = lq_hash_str(key);
    slot_t *s = find_slot(m, key, h);
    size_t i;

    if (s) {
        s->value = value;
        return LQ_OK;
    }
    if ((m->filled + 1) * 4 > m->cap * 3) {
        lq_err_t err = grow(m);
        if (err)
            return err;
    }
    i = (size_t)h & (m->cap - 1);
    while (m->slots[i].key && m->slots[i].key != TOMBSTONE)
        i = (i + 1) & (m->cap - 1);
    s = &m->slots[i];
    if (!s->key)
        m->filled++;
    s->key = strdup(key);
    if (!s->key) {
        s->key = TOMBSTONE;
        return LQ_ERR_NOMEM;
    }
    s->value = value;
    s->hash = h;
    m->used++;
    return LQ_OK;
}

void *lq_hashmap_get(const lq_hashmap_t *m, const char *key)
{
    slot_t *s = find_slot(m, key, lq_hash_str(key));
    return s ? s->value : NULL;
}

void *lq_hashmap_remove(lq_hashmap_t *m, const char *key)
{
    slot_t *s = find_slot(m, key, lq_hash_str(key));
    void *v;

    if (!s)
        return NULL;
    v = s->value;
    free(s->key);
    s->key = TOMBSTONE;
    s->value = NULL;
    m->used--;
    return v;
}

size_t lq_hashmap_capacity(const lq_hashmap_t *m)
{
    return m->cap;
}

size_t lq_hashmap_size(const lq_hashmap_t *m)
{
    return m->used;
}

void lq_hashmap_foreach(const lq_hashmap_t *m, void (*fn)(const char *, void *, void *), void *arg)
{
    size_t i;

    for (i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != TOMBSTONE)
            fn(m->slots[i].key, m->slots[i].value, arg);
}

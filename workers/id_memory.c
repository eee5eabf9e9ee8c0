/* A bounded memory of ids: a ring of the last ids remembered and a map to find them. */
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "workers/id_memory.h"

struct worker_id_memory {
    lq_hashmap_t *ids; /* id -> its copy in ring */
    char **ring;       /* cap slots, oldest at next once full */
    size_t cap, next;
};

worker_id_memory_t *worker_id_memory_create(size_t cap)
{
    worker_id_memory_t *m = calloc(1, sizeof(*m));

    if (!m || cap == 0)
        goto fail;
    m->cap = cap;
    m->ring = calloc(cap, sizeof(*m->ring));
    m->ids = lq_hashmap_create(cap < 1024 ? cap * 2 : 2048);
    if (!m->ring || !m->ids)
        goto fail;
    return m;
fail:
    worker_id_memory_destroy(m);
    return NULL;
}

void worker_id_memory_destroy(worker_id_memory_t *m)
{
    size_t i;

    if (!m)
        return;
    for (i = 0; m->ring && i < m->cap; i++)
        free(m->ring[i]);
    free(m->ring);
    lq_hashmap_destroy(m->ids);
    free(m);
}

lq_err_t worker_id_memory_add(worker_id_memory_t *m, const char *id)
{
    char **slot;

    if (lq_hashmap_get(m->ids, id))
        return LQ_OK; /* one ring slot per id */
    slot = &m->ring[m->next++ % m->cap];
    if (*slot) { /* forget the oldest */
        lq_hashmap_remove(m->ids, *slot);
        free(*slot);
    }
    *slot = strdup(id);
    if (!*slot)
        return LQ_ERR_NOMEM;
    if (lq_hashmap_put(m->ids, *slot, *slot) != LQ_OK) {
        free(*slot);
        *slot = NULL;
        return LQ_ERR_NOMEM;
    }
    return LQ_OK;
}

int worker_id_memory_has(const worker_id_memory_t *m, const char *id)
{
    return m && id && lq_hashmap_get(m->ids, id) != NULL;
}

size_t worker_id_memory_len(const worker_id_memory_t *m)
{
    return m ? lq_hashmap_size(m->ids) : 0;
}

/* common/hashmap.h — string-keyed hash map (open addressing). Not thread-safe: callers lock. */
#ifndef LQ_HASHMAP_H
#define LQ_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct lq_hashmap lq_hashmap_t;

lq_hashmap_t *lq_hashmap_create(size_t initial_capacity);
/** NULL-safe. Values are not freed: callers own them. */
void lq_hashmap_destroy(lq_hashmap_t *m);
/** Insert or replace; the key is copied. */
lq_err_t lq_hashmap_put(lq_hashmap_t *m, const char *key, void *value);
void *lq_hashmap_get(const lq_hashmap_t *m, const char *key);
/** Remove and return the value (NULL when absent). */
void *lq_hashmap_remove(lq_hashmap_t *m, const char *key);
size_t lq_hashmap_size(const lq_hashmap_t *m);
/** The map's hash of a string (64-bit FNV-1a): stable across processes and versions, so it can
 * also pick a partition key (ingest_request_key). */
uint64_t lq_hash_str(const char *s);
/** Slots allocated (memory: about 24 bytes each, plus the keys). */
size_t lq_hashmap_capacity(const lq_hashmap_t *m);
/** Call fn for each entry; fn may not modify the map. */
void lq_hashmap_foreach(const lq_hashmap_t *m, void (*fn)(const char *key, void *value, void *arg),
                        void *arg);

#endif

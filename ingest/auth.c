#include "ingest/auth.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/hashmap.h"
#include "common/ids.h"

const char *const INGEST_AUTH_SQL =
    "SELECT k.id, k.tenant_id, coalesce(k.project_id, '') FROM api_keys k"
    " JOIN tenants t ON t.id = k.tenant_id"
    " WHERE k.key_sha256 = $1 AND k.revoked_at IS NULL"
    " AND (k.expires_at IS NULL OR k.expires_at > now()) AND NOT t.disabled";

typedef struct entry {
    ingest_identity_t id;
    int denied;
    int64_t expires_ms;
} entry_t;

struct ingest_auth {
    pthread_rwlock_t lock;
    lq_hashmap_t *map;
    int64_t ttl_ms, negative_ttl_ms;
    size_t max_entries;
};

ingest_auth_t *ingest_auth_create(int64_t ttl_ms, int64_t negative_ttl_ms, size_t max_entries)
{
    ingest_auth_t *a = calloc(1, sizeof(*a));

    if (!a)
        return NULL;
    a->map = lq_hashmap_create(256);
    if (!a->map) {
        free(a);
        return NULL;
    }
    pthread_rwlock_init(&a->lock, NULL);
    a->ttl_ms = ttl_ms;
    a->negative_ttl_ms = negative_ttl_ms;
    a->max_entries = max_entries;
    return a;
}

static void free_entry(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

void ingest_auth_destroy(ingest_auth_t *a)
{
    if (!a)
        return;
    if (a->map)
        lq_hashmap_foreach(a->map, free_entry, NULL);
    lq_hashmap_destroy(a->map);
    pthread_rwlock_destroy(&a->lock);
    free(a);
}

lq_err_t ingest_auth_hash(const char *key, char out[65])
{
    return lq_sha256_hex(out, key, strlen(key));
}

ingest_auth_result_t ingest_auth_lookup(ingest_auth_t *a, const char *key_hash,
                                        ingest_identity_t *id)
{
    ingest_auth_result_t r = INGEST_AUTH_MISS;
    entry_t *e;

    pthread_rwlock_rdlock(&a->lock);
    e = lq_hashmap_get(a->map, key_hash);
    if (e && e->expires_ms > lq_mono_ms()) {
        if (e->denied) {
            r = INGEST_AUTH_DENIED;
        } else {
            *id = e->id;
            r = INGEST_AUTH_OK;
        }
    }
    pthread_rwlock_unlock(&a->lock);
    return r;
}

static void clear_all(ingest_auth_t *a)
{
    if (a->map)
        lq_hashmap_foreach(a->map, free_entry, NULL);
    lq_hashmap_destroy(a->map);
    a->map = lq_hashmap_create(256);
}

void ingest_auth_store(ingest_auth_t *a, const char *key_hash, const ingest_identity_t *id)
{
    entry_t *e = calloc(1, sizeof(*e)), *old;

    if (!e)
        return;
    if (id)
        e->id = *id;
    e->denied = id == NULL;
    e->expires_ms = lq_mono_ms() + (id ? a->ttl_ms : a->negative_ttl_ms);
    pthread_rwlock_wrlock(&a->lock);
    if (a->map && lq_hashmap_size(a->map) >= a->max_entries)
        clear_all(a); /* bounded memory against floods of random keys */
    if (!a->map) {
        free(e);
    } else {
        old = lq_hashmap_get(a->map, key_hash);
        if (lq_hashmap_put(a->map, key_hash, e) == LQ_OK)
            free(old);
        else
            free(e);
    }
    pthread_rwlock_unlock(&a->lock);
}

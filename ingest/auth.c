#include "ingest/auth.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <stdio.h>

#include "common/clock.h"
#include "common/hashmap.h"
#include "common/ids.h"
#include "common/log.h"

const char *const INGEST_AUTH_SQL =
    "SELECT k.id, k.tenant_id, coalesce(k.project_id, ''),"
    /* a key bound to a user never has more than the user's role now (demotion applies) */
    " CASE WHEN u.role IS NOT NULL AND array_position(ARRAY['viewer','developer','admin','owner',"
    "'platform'], u.role) < array_position(ARRAY['viewer','developer','admin','owner','platform'],"
    " k.role) THEN u.role ELSE k.role END, coalesce(k.user_id, ''),"
    " k.key_sha256, array_to_string(k.scopes, ','),"
    " coalesce((extract(epoch FROM k.expires_at) * 1000)::bigint, 0),"
    " coalesce(p.policy, t.policy)::text,"
    /* the limits that apply (migration 0007): the tier's defaults under the overrides */
    " limits_resolved(t.tier, t.limits, p.limits, u.limits, k.limits)::text,"
    /* how many partitions its requests spread over (migration 0016) */
    " t.request_shards FROM api_keys k"
    " JOIN tenants t ON t.id = k.tenant_id"
    " LEFT JOIN projects p ON p.tenant_id = k.tenant_id AND p.id = k.project_id"
    " LEFT JOIN users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id"
    " WHERE k.key_prefix = $1 AND k.revoked_at IS NULL"
    " AND (k.expires_at IS NULL OR k.expires_at > now()) AND NOT t.disabled"
    " AND NOT coalesce(p.disabled, false) AND NOT coalesce(u.disabled, false)"
    " LIMIT 16";

static const char *const role_names[] = {"", "viewer", "developer", "admin", "owner", "platform"};

ingest_role_t ingest_role_parse(const char *name)
{
    int i;

    for (i = 1; name && i <= ROLE_PLATFORM; i++)
        if (strcmp(name, role_names[i]) == 0)
            return (ingest_role_t)i;
    return ROLE_NONE;
}

const char *ingest_role_name(ingest_role_t r)
{
    return r >= ROLE_VIEWER && r <= ROLE_PLATFORM ? role_names[r] : "none";
}

static const struct scope_name {
    const char *name;
    unsigned bit;
} scope_names[] = {
    {"chat", INGEST_SCOPE_CHAT}, {"jobs", INGEST_SCOPE_JOBS}, {"admin", INGEST_SCOPE_ADMIN}};

#define N_SCOPES (sizeof(scope_names) / sizeof(scope_names[0]))

unsigned ingest_scope_parse(const char *name)
{
    size_t i;

    for (i = 0; i < N_SCOPES; i++)
        if (!strcmp(name, scope_names[i].name))
            return scope_names[i].bit;
    return 0u;
}

const char *ingest_scope_name(unsigned bit)
{
    size_t i;

    for (i = 0; i < N_SCOPES; i++)
        if (bit == scope_names[i].bit)
            return scope_names[i].name;
    return "none";
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

int ingest_bearer_parse(const char *header, char *key, size_t key_size)
{
    const char *start, *end;
    size_t n;

    if (!header || strlen(header) > INGEST_BEARER_MAX || strncasecmp(header, "Bearer", 6) != 0 ||
        !is_blank(header[6]))
        return -1;
    for (start = header + 6; is_blank(*start); start++)
        ;
    for (end = start + strlen(start); end > start && is_blank(end[-1]); end--)
        ;
    n = (size_t)(end - start);
    if (n == 0 || n >= key_size)
        return -1;
    memcpy(key, start, n);
    key[n] = '\0';
    return 0;
}

void ingest_role_explain(ingest_role_t have, ingest_role_t need, char *out, size_t size)
{
    snprintf(out, size, "This key's role (%s) cannot do this; it needs %s or above.",
             ingest_role_name(have), ingest_role_name(need));
}

/* The row's resolved limits, parsed once for every request of the key. A row the parser
 * refuses (a database newer than this node) is no answer: the request gets a 503, not
 * a key without limits. */
static int read_limits(const PGresult *res, int row, ingest_identity_t *id)
{
    char errstr[160];

    if (lq_limits_parse(PQgetvalue(res, row, 9), &id->limits, errstr, sizeof(errstr)) != LQ_OK) {
        LQ_WARN("key %s: unreadable limits (%s)", id->key_id, errstr);
        return -2;
    }
    id->weight = id->limits.weight;
    return 0;
}

int ingest_auth_match(const struct pg_result *cres, const char *key_hash, ingest_identity_t *id)
{
    const PGresult *res = (const PGresult *)cres;
    int r, found = -1;

    /* every row is compared, so the time does not say which one matched */
    for (r = 0; r < PQntuples(res); r++) {
        const char *h = PQgetvalue(res, r, 5);
        if (strlen(h) == 64 && CRYPTO_memcmp(h, key_hash, 64) == 0 && found < 0)
            found = r;
    }
    if (found < 0)
        return -1;
    memset(id, 0, sizeof(*id));
    snprintf(id->key_id, sizeof(id->key_id), "%s", PQgetvalue(res, found, 0));
    snprintf(id->tenant_id, sizeof(id->tenant_id), "%s", PQgetvalue(res, found, 1));
    snprintf(id->project_id, sizeof(id->project_id), "%s", PQgetvalue(res, found, 2));
    id->role = ingest_role_parse(PQgetvalue(res, found, 3));
    snprintf(id->user_id, sizeof(id->user_id), "%s", PQgetvalue(res, found, 4));
    {
        char scopes[128], *p, *save = NULL;
        snprintf(scopes, sizeof(scopes), "%s", PQgetvalue(res, found, 6));
        for (p = strtok_r(scopes, ",", &save); p; p = strtok_r(NULL, ",", &save))
            id->scopes |= ingest_scope_parse(p);
        if (scopes[0] && !id->scopes)
            id->scopes = INGEST_SCOPE_NONE; /* scopes listed, none known: nothing allowed */
    }
    id->expires_wall_ms = atoll(PQgetvalue(res, found, 7));
    id->shards = atoi(PQgetvalue(res, found, 10));
    if (id->shards < 1) /* (the column's check says 1-64) */
        id->shards = 1;
    ingest_policy_parse(PQgetvalue(res, found, 8), &id->policy);
    if (id->role == ROLE_NONE)
        return -1;
    return read_limits(res, found, id);
}

typedef struct entry {
    ingest_identity_t id;
    int denied;
    int64_t expires_ms;
} entry_t;

struct ingest_auth {
    pthread_rwlock_t lock;
    uint64_t generation; /* bumped by every flush (under the lock) */
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

ingest_auth_result_t ingest_auth_lookup(ingest_auth_t *a, const char *key_hash,
                                        ingest_identity_t *id)
{
    ingest_auth_result_t r = INGEST_AUTH_MISS;
    entry_t *e;

    pthread_rwlock_rdlock(&a->lock);
    e = a->map ? lq_hashmap_get(a->map, key_hash) : NULL;
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

void ingest_auth_flush(ingest_auth_t *a)
{
    pthread_rwlock_wrlock(&a->lock);
    clear_all(a);
    a->generation++;
    pthread_rwlock_unlock(&a->lock);
}

uint64_t ingest_auth_generation(ingest_auth_t *a)
{
    uint64_t g;

    pthread_rwlock_rdlock(&a->lock);
    g = a->generation;
    pthread_rwlock_unlock(&a->lock);
    return g;
}

typedef struct denied_list {
    char **keys;
    size_t n, cap;
} denied_list_t;

static void collect_denied(const char *key, void *value, void *arg)
{
    denied_list_t *l = arg;
    entry_t *e = value;

    if (!e->denied || l->n == l->cap)
        return;
    if ((l->keys[l->n] = strdup(key)))
        l->n++;
}

/* Full: forget the unknown keys first (a flood of random keys must not push the real ones
 * out); everything only when that is not enough. Write lock held. */
static void make_room(ingest_auth_t *a)
{
    denied_list_t l = {NULL, 0, lq_hashmap_size(a->map)};
    size_t i;

    l.keys = calloc(l.cap ? l.cap : 1, sizeof(char *));
    if (l.keys) {
        lq_hashmap_foreach(a->map, collect_denied, &l);
        for (i = 0; i < l.n; i++) {
            free(lq_hashmap_remove(a->map, l.keys[i]));
            free(l.keys[i]);
        }
        free(l.keys);
    }
    if (lq_hashmap_size(a->map) >= a->max_entries * 3 / 4)
        clear_all(a);
}

void ingest_auth_store(ingest_auth_t *a, const char *key_hash, const ingest_identity_t *id)
{
    ingest_auth_store_if(a, key_hash, id, UINT64_MAX);
}

void ingest_auth_store_if(ingest_auth_t *a, const char *key_hash, const ingest_identity_t *id,
                          uint64_t generation)
{
    entry_t *e = calloc(1, sizeof(*e)), *old;

    if (!e)
        return;
    if (id)
        e->id = *id;
    e->denied = id == NULL;
    e->expires_ms = lq_mono_ms() + (id ? a->ttl_ms : a->negative_ttl_ms);
    if (id && id->expires_wall_ms) { /* never cache a key past its expiry (the database's) */
        int64_t left = id->expires_wall_ms - lq_cluster_ms();
        if (lq_mono_ms() + left < e->expires_ms)
            e->expires_ms = lq_mono_ms() + (left > 0 ? left : 0);
    }
    pthread_rwlock_wrlock(&a->lock);
    if (generation != UINT64_MAX && generation != a->generation) {
        /* the answer was read before a change that flushed the cache: it may be stale */
        pthread_rwlock_unlock(&a->lock);
        free(e);
        return;
    }
    if (a->map && lq_hashmap_size(a->map) >= a->max_entries)
        make_room(a); /* bounded memory against floods of random keys */
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

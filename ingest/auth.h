/* ingest/auth.h — API key → tenant, with an in-memory cache in front of PostgreSQL.
 * Keys are looked up by their SHA-256; the clear key is never stored or logged. */
#ifndef LQ_INGEST_AUTH_H
#define LQ_INGEST_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct ingest_identity {
    char tenant_id[64];
    char project_id[64]; /* "" when the key is not bound to a project */
    char key_id[40];
} ingest_identity_t;

typedef struct ingest_auth ingest_auth_t;

typedef enum ingest_auth_result {
    INGEST_AUTH_OK = 0,     /* *id filled */
    INGEST_AUTH_DENIED = 1, /* known bad key (cached) */
    INGEST_AUTH_MISS = 2    /* not cached: look it up */
} ingest_auth_result_t;

ingest_auth_t *ingest_auth_create(int64_t ttl_ms, int64_t negative_ttl_ms, size_t max_entries);
void ingest_auth_destroy(ingest_auth_t *a);

/** SHA-256 hex of the presented key (the cache and database key). */
lq_err_t ingest_auth_hash(const char *key, char out[65]);

ingest_auth_result_t ingest_auth_lookup(ingest_auth_t *a, const char *key_hash,
                                        ingest_identity_t *id);
/** Remember a database answer: id NULL = no such (or revoked) key. */
void ingest_auth_store(ingest_auth_t *a, const char *key_hash, const ingest_identity_t *id);

/** SQL for the lookup: $1 = key hash; columns key id, tenant id, project id. */
extern const char *const INGEST_AUTH_SQL;

#endif

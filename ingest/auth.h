/* ingest/auth.h — API key → tenant, with an in-memory cache in front of PostgreSQL.
 * Keys are looked up by their SHA-256; the clear key is never stored or logged. */
#ifndef LQ_INGEST_AUTH_H
#define LQ_INGEST_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/limits.h"
#include "ingest/policy.h"

/* Roles, in order: each can do what the ones before it can. */
typedef enum ingest_role {
    ROLE_NONE = 0,
    ROLE_VIEWER = 1,    /* reads: jobs, usage, the tenant's settings */
    ROLE_DEVELOPER = 2, /* uses the API: chat completions, jobs */
    ROLE_ADMIN = 3,     /* manages its tenant: projects, users, keys up to developer */
    ROLE_OWNER = 4,     /* also manages admins and owners */
    ROLE_PLATFORM = 5   /* operators of the installation: manage tenants */
} ingest_role_t;

ingest_role_t ingest_role_parse(const char *name); /* ROLE_NONE when unknown */
const char *ingest_role_name(ingest_role_t r);

/* Scopes narrow what a key may call (none listed = everything its role allows). */
#define INGEST_SCOPE_CHAT  1u   /* POST /v1/chat/completions */
#define INGEST_SCOPE_JOBS  2u   /* /v1/jobs */
#define INGEST_SCOPE_ADMIN 4u   /* /admin/v1 */
#define INGEST_SCOPE_NONE  128u /* a key whose scopes are all unknown: matches no route */
/* a route any narrowed key may call (not one whose scopes are all unknown) */
#define INGEST_SCOPE_ANY (INGEST_SCOPE_CHAT | INGEST_SCOPE_JOBS | INGEST_SCOPE_ADMIN)
/** The bit of a scope name, 0 when unknown. */
unsigned ingest_scope_parse(const char *name);
/** The name of a scope bit ("chat"), "none" for anything else. */
const char *ingest_scope_name(unsigned bit);

typedef struct ingest_identity {
    char tenant_id[64];
    char project_id[64]; /* "" when the key is not bound to a project */
    char key_id[40];
    char user_id[128]; /* "" when the key is not bound to a user */
    ingest_role_t role;
    unsigned scopes;         /* INGEST_SCOPE_* bits; 0 = not narrowed */
    int64_t expires_wall_ms; /* the key's expiry, 0 = none (the cache keeps it no longer) */
    ingest_policy_t policy;  /* the project's prompt policy, else the tenant's */
    lq_limits_t limits;      /* the limits that apply to its requests (docs/limits.md) */
    int weight;              /* its tenant's tier's share of worker capacity (1-1000) */
    int shards;              /* partitions its tenant's requests spread over (1-64) */
} ingest_identity_t;

/* Where a request's authentication stands. */
typedef enum ingest_auth_state {
    INGEST_AUTH_PENDING = 0, /* not looked up yet, or the lookup is running */
    INGEST_AUTH_ACCEPTED,    /* the key is valid: the identity is filled */
    INGEST_AUTH_REFUSED,     /* unknown, revoked or expired key (401) */
    INGEST_AUTH_UNAVAILABLE  /* the database could not say (503) */
} ingest_auth_state_t;

/* The longest Authorization header accepted (a key is far shorter). */
#define INGEST_BEARER_MAX 512

/** The key of an "Authorization: Bearer <key>" header value into key (key_size bytes):
 * the scheme is case-insensitive, spaces and tabs around the key are not part of it. 0 on
 * success; -1 when the header is absent, of another scheme, empty, or longer than
 * INGEST_BEARER_MAX. */
int ingest_bearer_parse(const char *header, char *key, size_t key_size);

/** "This key's role (have) cannot do this; it needs need or above." into out. */
void ingest_role_explain(ingest_role_t have, ingest_role_t need, char *out, size_t size);

typedef struct ingest_auth ingest_auth_t;

typedef enum ingest_auth_result {
    INGEST_AUTH_OK = 0,     /* *id filled */
    INGEST_AUTH_DENIED = 1, /* known bad key (cached) */
    INGEST_AUTH_MISS = 2    /* not cached: look it up */
} ingest_auth_result_t;

ingest_auth_t *ingest_auth_create(int64_t ttl_ms, int64_t negative_ttl_ms, size_t max_entries);
void ingest_auth_destroy(ingest_auth_t *a);

ingest_auth_result_t ingest_auth_lookup(ingest_auth_t *a, const char *key_hash,
                                        ingest_identity_t *id);
/** Remember a database answer: id NULL = no such (or revoked) key. */
void ingest_auth_store(ingest_auth_t *a, const char *key_hash, const ingest_identity_t *id);

/** Forget every cached answer (keys, tenants, projects or users changed). */
void ingest_auth_flush(ingest_auth_t *a);

/** The number of flushes so far: read it before a database lookup and pass it to
 * ingest_auth_store_if, so an answer read before a change is not cached after it. */
uint64_t ingest_auth_generation(ingest_auth_t *a);
void ingest_auth_store_if(ingest_auth_t *a, const char *key_hash, const ingest_identity_t *id,
                          uint64_t generation);

/** SQL for the lookup: $1 = key prefix; columns key id, tenant id, project id, role,
 * user id, key SHA-256 (hex), scopes (comma-separated), expiry, prompt policy, resolved
 * limits — the caller compares the hash in constant time. Revoked,
 * expired keys and keys of a disabled tenant, project or user are not returned. */
extern const char *const INGEST_AUTH_SQL;

/** The row of INGEST_AUTH_SQL's answer whose hash equals key_hash (constant-time
 * comparison) into *id; 0 when found, -1 when none, -2 when found but its limits are
 * unreadable (answer 503; do not cache). */
struct pg_result;
int ingest_auth_match(const struct pg_result *res, const char *key_hash, ingest_identity_t *id);

#endif

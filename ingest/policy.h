/* ingest/policy.h — the prompt policy: secrets and blocked keywords in a request's
 * messages, per tenant (overridable per project). Each secret kind is blocked (400
 * policy_violation, recorded in the audit log), redacted (masked before the request is
 * stored anywhere) or allowed; by default high-severity kinds are blocked and medium
 * ones redacted. A blocked keyword always blocks. See docs/security.md. */
#ifndef LQ_INGEST_POLICY_H
#define LQ_INGEST_POLICY_H

#include <stddef.h>

#include "common/secret_scan.h"
#include "schemas/records.h"

typedef enum policy_action {
    POLICY_BLOCK = 0,
    POLICY_REDACT = 1,
    POLICY_ALLOW = 2
} policy_action_t;

#define POLICY_MAX_KEYWORDS 32

typedef struct ingest_policy {
    unsigned char action[LQ_SECRET_KIND_COUNT];
    char keywords[POLICY_MAX_KEYWORDS][64];
    int n_keywords;
} ingest_policy_t;

typedef struct policy_verdict {
    int blocked;
    char policy[32]; /* "secret_detected" or "blocked_keyword" */
    char what[64];   /* the kind, or the keyword — never the secret */
    char param[32];  /* "messages[2]" */
    int redacted;    /* secrets masked in the request */
} policy_verdict_t;

void ingest_policy_default(ingest_policy_t *p);
/** From the policy JSON stored for the tenant/project (NULL or "" = the defaults). */
void ingest_policy_parse(const char *json, ingest_policy_t *p);

/** Check req's messages; mask what the policy redacts, in place. */
void ingest_policy_apply(const ingest_policy_t *p, lq_chat_request_t *req, policy_verdict_t *v);

#endif

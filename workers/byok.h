/* workers/byok.h — tenants' own provider keys ("bring your own key") in a worker.
 *
 * A thread keeps the active keys of every tenant decrypted in memory: it loads them from
 * PostgreSQL (encrypted with AES-256-GCM under the master key, common/secretbox.h),
 * reloads them when the database notifies a change (LISTEN llmq_provider_keys) and every
 * minute, and reconnects when the database goes away (keeping what it had). A request of
 * a tenant with a key for the endpoint it is sent to uses that key instead of the
 * installation's. Keys are never logged; a key that does not decrypt (another master key,
 * tampering) is skipped with a warning naming its id. */
#ifndef LQ_WORKER_BYOK_H
#define LQ_WORKER_BYOK_H

#include <stddef.h>

#include "common/config.h"

typedef struct worker_byok worker_byok_t;

/** NULL when there is no master key (the feature is off); errstr says why when it is a
 * configuration error (set *fatal). */
worker_byok_t *worker_byok_start(const lq_common_settings_t *set, int *fatal, char *errstr,
                                 size_t errstr_size);
void worker_byok_stop(worker_byok_t *b); /* NULL-safe; wipes the keys */

/** Copy tenant's key for endpoint into out: 1 when there is one, 0 when the tenant has
 * none (the installation's key applies), -1 when it has one that cannot be used (another
 * master key, altered): the call must fail rather than use the installation's key. */
int worker_byok_get(worker_byok_t *b, const char *tenant, const char *endpoint, char *out,
                    size_t size);

#endif

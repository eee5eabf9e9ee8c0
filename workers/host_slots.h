/* workers/host_slots.h — provider calls in flight per provider host, bounded by
 * provider.max_host_connections (0: no bound). A call past the bound waits here, in the order
 * it came, and starts when a call to the same host ends.
 *
 * libcurl can hold such calls itself (CURLMOPT_MAX_HOST_CONNECTIONS), but its connect and
 * total timeouts count the time a call waits for a connection: a call queued longer than
 * provider.connect_timeout_ms failed as if the provider had not answered, and enough of those
 * opened the endpoint's breaker. Here a call's timeouts start when it is sent. */
#ifndef LQ_HOST_SLOTS_H
#define LQ_HOST_SLOTS_H

#include "workers/worker_internal.h"

/* Maps each endpoint to its host (scheme, host and port of its base URL; the mock has none).
 * LQ_OK, or LQ_ERR_NOMEM. */
int host_slots_init(worker_t *w);
void host_slots_free(worker_t *w);

/* 1 when j may call endpoint ep now (the slot is taken), 0 when it waits for one. */
int host_slots_take(worker_t *w, job_t *j, int ep);

/* j's call has ended (or never started): its slot, if it holds one, is free again. */
void host_slots_release(worker_t *w, job_t *j);

/* j, waiting for a slot, no longer does (cancelled). */
void host_slots_unwait(worker_t *w, job_t *j);

/* Starts the waiting calls whose host has a slot free (attempt_start again). */
void host_slots_run(worker_t *w);

/* 1 when two base URLs name one host: the same scheme, host (case aside) and port (the
 * scheme's own when none is written); any user information and path aside. */
int host_slots_same_host(const char *a, const char *b);

#endif

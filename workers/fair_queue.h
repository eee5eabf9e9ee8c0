/* workers/fair_queue.h — weighted fair queueing across tenants: one FIFO per tenant and a
 * start-time fair scheduler over them (virtual time). Each item is stamped on arrival with a
 * start tag max(virtual time, its tenant's last finish tag) and a finish tag start + 1/weight;
 * a pick takes the queued head with the smallest start tag and moves the virtual time to it.
 * A backlogged tenant of weight w gets w shares of the picks; a tenant that was idle starts at
 * the current virtual time (served at once, no saved-up credit). O(log tenants) per push and
 * pick. Bounded: per tenant and in total. A tenant can be held (paced by its rate limit) until
 * a time the caller names. Pure data structure: no Kafka, no clock. */
#ifndef LQ_WORKER_FAIR_QUEUE_H
#define LQ_WORKER_FAIR_QUEUE_H

#include <stddef.h>

#include "common/err.h"

#define WORKER_FAIRQ_WEIGHT_MAX 1000

typedef struct worker_fairq worker_fairq_t;
typedef struct worker_fairq_entry worker_fairq_entry_t; /* one queued item (opaque) */

/** A queue holding at most tenant_max items per tenant and total_max in all (both >= 1). */
worker_fairq_t *worker_fairq_create(size_t tenant_max, size_t total_max);
void worker_fairq_destroy(worker_fairq_t *q); /* NULL-safe; items are the caller's */

/** 1 when an item of tenant would be taken now (both bounds leave room). */
int worker_fairq_room(const worker_fairq_t *q, const char *tenant);

/** Queue item (borrowed until picked or removed) at the end of tenant's FIFO with weight
 * (clamped to 1..WORKER_FAIRQ_WEIGHT_MAX). LQ_ERR_FULL when a bound is reached, LQ_ERR_NOMEM.
 * *entry (may be NULL) is the handle for worker_fairq_remove, valid until the item leaves. */
lq_err_t worker_fairq_push(worker_fairq_t *q, const char *tenant, int weight, void *item,
                           worker_fairq_entry_t **entry);

/** worker_fairq_push without the bounds: for an item that cannot go anywhere else. */
lq_err_t worker_fairq_push_over(worker_fairq_t *q, const char *tenant, int weight, void *item,
                                worker_fairq_entry_t **entry);

/** The next item by weighted fair queueing (NULL when empty); it leaves the queue. */
void *worker_fairq_pop(worker_fairq_t *q);

/** Take a queued item out (a cancellation); returns the item. */
void *worker_fairq_remove(worker_fairq_t *q, worker_fairq_entry_t *entry);

/** Items queued in all / of tenant. */
size_t worker_fairq_len(const worker_fairq_t *q);
size_t worker_fairq_tenant_len(const worker_fairq_t *q, const char *tenant);

/** Items of tenant held elsewhere (set aside while its queue was full): add delta (counts
 * never go below 0) / read. A tenant with items aside keeps its state between picks. */
void worker_fairq_aside_add(worker_fairq_t *q, const char *tenant, int delta);
size_t worker_fairq_aside(const worker_fairq_t *q, const char *tenant);

/** Put item back at the head of tenant's FIFO (a job that could not start yet): it keeps
 * its turn. LQ_ERR_NOMEM. */
lq_err_t worker_fairq_push_front(worker_fairq_t *q, const char *tenant, void *item,
                                 worker_fairq_entry_t **entry);

/** Skip tenant's items until `until` (a time in the caller's clock, e.g. monotonic ms): its
 * rate limit paces it. A hold already longer stays. */
lq_err_t worker_fairq_hold(worker_fairq_t *q, const char *tenant, int64_t until);
/** Holds that ended by now end; returns the end of the next hold (-1: none). */
int64_t worker_fairq_release_due(worker_fairq_t *q, int64_t now);
size_t worker_fairq_held(const worker_fairq_t *q);

/** Forget every tenant's items aside (they may now be read elsewhere: a rebalance). */
void worker_fairq_aside_reset(worker_fairq_t *q);

#endif

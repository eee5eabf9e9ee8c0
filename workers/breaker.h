/* workers/breaker.h — a circuit breaker per provider endpoint.
 *
 * Closed: calls go through; `failures` consecutive retriable failures open it. Open: calls
 * are refused for open_ms. Then half-open: one probe goes through; its success closes the
 * breaker, its failure opens it again for another open_ms. Time is passed in (monotonic
 * ms), so the state machine is testable without sleeping. One thread only. */
#ifndef LQ_WORKER_BREAKER_H
#define LQ_WORKER_BREAKER_H

#include <stdint.h>

typedef enum breaker_state {
    BREAKER_CLOSED = 0,
    BREAKER_OPEN = 1,
    BREAKER_HALF_OPEN = 2
} breaker_state_t;

typedef struct breaker {
    breaker_state_t state;
    int failures; /* consecutive, while closed */
    int threshold;
    int64_t open_ms;
    int64_t opened_at;
    int probe_inflight; /* half-open: the one probe is out */
    uint64_t opened_total;
} breaker_t;

void breaker_init(breaker_t *b, int threshold, int64_t open_ms);
/** May a call start now? In half-open state, a 1 reserves the single probe. */
int breaker_allow(breaker_t *b, int64_t now_ms);
/* A call breaker_allow just let through will not be made now (it waits for a connection):
 * a half-open breaker's test call is free again. */
void breaker_unallow(breaker_t *b);
/** Report how a call that breaker_allow let through ended. */
void breaker_record(breaker_t *b, int success, int64_t now_ms);
/** The state as seen at now_ms (an open breaker whose time is up reads half-open). */
breaker_state_t breaker_state(const breaker_t *b, int64_t now_ms);
const char *breaker_state_name(breaker_state_t s);

#endif

#include "workers/breaker.h"

#include <string.h>

void breaker_init(breaker_t *b, int threshold, int64_t open_ms)
{
    memset(b, 0, sizeof(*b));
    b->threshold = threshold > 0 ? threshold : 1;
    b->open_ms = open_ms;
}

breaker_state_t breaker_state(const breaker_t *b, int64_t now_ms)
{
    if (b->state == BREAKER_OPEN && now_ms - b->opened_at >= b->open_ms)
        return BREAKER_HALF_OPEN;
    return b->state;
}

int breaker_allow(breaker_t *b, int64_t now_ms)
{
    switch (breaker_state(b, now_ms)) {
    case BREAKER_CLOSED:
        return 1;
    case BREAKER_OPEN:
        return 0;
    case BREAKER_HALF_OPEN:
    default:
        b->state = BREAKER_HALF_OPEN;
        if (b->probe_inflight)
            return 0;
        b->probe_inflight = 1;
        return 1;
    }
}

void breaker_unallow(breaker_t *b)
{
    /* half-open here means the call just allowed holds the one test call */
    if (b->state == BREAKER_HALF_OPEN)
        b->probe_inflight = 0;
}

static void trip(breaker_t *b, int64_t now_ms)
{
    b->state = BREAKER_OPEN;
    b->opened_at = now_ms;
    b->failures = 0;
    b->probe_inflight = 0;
    b->opened_total++;
}

void breaker_record(breaker_t *b, int success, int64_t now_ms)
{
    if (b->state == BREAKER_HALF_OPEN) {
        b->probe_inflight = 0;
        if (success) {
            b->state = BREAKER_CLOSED;
            b->failures = 0;
        } else {
            trip(b, now_ms);
        }
        return;
    }
    if (b->state == BREAKER_OPEN)
        return; /* a call started before the breaker opened */
    if (success) {
        b->failures = 0;
    } else if (++b->failures >= b->threshold) {
        trip(b, now_ms);
    }
}

const char *breaker_state_name(breaker_state_t s)
{
    return s == BREAKER_CLOSED ? "closed" : s == BREAKER_OPEN ? "open" : "half_open";
}

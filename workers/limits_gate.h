/* workers/limits_gate.h — between the fair queue and a job's first attempt: the job's limits
 * (carried in its ChatRequest from admission) against the limit ledger (common/limiter.h).
 * A job reserves its worst case of tokens and money (prompt estimate + max_tokens, at the
 * model's price) and, when async, one request of each request rate: async jobs over a rate
 * are paced (their tenant's queue waits until the rate allows), jobs over a budget fail with
 * insufficient_quota, sync jobs over a token rate fail with rate_limit_exceeded (their
 * requests were counted at ingest). When the job ends the reservation is settled to what it
 * really used. See docs/limits.md. */
#ifndef LQ_WORKER_LIMITS_GATE_H
#define LQ_WORKER_LIMITS_GATE_H

#include <stdint.h>

#include "workers/worker_internal.h"

typedef enum gate_verdict {
    GATE_GO = 0, /* start now */
    GATE_WAIT,   /* the ledger decides; the job holds its slot until limits_gate_drain */
    GATE_HELD,   /* paced: back at the head of its tenant's queue, the tenant held */
    GATE_FAILED  /* refused: the job is finished */
} gate_verdict_t;

/** The worker's limiter (none when limits.enforce is off). */
lq_err_t limits_gate_init(worker_t *w, char *errstr, size_t errstr_size);
/** Stop the limiter; jobs still waiting for it are left for redelivery. */
void limits_gate_free(worker_t *w);

/** j was picked from the fair queue (no slot taken yet). */
gate_verdict_t limits_gate_pass(worker_t *w, job_t *j);

/** Act on the ledger's decisions that arrived (start, hold or fail those jobs). */
void limits_gate_drain(worker_t *w);

/** How long until a held tenant may go again (ms; -1 when none is held). */
int64_t limits_gate_wait_ms(worker_t *w);

/** j ended having used tokens and micro-USD: settle its reservation. */
void limits_gate_settle(worker_t *w, job_t *j, int64_t tokens, int64_t usd_micro);

/** The worst case of j's request: estimated prompt tokens + its completion budget. */
int64_t limits_gate_tokens(const worker_t *w, const lq_chat_request_t *r, int64_t *prompt);

#endif

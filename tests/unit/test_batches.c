/* workers/batches and workers/id_memory: when the batch partitions pause and resume (the bound
 * on batch jobs held, the interactive backlog, the hysteresis), a batch's expiry, and the
 * bounded memory of cancelled batches (remember, forget the oldest, one slot per id). */
#include <stdint.h>

#include "workers/batches.h"
#include "workers/id_memory.h"
#include "testutil.h"

/* Read while under the bound and nothing (or little) interactive waits; paused at the bound
 * or beyond the backlog threshold. */
static void test_pause_when(void)
{
    CHECK_INT(batches_pause_wanted(0, 0, 8, 0), 0);
    CHECK_INT(batches_pause_wanted(0, 7, 8, 0), 0);
    CHECK_INT(batches_pause_wanted(0, 8, 8, 0), 1);
    CHECK_INT(batches_pause_wanted(0, 9, 8, 0), 1);
    CHECK_INT(batches_pause_wanted(0, 0, 8, BATCH_BACKLOG_PAUSE), 0);
    CHECK_INT(batches_pause_wanted(0, 0, 8, BATCH_BACKLOG_PAUSE + 1), 1);
    CHECK_INT(batches_pause_wanted(0, 0, 1, 0), 0);
    CHECK_INT(batches_pause_wanted(0, 1, 1, 0), 1);
}

/* Paused: resumed only once at most half the bound is held and no interactive job waits. */
static void test_resume_hysteresis(void)
{
    CHECK_INT(batches_pause_wanted(1, 8, 8, 0), 1);
    CHECK_INT(batches_pause_wanted(1, 5, 8, 0), 1);
    CHECK_INT(batches_pause_wanted(1, 4, 8, 0), 0);
    CHECK_INT(batches_pause_wanted(1, 4, 8, 1), 1); /* interactive work still waits */
    CHECK_INT(batches_pause_wanted(1, 0, 8, 1), 1);
    CHECK_INT(batches_pause_wanted(1, 0, 8, 0), 0);
    CHECK_INT(batches_pause_wanted(1, 1, 1, 0), 1);
    CHECK_INT(batches_pause_wanted(1, 0, 1, 0), 0);
}

/* A worker with 8 slots and a bound of 2 batch jobs under interactive load that keeps every
 * slot busy and a backlog waiting: batch jobs never hold more than the bound, and once the
 * backlog forms no batch job is read; when the load stops, batch work flows again. */
static void test_yield_under_load(void)
{
    size_t slots = 8, cap = 2, held = 0, inflight = 0, backlog = 0, read_loaded = 0, t;
    size_t max_held = 0, read_after = 0;
    int paused = 0;

    for (t = 0; t < 200; t++) {
        int loaded = t < 100;
        size_t done = inflight; /* every job takes one tick */
        inflight = 0;
        held = held > done ? held - done : 0; /* (batch jobs finish first: the worst case) */
        if (loaded)
            backlog += 12; /* more than the slots take */
        while (inflight < slots && backlog) {
            backlog--;
            inflight++;
        }
        while (
            !(paused = batches_pause_wanted(paused, held, cap, inflight >= slots ? backlog : 0))) {
            held++; /* one batch job read */
            if (inflight < slots)
                inflight++;
            if (t >= 10 && loaded)
                read_loaded++;
            if (!loaded)
                read_after++;
        }
        if (held > max_held)
            max_held = held;
        if (!loaded)
            backlog = backlog > slots ? backlog - slots : 0;
    }
    CHECK(max_held <= cap);
    CHECK_INT(read_loaded, 0);
    CHECK(read_after > 0);
}

static void test_expired(void)
{
    lq_chat_request_t r;

    memset(&r, 0, sizeof(r));
    r.deadline_ms = 1000;
    CHECK_INT(batches_expired(&r, 5000), 0); /* not a batch job: never */
    r.batch_id = "batch_0190";
    CHECK_INT(batches_expired(&r, 5000), 1);
    CHECK_INT(batches_expired(&r, 1000), 0);
    CHECK_INT(batches_expired(&r, 999), 0);
    r.deadline_ms = 0; /* no deadline */
    CHECK_INT(batches_expired(&r, 5000), 0);
}

static void test_memory_basics(void)
{
    worker_id_memory_t *m = worker_id_memory_create(4);

    CHECK(worker_id_memory_create(0) == NULL);
    CHECK(m != NULL);
    CHECK_INT(worker_id_memory_has(m, "batch_a"), 0);
    CHECK_INT(worker_id_memory_add(m, "batch_a"), LQ_OK);
    CHECK_INT(worker_id_memory_has(m, "batch_a"), 1);
    CHECK_INT(worker_id_memory_has(m, "batch_b"), 0);
    CHECK_INT(worker_id_memory_has(m, NULL), 0);
    CHECK_INT(worker_id_memory_has(NULL, "batch_a"), 0);
    CHECK_INT(worker_id_memory_add(m, "batch_a"), LQ_OK); /* again: still one slot */
    CHECK_INT(worker_id_memory_len(m), 1);
    worker_id_memory_destroy(m);
    worker_id_memory_destroy(NULL);
}

/* Over the bound the oldest is forgotten, and only it; an id remembered twice used one slot. */
static void test_memory_bound(void)
{
    worker_id_memory_t *m = worker_id_memory_create(3);
    char id[32];
    int i;

    worker_id_memory_add(m, "batch_0");
    worker_id_memory_add(m, "batch_1");
    worker_id_memory_add(m, "batch_1");
    worker_id_memory_add(m, "batch_2");
    CHECK_INT(worker_id_memory_len(m), 3);
    worker_id_memory_add(m, "batch_3");
    CHECK_INT(worker_id_memory_len(m), 3);
    CHECK_INT(worker_id_memory_has(m, "batch_0"), 0);
    CHECK_INT(worker_id_memory_has(m, "batch_1"), 1);
    CHECK_INT(worker_id_memory_has(m, "batch_3"), 1);
    for (i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "batch_x%d", i);
        worker_id_memory_add(m, id);
    }
    CHECK_INT(worker_id_memory_len(m), 3);
    CHECK_INT(worker_id_memory_has(m, "batch_x999"), 1);
    CHECK_INT(worker_id_memory_has(m, "batch_x997"), 1);
    CHECK_INT(worker_id_memory_has(m, "batch_x996"), 0);
    CHECK_INT(worker_id_memory_has(m, "batch_3"), 0);
    worker_id_memory_destroy(m);
}

int main(void)
{
    test_pause_when();
    test_resume_hysteresis();
    test_yield_under_load();
    test_expired();
    test_memory_basics();
    test_memory_bound();
    TEST_DONE();
}

/* A call to the built-in mock provider, timed like a provider's. */
#include <string.h>

#include "common/clock.h"
#include "workers/mock_call.h"
#include "workers/publish.h"
#include "workers/timers.h"

/* Set j's timer, or fail its result; 0, or 1 when the call is over. */
static int wait_for(worker_t *w, job_t *j, timer_kind_t kind, int64_t due_us)
{
    if (timer_add(w, j, kind, due_us) == LQ_OK)
        return 0;
    worker_result_fail(&j->result, "server_error", NULL, "out of memory", 500, 0);
    return 1;
}

int mock_call_start(worker_t *w, job_t *j)
{
    worker_mock_complete(&j->req, w->mock_tokens, &j->result);
    j->mock_pos = 0;
    return wait_for(w, j,
                    j->req.mode == LQ_MODE_STREAM && j->result.ok ? T_MOCK_TOKEN : T_MOCK_DONE,
                    j->attempt_start_us + w->mock_latency_us);
}

int mock_call_step(worker_t *w, job_t *j)
{
    const char *text = j->result.content ? j->result.content : "";
    size_t total = strlen(text);

    do {
        size_t end = j->mock_pos;
        while (end < total && text[end] == ' ')
            end++;
        while (end < total && text[end] != ' ')
            end++;
        if (end > j->mock_pos)
            publish_chunk(j, text + j->mock_pos, end - j->mock_pos);
        j->mock_pos = end;
    } while (j->mock_pos < total && w->mock_interval_us == 0);
    if (j->mock_pos >= total)
        return 1;
    return wait_for(w, j, T_MOCK_TOKEN, lq_mono_us() + w->mock_interval_us);
}

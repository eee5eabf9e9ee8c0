#include "ingest/reply_answer.h"

#include <stdio.h>

#include "common/clock.h"
#include "common/openai_json.h"
#include "ingest/conversation_turn.h"
#include "ingest/request_ctx.h"
#include "ingest/sse_out.h"

static const lq_job_error_t unknown_failure = {"server_error", NULL, "the job did not succeed",
                                               502};

/* A plain answer: the completion, or the job's error with its status. */
static void set_result(req_ctx_t *c, const lq_chat_response_t *resp)
{
    lq_jsonw_t w;
    const lq_job_error_t *e = resp->has_error ? &resp->error : &unknown_failure;

    lq_jsonw_init(&w);
    if (resp->status == LQ_STATUS_SUCCEEDED) {
        lq_openai_write_completion(&w, resp);
        ingest_ctx_set_jsonw(c, 200, &w);
        return;
    }
    lq_jsonw_obj_open(&w);
    lq_jsonw_key(&w, "error");
    lq_openai_write_job_error(&w, e);
    lq_jsonw_obj_close(&w);
    ingest_ctx_set_jsonw(c, (unsigned)(e->http_status >= 400 ? e->http_status : 502), &w);
}

void ingest_reply_answer(void *waiter, const lq_chat_response_t *resp)
{
    req_ctx_t *c = waiter;
    int turn = ingest_conversation_pending(c);

    if (resp->finished_at_ms > 0) {
        int64_t delay_ms = lq_cluster_ms() - resp->finished_at_ms;
        lq_metric_observe_us(c->node->m_reply_delay, delay_ms > 0 ? delay_ms * 1000 : 0);
    }

    if (c->mode != LQ_MODE_STREAM) {
        set_result(c, resp);
        /* a turn is stored before it is answered */
        ingest_conversation_end(c, resp, INGEST_TURN_THEN_RESUME);
        return;
    }
    if (turn)
        ingest_sse_out_hold(c); /* [DONE] once the turn is stored */
    if (ingest_sse_out_finish(c, resp,
                              resp->status == LQ_STATUS_SUCCEEDED ? NULL
                              : resp->has_error                   ? &resp->error
                                                                  : &unknown_failure)) {
        ingest_conversation_end(c, resp,
                                turn ? INGEST_TURN_THEN_RELEASE_STREAM : INGEST_TURN_THEN_NOTHING);
    } else {
        /* failed before any text: a plain error answer, as for sync */
        set_result(c, resp);
        ingest_sse_out_end(c);
        ingest_conversation_end(c, resp, INGEST_TURN_THEN_RESUME);
    }
    ingest_ctx_unref(c); /* the waiter's reference */
}

void ingest_reply_timeout(void *waiter)
{
    req_ctx_t *c = waiter;
    char msg[200];

    snprintf(msg, sizeof(msg), "No result within the time limit; the job goes on: GET /v1/jobs/%s",
             c->job_id);
    if (c->mode != LQ_MODE_STREAM) {
        ingest_ctx_set_error(c, 504, msg, "timeout", NULL, "timeout");
        ingest_ctx_resume(c);
        return;
    }
    {
        lq_job_error_t e = {"timeout", "timeout", msg, 504};
        if (!ingest_sse_out_finish(c, NULL, &e)) {
            ingest_sse_out_end(c);
            ingest_ctx_set_error(c, 504, msg, "timeout", NULL, "timeout");
            ingest_ctx_resume(c);
        }
    }
    ingest_ctx_unref(c); /* the waiter's reference */
}

#include "ingest/sse_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/openai_json.h"
#include "ingest/limit_step.h"
#include "ingest/produce.h"

/* Append bytes to the stream buffer (mu held). */
static void append(ingest_sse_t *s, const char *data, size_t n)
{
    if (s->off && s->off == s->len)
        s->off = s->len = 0;
    if (s->len + n > s->cap) {
        size_t ncap = (s->len + n) * 2;
        char *nb = realloc(s->buf, ncap);
        if (!nb)
            return; /* the client gets a shorter stream rather than a crash */
        s->buf = nb;
        s->cap = ncap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
}

/* "data: <json>\n\n" from a finished writer, which is emptied for the next event. */
static void event(ingest_sse_t *s, lq_jsonw_t *w)
{
    if (!w->failed && w->depth == 0) {
        append(s, "data: ", 6);
        append(s, w->p, w->len);
        append(s, "\n\n", 2);
    }
    lq_jsonw_reset(w);
}

static void chunk_base(const req_ctx_t *c, lq_openai_chunk_t *k)
{
    memset(k, 0, sizeof(*k));
    k->job_id = c->job_id;
    k->created_s = c->created_ms / 1000;
    k->model = c->sse.model;
}

static void write_chunk(req_ctx_t *c, const char *content, size_t len, const char *finish,
                        const char *msg_extra, const char *top_extra)
{
    lq_openai_chunk_t k;
    lq_jsonw_t w;

    chunk_base(c, &k);
    k.role = c->sse.chunks == 0 ? "assistant" : NULL;
    k.content = content;
    k.content_len = len;
    k.finish_reason = finish;
    k.message_extra_json = msg_extra;
    k.top_extra_json = top_extra;
    lq_jsonw_init(&w);
    lq_openai_write_chunk(&w, &k);
    event(&c->sse, &w);
    lq_jsonw_free(&w);
    c->sse.chunks++;
}

/* After new bytes (mu held): 1 when the connection must be resumed (by the caller, after
 * unlocking) so they reach the client. */
static int kick(req_ctx_t *c)
{
    if (c->phase == REQ_WAIT) {
        c->phase = REQ_STREAM; /* the handler queues the SSE response */
        return 1;
    }
    if (c->sse.suspended) {
        c->sse.suspended = 0;
        return 1;
    }
    return 0;
}

static void unlock_and_kick(req_ctx_t *c)
{
    int resume = kick(c);

    pthread_mutex_unlock(&c->sse.mu);
    if (resume)
        ingest_ctx_resume(c);
}

void ingest_sse_out_chunk(void *waiter, const lq_chat_chunk_t *chunk)
{
    req_ctx_t *c = waiter;

    if (c->mode != LQ_MODE_STREAM)
        return;
    pthread_mutex_lock(&c->sse.mu);
    if (c->sse.done) {
        pthread_mutex_unlock(&c->sse.mu);
        return;
    }
    if (chunk->provider_model && !c->sse.chunks)
        snprintf(c->sse.model, sizeof(c->sse.model), "%s", chunk->provider_model);
    write_chunk(c, chunk->delta, strlen(chunk->delta), NULL, NULL, NULL);
    unlock_and_kick(c);
}

/* An error after part of the answer went out: OpenAI's SDKs raise on it. */
static void write_error(req_ctx_t *c, lq_jsonw_t *w, const lq_job_error_t *err)
{
    lq_jsonw_obj_open(w);
    lq_jsonw_key(w, "error");
    lq_openai_write_job_error(w, err);
    lq_jsonw_obj_close(w);
    event(&c->sse, w);
}

/* The final chunk and the usage chunk when asked for ([DONE] is the caller's). */
static void write_end(req_ctx_t *c, lq_jsonw_t *w, const lq_chat_response_t *resp)
{
    const lq_choice_t *ch = resp->n_choices ? &resp->choices[0] : NULL;

    if (resp->provider_model && !c->sse.chunks)
        snprintf(c->sse.model, sizeof(c->sse.model), "%s", resp->provider_model);
    if (c->sse.chunks == 0 && ch && ch->content) /* nothing was streamed: all at once */
        write_chunk(c, ch->content, strlen(ch->content), NULL, NULL, NULL);
    write_chunk(c, NULL, 0, ch && ch->finish_reason ? ch->finish_reason : "stop",
                ch ? ch->extra_json : NULL, resp->extra_json);
    if (c->sse.flags & INGEST_STREAM_USAGE) {
        lq_openai_chunk_t k;
        chunk_base(c, &k);
        k.usage_only = 1;
        k.prompt_tokens = resp->prompt_tokens;
        k.completion_tokens = resp->completion_tokens;
        lq_openai_write_chunk(w, &k);
        event(&c->sse, w);
    }
}

int ingest_sse_out_finish(req_ctx_t *c, const lq_chat_response_t *resp, const lq_job_error_t *err)
{
    lq_jsonw_t w;

    pthread_mutex_lock(&c->sse.mu);
    if (err && c->sse.chunks == 0) {
        pthread_mutex_unlock(&c->sse.mu);
        return 0;
    }
    lq_jsonw_init(&w);
    if (err)
        write_error(c, &w, err);
    else
        write_end(c, &w, resp);
    lq_jsonw_free(&w);
    if (c->sse.hold_end) {
        c->sse.end_held = !err;
    } else {
        if (!err)
            append(&c->sse, "data: [DONE]\n\n", 14);
        c->sse.done = 1;
    }
    unlock_and_kick(c);
    return 1;
}

void ingest_sse_out_hold(req_ctx_t *c)
{
    pthread_mutex_lock(&c->sse.mu);
    c->sse.hold_end = 1;
    pthread_mutex_unlock(&c->sse.mu);
}

void ingest_sse_out_release(req_ctx_t *c)
{
    pthread_mutex_lock(&c->sse.mu);
    if (!c->sse.hold_end || c->sse.done) {
        c->sse.hold_end = 0;
        pthread_mutex_unlock(&c->sse.mu);
        return;
    }
    c->sse.hold_end = 0;
    if (c->sse.end_held)
        append(&c->sse, "data: [DONE]\n\n", 14);
    c->sse.done = 1;
    unlock_and_kick(c);
}

void ingest_sse_out_end(req_ctx_t *c)
{
    pthread_mutex_lock(&c->sse.mu);
    c->sse.done = 1;
    pthread_mutex_unlock(&c->sse.mu);
}

/* MHD's content reader for the SSE response. */
static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    req_ctx_t *c = cls;
    ingest_sse_t *s = &c->sse;
    size_t n;

    (void)pos;
    pthread_mutex_lock(&s->mu);
    if (s->off < s->len) {
        n = s->len - s->off < max ? s->len - s->off : max;
        memcpy(buf, s->buf + s->off, n);
        s->off += n;
        pthread_mutex_unlock(&s->mu);
        return (ssize_t)n;
    }
    if (s->done) {
        pthread_mutex_unlock(&s->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    /* nothing to send yet: sleep until the reply thread has bytes (returning 0 without
     * suspending would make MHD spin) */
    s->suspended = 1;
    MHD_suspend_connection(c->conn);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static void response_freed(void *cls)
{
    ingest_ctx_unref(cls);
}

enum MHD_Result ingest_sse_out_start(req_ctx_t *c)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    if (c->sse.queued)
        return MHD_YES;
    ingest_ctx_ref(c); /* the response's */
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, read_stream, c, response_freed);
    if (!r) {
        ingest_ctx_unref(c);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "x-llmq-job-id", c->job_id);
    MHD_add_response_header(r, "x-request-id", c->request_id);
    ingest_limit_add_headers(c, r);
    c->sse.queued = 1;
    c->status = 200;
    ret = MHD_queue_response(c->conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

void ingest_sse_out_closed(req_ctx_t *c, int completed_ok)
{
    if (c->mode != LQ_MODE_STREAM || !c->job_id[0] || !c->node->replies)
        return; /* (no reply topic: the node is stopping, its waiters were timed out) */
    if (!ingest_replies_cancel(c->node->replies, c->job_id))
        return;          /* the result came: the waiter is gone already */
    ingest_ctx_unref(c); /* the waiter's reference */
    if (!completed_ok)
        ingest_produce_cancel(c, "client_disconnected");
}

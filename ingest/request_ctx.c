#include "ingest/request_ctx.h"

#include <stdlib.h>
#include <string.h>

#include "common/openai_json.h"
#include "ingest/files.h"

req_ctx_t *ingest_ctx_new(ingest_node_t *node, struct MHD_Connection *conn)
{
    req_ctx_t *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->node = node;
    c->conn = conn;
    atomic_init(&c->refs, 1);
    return c;
}

void ingest_ctx_ref(req_ctx_t *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void ingest_ctx_unref(req_ctx_t *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    if (c->sse.mu_init)
        pthread_mutex_destroy(&c->sse.mu);
    ingest_admin_call_clear(&c->admin);
    free(c->sse.buf);
    free(c->body);
    free(c->resp);
    free(c->conv_begun);
    ingest_file_io_free(c->file_io);
    free(c);
}

int ingest_ctx_enable_stream(req_ctx_t *c, int flags)
{
    if (pthread_mutex_init(&c->sse.mu, NULL) != 0)
        return -1;
    c->sse.mu_init = 1;
    c->sse.flags = flags;
    return 0;
}

void ingest_ctx_set_text(req_ctx_t *c, unsigned status, char *text, size_t len)
{
    free(c->resp);
    c->resp = text;
    c->resp_len = text ? len : 0;
    c->status = text ? status : 500;
    c->phase = REQ_RESPOND;
}

void ingest_ctx_set_json(req_ctx_t *c, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

    json_decref(body);
    ingest_ctx_set_text(c, status, text, text ? strlen(text) : 0);
}

void ingest_ctx_set_jsonw(req_ctx_t *c, unsigned status, lq_jsonw_t *w)
{
    if (w->failed || w->depth != 0) {
        lq_jsonw_free(w);
        ingest_ctx_set_text(c, status, NULL, 0);
        return;
    }
    ingest_ctx_set_text(c, status, w->p, w->len); /* the writer's buffer is ours now */
}

void ingest_ctx_set_error(req_ctx_t *c, unsigned status, const char *message, const char *type,
                          const char *param, const char *code)
{
    ingest_ctx_set_json(c, status, lq_openai_error(message, type, param, code));
}

void ingest_ctx_set_unavailable(req_ctx_t *c, const char *message, const char *code)
{
    c->retry_after = 1;
    ingest_ctx_set_error(c, 503, message, "service_unavailable", NULL, code);
}

void ingest_ctx_set_internal_error(req_ctx_t *c)
{
    ingest_ctx_set_error(c, 500, "internal error", "server_error", NULL, NULL);
}

const char *ingest_ctx_query(req_ctx_t *c, const char *name)
{
    return MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, name);
}

ingest_step_t ingest_ctx_suspend(req_ctx_t *c)
{
    c->phase = REQ_WAIT;
    MHD_suspend_connection(c->conn);
    return INGEST_STEP_SUSPENDED;
}

void ingest_ctx_resume(req_ctx_t *c)
{
    MHD_resume_connection(c->conn);
}

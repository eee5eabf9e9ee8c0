#include "ingest/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>

#include "common/api_key.h"
#include "common/clock.h"
#include "common/hashmap.h"
#include "common/ids.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/openai_json.h"
#include "common/pg.h"
#include "ingest/admin.h"
#include "ingest/auth.h"
#include "ingest/pg_async.h"
#include "ingest/replies.h"
#include "ingest/request_parse.h"
#include "schemas/codec.h"

typedef enum route {
    R_CHAT = 0,
    R_JOBS_POST,
    R_JOB_GET,
    R_ADMIN,
    R_HEALTHZ,
    R_READYZ,
    R_METRICS,
    R_NOT_FOUND,
    R_BAD_METHOD,
    R_COUNT
} route_t;

static const char *const route_names[R_COUNT] = {
    "/v1/chat/completions", "/v1/jobs", "/v1/jobs/{id}", "/admin/v1", "/healthz", "/readyz",
    "/metrics", "other", "other"};

typedef enum phase { PH_NEW = 0, PH_AUTH, PH_WAIT, PH_RESPOND, PH_STREAM } phase_t;

typedef struct recent_job {
    char tenant_id[64];
    char model[128];
    int64_t created_ms;
} recent_job_t;

struct ingest_server {
    const lq_config_t *cfg;
    lq_topics_t topics;
    char node_id[128];
    char reply_topic[400];
    struct MHD_Daemon *d;
    int port;
    rd_kafka_t *producer;
    pthread_t poller, health, auth_listener;
    int poller_started, health_started, auth_listener_started;
    atomic_int stopping;
    atomic_int kafka_ok;
    ingest_pg_t *pg;
    ingest_auth_t *auth;
    lq_master_key_t master; /* encrypts tenants' provider keys (admin API) */
    int has_master;
    ingest_replies_t *replies;
    ingest_limits_t limits;
    size_t max_body;
    int64_t sync_timeout_ms;
    /* accepted async jobs, until the sinks have them in PostgreSQL */
    pthread_mutex_t recent_mu;
    lq_hashmap_t *recent;
    char **recent_ring;
    size_t recent_cap, recent_next;
    lq_metric_t *m_inflight, *m_latency[R_COUNT], *m_enqueued, *m_enqueue_failed, *m_cancels;
    lq_metric_t *m_policy_blocked, *m_policy_redacted;
    _Atomic(lq_metric_t *) m_requests[R_COUNT][600]; /* by route and status, made on first use */
};

typedef struct req_ctx {
    ingest_server_t *srv;
    struct MHD_Connection *conn;
    atomic_int refs;
    route_t route;
    phase_t phase;
    int64_t start_us;
    char *body;
    size_t len, cap;
    int too_large;
    char key_hash[65];
    char key_prefix[LQ_API_KEY_PREFIX_LEN + 1];
    uint64_t auth_generation; /* of the cache when the lookup was sent */
    char method[8];
    admin_call_t admin;
    ingest_auth_state_t auth_state;
    ingest_identity_t id;
    char job_id[LQ_UUID_STR_LEN + 1];
    char model[128];
    int64_t created_ms;
    lq_mode_t mode;
    /* the answer */
    unsigned status;
    char *resp;
    size_t resp_len;
    char location[96];
    char allow[64];
    int retry_after;
    /* streaming (stream: true): SSE bytes flow from the reply thread to MHD's reader */
    int stream_flags;       /* INGEST_STREAM | INGEST_STREAM_USAGE */
    pthread_mutex_t smu;    /* guards the s* fields */
    int smu_init;
    char *sbuf;
    size_t slen, soff, scap;
    int s_chunks;           /* answer chunks written */
    int s_done;             /* the last bytes are in sbuf */
    int s_suspended;        /* the reader suspended the connection until bytes arrive */
    int s_queued;           /* the SSE response is queued */
    char s_model[128];      /* model named in the chunks */
} req_ctx_t;

/* ---------- small helpers ---------- */

static void ctx_unref(req_ctx_t *c)
{
    if (atomic_fetch_sub(&c->refs, 1) == 1) {
        if (c->smu_init)
            pthread_mutex_destroy(&c->smu);
        ingest_admin_call_clear(&c->admin);
        free(c->sbuf);
        free(c->body);
        free(c->resp);
        free(c);
    }
}

/* Take ownership of body (a JSON value) as the answer. */
static void ctx_set_json(req_ctx_t *c, unsigned status, json_t *body)
{
    free(c->resp);
    c->resp = body ? json_dumps(body, JSON_COMPACT) : NULL;
    c->resp_len = c->resp ? strlen(c->resp) : 0;
    c->status = c->resp ? status : 500;
    json_decref(body);
    c->phase = PH_RESPOND;
}

/* Take the text of a finished JSON writer as the answer. */
static void ctx_set_jsonw(req_ctx_t *c, unsigned status, lq_jsonw_t *w)
{
    free(c->resp);
    if (w->failed || w->depth != 0) {
        lq_jsonw_free(w);
        c->resp = NULL;
        c->resp_len = 0;
        c->status = 500;
    } else {
        c->resp = w->p; /* ours now */
        c->resp_len = w->len;
        c->status = status;
    }
    c->phase = PH_RESPOND;
}

static void ctx_set_error(req_ctx_t *c, unsigned status, const char *message, const char *type,
                          const char *param, const char *code)
{
    ctx_set_json(c, status, lq_openai_error(message, type, param, code));
}

/* Complete a suspended request from another thread. The caller must not touch c after. */
static void ctx_resume(req_ctx_t *c)
{
    MHD_resume_connection(c->conn);
}

static route_t match_route(const char *url, const char *method)
{
    int is_get = strcmp(method, "GET") == 0, is_post = strcmp(method, "POST") == 0;

    if (strcmp(url, "/v1/chat/completions") == 0)
        return is_post ? R_CHAT : R_BAD_METHOD;
    if (strcmp(url, "/v1/jobs") == 0)
        return is_post ? R_JOBS_POST : R_BAD_METHOD;
    if (strncmp(url, "/v1/jobs/", 9) == 0 && url[9] && !strchr(url + 9, '/'))
        return is_get ? R_JOB_GET : R_BAD_METHOD;
    if (strncmp(url, "/admin/v1/", 10) == 0)
        return R_ADMIN; /* methods are checked per admin path */
    if (strcmp(url, "/healthz") == 0)
        return is_get ? R_HEALTHZ : R_BAD_METHOD;
    if (strcmp(url, "/readyz") == 0)
        return is_get ? R_READYZ : R_BAD_METHOD;
    if (strcmp(url, "/metrics") == 0)
        return is_get ? R_METRICS : R_BAD_METHOD;
    return R_NOT_FOUND;
}

static enum MHD_Result send_answer(req_ctx_t *c)
{
    struct MHD_Response *r;
    enum MHD_Result ret;
    const char *ctype = c->route == R_METRICS ? "text/plain; version=0.0.4" : "application/json";

    r = MHD_create_response_from_buffer(c->resp_len, c->resp, MHD_RESPMEM_MUST_FREE);
    if (!r)
        return MHD_NO;
    c->resp = NULL; /* MHD owns it now */
    MHD_add_response_header(r, "Content-Type", ctype);
    if (c->location[0])
        MHD_add_response_header(r, "Location", c->location);
    if (c->job_id[0])
        MHD_add_response_header(r, "x-llmq-job-id", c->job_id);
    if (c->allow[0])
        MHD_add_response_header(r, "Allow", c->allow);
    if (c->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", c->retry_after);
        MHD_add_response_header(r, "Retry-After", ra);
    }
    ret = MHD_queue_response(c->conn, c->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---------- recent async jobs ---------- */

static void recent_add(ingest_server_t *s, const req_ctx_t *c)
{
    recent_job_t *j;

    if (!s->recent_cap)
        return;
    j = calloc(1, sizeof(*j));
    if (!j)
        return;
    snprintf(j->tenant_id, sizeof(j->tenant_id), "%s", c->id.tenant_id);
    snprintf(j->model, sizeof(j->model), "%s", c->model);
    j->created_ms = c->created_ms;
    pthread_mutex_lock(&s->recent_mu);
    if (s->recent_ring[s->recent_next]) { /* evict the oldest */
        free(lq_hashmap_remove(s->recent, s->recent_ring[s->recent_next]));
        free(s->recent_ring[s->recent_next]);
        s->recent_ring[s->recent_next] = NULL;
    }
    s->recent_ring[s->recent_next] = strdup(c->job_id);
    if (s->recent_ring[s->recent_next] && lq_hashmap_put(s->recent, c->job_id, j) == LQ_OK) {
        j = NULL;
        s->recent_next = (s->recent_next + 1) % s->recent_cap;
    }
    pthread_mutex_unlock(&s->recent_mu);
    free(j);
}

static int recent_get(ingest_server_t *s, const char *job_id, recent_job_t *out)
{
    recent_job_t *j;
    int found = 0;

    if (!s->recent_cap)
        return 0;
    pthread_mutex_lock(&s->recent_mu);
    j = lq_hashmap_get(s->recent, job_id);
    if (j) {
        *out = *j;
        found = 1;
    }
    pthread_mutex_unlock(&s->recent_mu);
    return found;
}

static json_t *job_object(const char *id, const char *status, const char *model,
                          int64_t created_s)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", id, "object", "job", "status", status,
                     "model", model, "created_at", (json_int_t)created_s);
}

/* ---------- Kafka ---------- */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    ingest_server_t *s = opaque;
    req_ctx_t *c = m->_private;

    (void)rk;
    if (!c)
        return;
    if (c->mode == LQ_MODE_ASYNC) {
        if (m->err) {
            LQ_WARN("job %s not stored in Kafka: %s", c->job_id, rd_kafka_err2str(m->err));
            lq_metric_add(s->m_enqueue_failed, 1);
            c->retry_after = 1;
            ctx_set_error(c, 503, "The request could not be queued; retry later.",
                          "service_unavailable", NULL, "enqueue_failed");
        } else {
            json_t *job = job_object(c->job_id, "queued", c->model, c->created_ms / 1000);
            lq_metric_add(s->m_enqueued, 1);
            recent_add(s, c);
            snprintf(c->location, sizeof(c->location), "/v1/jobs/%s", c->job_id);
            ctx_set_json(c, 202, job);
        }
        ctx_resume(c);
    } else if (m->err) {
        lq_metric_add(s->m_enqueue_failed, 1);
        if (ingest_replies_cancel(s->replies, c->job_id)) {
            if (c->mode == LQ_MODE_STREAM)
                ctx_unref(c); /* the waiter's reference (c is still held by this report) */
            c->retry_after = 1;
            ctx_set_error(c, 503, "The request could not be queued; retry later.",
                          "service_unavailable", NULL, "enqueue_failed");
            ctx_resume(c);
        }
    } else {
        lq_metric_add(s->m_enqueued, 1);
    }
    ctx_unref(c); /* the reference the produce call held */
}

static void *poller_main(void *arg)
{
    ingest_server_t *s = arg;

    while (!atomic_load(&s->stopping))
        rd_kafka_poll(s->producer, 50);
    return NULL;
}

/* Changes of keys, tenants, projects or users reach this node within a second: the
 * database notifies llmq_auth (triggers of migration 0002) and the cached answers go. */
static void *auth_listener_main(void *arg)
{
    ingest_server_t *s = arg;
    PGconn *conn = NULL;

    while (!atomic_load(&s->stopping))
        if (lq_pg_listen_poll(&conn, lq_config_str(s->cfg, "pg.url"), "llmq-ingest-listen",
                              "llmq_auth", 500) > 0)
            ingest_auth_flush(s->auth); /* a change, or a reconnection that may have missed one */
    if (conn)
        PQfinish(conn);
    return NULL;
}

static void *health_main(void *arg)
{
    ingest_server_t *s = arg;
    int tick = 0;

    while (!atomic_load(&s->stopping)) {
        if (tick++ % 40 == 0) { /* every 2 s */
            const struct rd_kafka_metadata *md = NULL;
            rd_kafka_resp_err_t e = rd_kafka_metadata(s->producer, 0, NULL, &md, 2000);
            atomic_store(&s->kafka_ok, e == RD_KAFKA_RESP_ERR_NO_ERROR && md && md->broker_cnt > 0);
            if (md)
                rd_kafka_metadata_destroy(md);
        }
        nanosleep(&(struct timespec){0, 50 * 1000000}, NULL);
    }
    return NULL;
}

/* ---------- replies (sync) ---------- */

/* ---------- streaming ---------- */

/* Append "data: <json>\n\n" from a finished writer to the stream buffer (smu held). */
static void stream_append(req_ctx_t *c, const char *data, size_t n)
{
    if (c->soff && c->soff == c->slen)
        c->soff = c->slen = 0;
    if (c->slen + n > c->scap) {
        size_t ncap = (c->slen + n) * 2;
        char *nb = realloc(c->sbuf, ncap);
        if (!nb)
            return; /* the client gets a shorter stream rather than a crash */
        c->sbuf = nb;
        c->scap = ncap;
    }
    memcpy(c->sbuf + c->slen, data, n);
    c->slen += n;
}

static void stream_event(req_ctx_t *c, lq_jsonw_t *w)
{
    if (!w->failed && w->depth == 0) {
        stream_append(c, "data: ", 6);
        stream_append(c, w->p, w->len);
        stream_append(c, "\n\n", 2);
    }
    lq_jsonw_reset(w);
}

static void stream_chunk(req_ctx_t *c, const char *content, size_t len, const char *finish,
                         const char *msg_extra, const char *top_extra)
{
    lq_openai_chunk_t k;
    lq_jsonw_t w;

    memset(&k, 0, sizeof(k));
    k.job_id = c->job_id;
    k.created_s = c->created_ms / 1000;
    k.model = c->s_model;
    k.role = c->s_chunks == 0 ? "assistant" : NULL;
    k.content = content;
    k.content_len = len;
    k.finish_reason = finish;
    k.message_extra_json = msg_extra;
    k.top_extra_json = top_extra;
    lq_jsonw_init(&w);
    lq_openai_write_chunk(&w, &k);
    stream_event(c, &w);
    lq_jsonw_free(&w);
    c->s_chunks++;
}

/* After new bytes (smu held): get them to the client. Returns 1 when the handler must be
 * resumed (done by the caller after unlocking). */
static int stream_kick(req_ctx_t *c)
{
    if (c->phase == PH_WAIT) {
        c->phase = PH_STREAM; /* the handler queues the SSE response */
        return 1;
    }
    if (c->s_suspended) {
        c->s_suspended = 0;
        return 1;
    }
    return 0;
}

static void stream_on_chunk(void *waiter, const lq_chat_chunk_t *chunk)
{
    req_ctx_t *c = waiter;
    int resume;

    if (c->mode != LQ_MODE_STREAM)
        return;
    pthread_mutex_lock(&c->smu);
    if (c->s_done) {
        pthread_mutex_unlock(&c->smu);
        return;
    }
    if (chunk->provider_model && !c->s_chunks)
        snprintf(c->s_model, sizeof(c->s_model), "%s", chunk->provider_model);
    stream_chunk(c, chunk->delta, strlen(chunk->delta), NULL, NULL, NULL);
    resume = stream_kick(c);
    pthread_mutex_unlock(&c->smu);
    if (resume)
        MHD_resume_connection(c->conn);
}

/* The end of a stream: the final chunk, usage, [DONE]; or an error event. Returns 0 when
 * nothing was streamed yet and resp failed: the caller answers with a plain error. */
static int stream_finish(req_ctx_t *c, const lq_chat_response_t *resp, const lq_job_error_t *err)
{
    lq_jsonw_t w;
    int resume;

    pthread_mutex_lock(&c->smu);
    if (err && c->s_chunks == 0) {
        pthread_mutex_unlock(&c->smu);
        return 0;
    }
    lq_jsonw_init(&w);
    if (err) {
        /* an error after part of the answer went out: OpenAI's SDKs raise on it */
        lq_jsonw_obj_open(&w);
        lq_jsonw_key(&w, "error");
        lq_openai_write_job_error(&w, err);
        lq_jsonw_obj_close(&w);
        stream_event(c, &w);
    } else {
        const lq_choice_t *ch = resp->n_choices ? &resp->choices[0] : NULL;
        if (resp->provider_model && !c->s_chunks)
            snprintf(c->s_model, sizeof(c->s_model), "%s", resp->provider_model);
        if (c->s_chunks == 0 && ch && ch->content) /* nothing was streamed: all at once */
            stream_chunk(c, ch->content, strlen(ch->content), NULL, NULL, NULL);
        stream_chunk(c, NULL, 0, ch && ch->finish_reason ? ch->finish_reason : "stop",
                     ch ? ch->extra_json : NULL, resp->extra_json);
        if (c->stream_flags & INGEST_STREAM_USAGE) {
            lq_openai_chunk_t k;
            memset(&k, 0, sizeof(k));
            k.job_id = c->job_id;
            k.created_s = c->created_ms / 1000;
            k.model = c->s_model;
            k.usage_only = 1;
            k.prompt_tokens = resp->prompt_tokens;
            k.completion_tokens = resp->completion_tokens;
            lq_openai_write_chunk(&w, &k);
            stream_event(c, &w);
        }
        stream_append(c, "data: [DONE]\n\n", 14);
    }
    lq_jsonw_free(&w);
    c->s_done = 1;
    resume = stream_kick(c);
    pthread_mutex_unlock(&c->smu);
    if (resume)
        MHD_resume_connection(c->conn);
    return 1;
}

/* MHD's content reader for the SSE response. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    req_ctx_t *c = cls;
    size_t n;

    (void)pos;
    pthread_mutex_lock(&c->smu);
    if (c->soff < c->slen) {
        n = c->slen - c->soff < max ? c->slen - c->soff : max;
        memcpy(buf, c->sbuf + c->soff, n);
        c->soff += n;
        pthread_mutex_unlock(&c->smu);
        return (ssize_t)n;
    }
    if (c->s_done) {
        pthread_mutex_unlock(&c->smu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    /* nothing to send yet: sleep until the reply thread has bytes (returning 0 without
     * suspending would make MHD spin) */
    c->s_suspended = 1;
    MHD_suspend_connection(c->conn);
    pthread_mutex_unlock(&c->smu);
    return 0;
}

static void stream_response_free(void *cls)
{
    ctx_unref(cls);
}

static enum MHD_Result stream_start(req_ctx_t *c)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    atomic_fetch_add(&c->refs, 1); /* the response's */
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, c,
                                          stream_response_free);
    if (!r) {
        ctx_unref(c);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "x-llmq-job-id", c->job_id);
    c->s_queued = 1;
    c->status = 200;
    ret = MHD_queue_response(c->conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* The client of a stream went away before its end: stop the job (the worker cancels the
 * provider call). */
static void send_cancel(ingest_server_t *s, req_ctx_t *c, const char *reason)
{
    lq_codec_t *codec = lq_codec_thread();
    lq_job_cancel_t k;
    const void *buf;
    size_t len;
    char errstr[256];

    k.job_id = c->job_id;
    k.tenant_id = c->id.tenant_id;
    k.reason = (char *)reason;
    k.ts_ms = lq_wall_ms();
    if (!codec || lq_encode_job_cancel(codec, &k, &buf, &len, errstr, sizeof(errstr)))
        return;
    if (rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC(s->topics.cancels),
                          RD_KAFKA_V_KEY(c->id.tenant_id, strlen(c->id.tenant_id)),
                          RD_KAFKA_V_VALUE((void *)buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR)
        lq_metric_add(s->m_cancels, 1);
}

/* ---------- replies (sync and stream) ---------- */

static void on_reply(void *waiter, const lq_chat_response_t *resp)
{
    req_ctx_t *c = waiter;

    static const lq_job_error_t unknown = {"server_error", NULL, "the job did not succeed", 502};
    lq_jsonw_t w;

    if (c->mode == LQ_MODE_STREAM) {
        int ok = resp->status == LQ_STATUS_SUCCEEDED;
        const lq_job_error_t *e = ok ? NULL : resp->has_error ? &resp->error : &unknown;
        if (stream_finish(c, resp, e)) {
            ctx_unref(c); /* the waiter's reference */
            return;
        }
        /* failed before any text: a plain error answer, as for sync */
    }
    lq_jsonw_init(&w);
    if (resp->status == LQ_STATUS_SUCCEEDED) {
        lq_openai_write_completion(&w, resp);
        ctx_set_jsonw(c, 200, &w);
    } else {
        const lq_job_error_t *e = resp->has_error ? &resp->error : &unknown;
        lq_jsonw_obj_open(&w);
        lq_jsonw_key(&w, "error");
        lq_openai_write_job_error(&w, e);
        lq_jsonw_obj_close(&w);
        ctx_set_jsonw(c, (unsigned)(e->http_status >= 400 ? e->http_status : 502), &w);
    }
    if (c->mode == LQ_MODE_STREAM) {
        pthread_mutex_lock(&c->smu);
        c->s_done = 1;
        pthread_mutex_unlock(&c->smu);
        ctx_resume(c);
        ctx_unref(c);
        return;
    }
    ctx_resume(c);
}

static void on_timeout(void *waiter)
{
    req_ctx_t *c = waiter;
    char msg[200];

    snprintf(msg, sizeof(msg),
             "No result within the time limit; the job goes on: GET /v1/jobs/%s", c->job_id);
    if (c->mode == LQ_MODE_STREAM) {
        lq_job_error_t e = {"timeout", "timeout", msg, 504};
        if (!stream_finish(c, NULL, &e)) {
            pthread_mutex_lock(&c->smu);
            c->s_done = 1;
            pthread_mutex_unlock(&c->smu);
            ctx_set_error(c, 504, msg, "timeout", NULL, "timeout");
            ctx_resume(c);
        }
        ctx_unref(c); /* the waiter's reference */
        return;
    }
    ctx_set_error(c, 504, msg, "timeout", NULL, "timeout");
    ctx_resume(c);
}

/* ---------- PostgreSQL callbacks ---------- */

static void auth_cb(const PGresult *res, const char *errmsg, void *arg)
{
    req_ctx_t *c = arg;
    ingest_server_t *s = c->srv;

    if (!res) {
        (void)errmsg;
        c->auth_state = INGEST_AUTH_UNAVAILABLE;
    } else if (ingest_auth_match(res, c->key_hash, &c->id) != 0) {
        ingest_auth_store_if(s->auth, c->key_hash, NULL, c->auth_generation);
        c->auth_state = INGEST_AUTH_REFUSED;
    } else {
        ingest_auth_store_if(s->auth, c->key_hash, &c->id, c->auth_generation);
        c->auth_state = INGEST_AUTH_ACCEPTED;
    }
    ctx_resume(c);
}

/* through a function running as llmq_tenant_reader: row-level security sees to it that
 * only the caller's tenant's rows are visible, whatever the query (migration 0005) */
static const char *const JOB_GET_SQL = "SELECT * FROM tenant_job($2, $1::uuid)";

static void set_int_or_null(json_t *o, const char *key, const PGresult *res, int col)
{
    if (PQgetisnull(res, 0, col))
        json_object_set_new(o, key, json_null());
    else
        json_object_set_new(o, key, json_integer(strtoll(PQgetvalue(res, 0, col), NULL, 10)));
}

static void set_json_or_null(json_t *o, const char *key, const PGresult *res, int col)
{
    json_t *v = NULL;

    if (!PQgetisnull(res, 0, col)) {
        json_error_t jerr;
        v = json_loads(PQgetvalue(res, 0, col), 0, &jerr);
    }
    json_object_set_new(o, key, v ? v : json_null());
}

static void job_get_cb(const PGresult *res, const char *errmsg, void *arg)
{
    req_ctx_t *c = arg;
    recent_job_t rj;

    (void)errmsg;
    if (!res) {
        c->retry_after = 1;
        ctx_set_error(c, 503, "database unavailable", "service_unavailable",
                      NULL, "database_unavailable");
    } else if (PQntuples(res) == 1) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(c->job_id));
        json_object_set_new(o, "object", json_string("job"));
        json_object_set_new(o, "status", json_string(PQgetvalue(res, 0, 0)));
        json_object_set_new(o, "model", json_string(PQgetvalue(res, 0, 1)));
        set_int_or_null(o, "created_at", res, 2);
        set_int_or_null(o, "started_at", res, 3);
        set_int_or_null(o, "completed_at", res, 4);
        set_json_or_null(o, "result", res, 5);
        set_json_or_null(o, "error", res, 6);
        ctx_set_json(c, 200, o);
    } else if (recent_get(c->srv, c->job_id, &rj) && strcmp(rj.tenant_id, c->id.tenant_id) == 0) {
        json_t *o = job_object(c->job_id, "queued", rj.model, rj.created_ms / 1000);
        json_object_set_new(o, "started_at", json_null());
        json_object_set_new(o, "completed_at", json_null());
        json_object_set_new(o, "result", json_null());
        json_object_set_new(o, "error", json_null());
        ctx_set_json(c, 200, o);
    } else {
        char msg[120];
        snprintf(msg, sizeof(msg), "No job with id %s", c->job_id);
        ctx_set_error(c, 404, msg, "invalid_request_error", "id", "not_found");
    }
    ctx_resume(c);
}

/* ---------- routes ---------- */

static enum MHD_Result suspend_and_wait(req_ctx_t *c)
{
    c->phase = PH_WAIT;
    MHD_suspend_connection(c->conn);
    return MHD_YES;
}

static void audit_done(const PGresult *res, const char *errmsg, void *arg)
{
    (void)res;
    (void)arg;
    if (errmsg)
        LQ_WARN("policy block not recorded in the audit log: %s", errmsg);
}

/* A blocked request goes to the tenant's audit log (what was found, never the text). */
static void audit_block(req_ctx_t *c, const policy_verdict_t *v)
{
    char actor[256];
    const char *params[4];
    json_t *d = json_pack("{s:s,s:s,s:s}", "found", v->what, "where", v->param, "project",
                          c->id.project_id);
    char *dt = d ? json_dumps(d, JSON_COMPACT) : NULL;

    json_decref(d);
    snprintf(actor, sizeof(actor), "key:%s%s%s (%s)", c->id.key_id, c->id.user_id[0] ? " user:" : "",
             c->id.user_id, ingest_role_name(c->id.role));
    params[0] = c->id.tenant_id;
    params[1] = actor;
    params[2] = v->policy;
    params[3] = dt ? dt : "{}";
    if (ingest_pg_submit(c->srv->pg,
                         "SELECT audit_append($1, $2, 'policy.block', $3, $4::jsonb)", 4, params,
                         audit_done, NULL))
        LQ_WARN("policy block of tenant %s not recorded: the database queue is full",
                c->id.tenant_id);
    free(dt);
}

static enum MHD_Result handle_submit(req_ctx_t *c)
{
    ingest_server_t *s = c->srv;
    lq_chat_request_t req;
    ingest_parse_error_t perr;
    lq_codec_t *codec = lq_codec_thread();
    const void *buf = NULL;
    size_t len = 0;
    int stream = 0;
    char errstr[256];
    rd_kafka_resp_err_t kerr;

    if (!codec) {
        ctx_set_error(c, 500, "internal error", "server_error", NULL, NULL);
        return send_answer(c);
    }
    if (ingest_parse_chat(c->body ? c->body : "", c->len, &s->limits, &req, &stream, &perr)) {
        ctx_set_error(c, (unsigned)perr.status, perr.message,
                      perr.status == 400 ? "invalid_request_error" : "server_error",
                      perr.param[0] ? perr.param : NULL, perr.code[0] ? perr.code : NULL);
        return send_answer(c);
    }
    if (stream && c->route != R_CHAT) {
        lq_chat_request_clear(&req);
        ctx_set_error(c, 400, "stream: true is for POST /v1/chat/completions; a job's result "
                      "is read with GET /v1/jobs/{id}.", "invalid_request_error", "stream",
                      "unsupported_value");
        return send_answer(c);
    }
    {
        policy_verdict_t v;
        ingest_policy_apply(&c->id.policy, &req, &v);
        if (v.redacted)
            lq_metric_add(s->m_policy_redacted, v.redacted);
        if (v.blocked) {
            char msg[300];
            lq_chat_request_clear(&req);
            lq_metric_add(s->m_policy_blocked, 1);
            snprintf(msg, sizeof(msg), "The request was blocked by the policy %s (%s %s in %s).",
                     v.policy, strcmp(v.policy, "blocked_keyword") == 0 ? "the keyword" : "a",
                     v.what, v.param);
            audit_block(c, &v);
            ctx_set_error(c, 400, msg, "invalid_request_error", v.param, "policy_violation");
            return send_answer(c);
        }
    }
    c->created_ms = lq_wall_ms();
    lq_uuid7(c->job_id, c->created_ms);
    snprintf(c->model, sizeof(c->model), "%s", req.model);
    snprintf(c->s_model, sizeof(c->s_model), "%s", req.model);
    c->mode = c->route != R_CHAT ? LQ_MODE_ASYNC : stream ? LQ_MODE_STREAM : LQ_MODE_SYNC;
    c->stream_flags = stream;
    if (c->mode == LQ_MODE_STREAM) {
        if (pthread_mutex_init(&c->smu, NULL) != 0) {
            lq_chat_request_clear(&req);
            ctx_set_error(c, 500, "internal error", "server_error", NULL, NULL);
            return send_answer(c);
        }
        c->smu_init = 1;
    }
    req.job_id = strdup(c->job_id);
    req.tenant_id = strdup(c->id.tenant_id);
    req.project_id = c->id.project_id[0] ? strdup(c->id.project_id) : NULL;
    req.api_key_id = strdup(c->id.key_id);
    req.user_id = c->id.user_id[0] ? strdup(c->id.user_id) : NULL;
    req.created_at_ms = c->created_ms;
    req.mode = c->mode;
    if (c->mode != LQ_MODE_ASYNC) {
        req.reply_topic = strdup(s->reply_topic);
        req.deadline_ms = c->created_ms + s->sync_timeout_ms;
    }
    if (!req.job_id || !req.tenant_id || !req.api_key_id ||
        (c->mode != LQ_MODE_ASYNC && !req.reply_topic) ||
        lq_encode_chat_request(codec, &req, &buf, &len, errstr, sizeof(errstr))) {
        LQ_ERROR("job %s: cannot encode: %s", c->job_id, errstr);
        lq_chat_request_clear(&req);
        c->job_id[0] = '\0';
        ctx_set_error(c, 500, "internal error", "server_error", NULL, NULL);
        return send_answer(c);
    }
    lq_chat_request_clear(&req);

    /* From here on the answer comes from another thread: suspend first, so a resume can
     * never come before the suspend. */
    c->phase = PH_WAIT;
    MHD_suspend_connection(c->conn);
    if (c->mode == LQ_MODE_STREAM)
        atomic_fetch_add(&c->refs, 1); /* the waiter's: chunks may arrive after the handler */
    if (c->mode != LQ_MODE_ASYNC &&
        ingest_replies_wait(s->replies, c->job_id, c, lq_mono_ms() + s->sync_timeout_ms,
                            c->mode == LQ_MODE_STREAM ? s->sync_timeout_ms : 0)) {
        if (c->mode == LQ_MODE_STREAM)
            ctx_unref(c);
        ctx_set_error(c, 500, "internal error", "server_error", NULL, NULL);
        ctx_resume(c);
        return MHD_YES;
    }
    atomic_fetch_add(&c->refs, 1); /* held by the in-flight message until its report */
    kerr = rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC(s->topics.requests),
                             RD_KAFKA_V_KEY(c->id.tenant_id, strlen(c->id.tenant_id)),
                             RD_KAFKA_V_VALUE((void *)buf, len),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(c),
                             RD_KAFKA_V_END);
    if (kerr) {
        atomic_fetch_sub(&c->refs, 1);
        lq_metric_add(s->m_enqueue_failed, 1);
        LQ_WARN("job %s: cannot produce: %s", c->job_id, rd_kafka_err2str(kerr));
        if (c->mode == LQ_MODE_ASYNC || ingest_replies_cancel(s->replies, c->job_id)) {
            if (c->mode == LQ_MODE_STREAM)
                ctx_unref(c); /* the waiter's reference: we took it back */
            c->retry_after = 1;
            ctx_set_error(c, 503, "The request queue is full; retry later.", "service_unavailable",
                          NULL, "enqueue_failed");
            ctx_resume(c);
        }
    }
    return MHD_YES;
}

static enum MHD_Result handle_job_get(req_ctx_t *c, const char *url)
{
    const char *id = url + strlen("/v1/jobs/");
    const char *params[2];
    char msg[160];

    if (strlen(id) != LQ_UUID_STR_LEN || !lq_uuid_valid(id)) {
        snprintf(msg, sizeof(msg), "No job with id %.64s", id);
        ctx_set_error(c, 404, msg, "invalid_request_error", "id", "not_found");
        return send_answer(c);
    }
    snprintf(c->job_id, sizeof(c->job_id), "%s", id);
    params[0] = c->job_id;
    params[1] = c->id.tenant_id;
    c->phase = PH_WAIT;
    MHD_suspend_connection(c->conn);
    if (ingest_pg_submit(c->srv->pg, JOB_GET_SQL, 2, params, job_get_cb, c)) {
        c->retry_after = 1;
        ctx_set_error(c, 503, "Too many requests waiting for the database; retry later.",
                      "service_unavailable", NULL, "database_busy");
        ctx_resume(c);
    }
    return MHD_YES;
}

/* Roles and scopes for the /v1 routes: viewers read, developers (and above) use the API. */
static int role_allows(req_ctx_t *c)
{
    ingest_role_t need = c->route == R_JOB_GET ? ROLE_VIEWER : ROLE_DEVELOPER;
    unsigned scope = c->route == R_CHAT ? INGEST_SCOPE_CHAT
                   : c->route == R_ADMIN ? INGEST_SCOPE_ADMIN : INGEST_SCOPE_JOBS;
    char msg[200];

    if (c->route != R_ADMIN && c->id.role < need) { /* each admin path checks its own role */
        snprintf(msg, sizeof(msg), "This key's role (%s) cannot do this; it needs %s or above.",
                 ingest_role_name(c->id.role), ingest_role_name(need));
        ctx_set_error(c, 403, msg, "permission_denied", NULL, "insufficient_role");
        return 0;
    }
    if (c->id.scopes && !(c->id.scopes & scope)) {
        snprintf(msg, sizeof(msg), "This key's scopes do not include %s.",
                 scope == INGEST_SCOPE_CHAT ? "chat" : scope == INGEST_SCOPE_JOBS ? "jobs" : "admin");
        ctx_set_error(c, 403, msg, "permission_denied", NULL, "insufficient_scope");
        return 0;
    }
    return 1;
}

static void admin_cb(const PGresult *res, const char *errmsg, void *arg)
{
    req_ctx_t *c = arg;
    int status = 500;
    char *body = ingest_admin_answer(&c->admin, res, errmsg, &status);

    free(c->resp);
    c->resp = body;
    c->resp_len = body ? strlen(body) : 0;
    c->status = body ? (unsigned)status : 500;
    c->phase = PH_RESPOND;
    ctx_resume(c);
}

static enum MHD_Result handle_admin(req_ctx_t *c, const char *url)
{
    admin_call_t *a = &c->admin;

    ingest_admin_plan(c->method, url, c->body ? c->body : "", c->len, &c->id,
                      c->srv->has_master ? &c->srv->master : NULL, a);
    if (a->status) {
        if (a->immediate) {
            free(c->resp);
            c->resp = a->immediate;
            a->immediate = NULL;
            c->resp_len = strlen(c->resp);
            c->status = (unsigned)a->status;
            c->phase = PH_RESPOND;
        } else {
            ctx_set_error(c, (unsigned)a->status, a->message, a->type,
                          a->param[0] ? a->param : NULL, a->code);
            snprintf(c->allow, sizeof(c->allow), "%s", a->allow);
        }
        return send_answer(c);
    }
    c->phase = PH_WAIT;
    MHD_suspend_connection(c->conn);
    if (ingest_pg_submit(c->srv->pg, a->sql, a->n_params, (const char *const *)a->params,
                         admin_cb, c)) {
        c->retry_after = 1;
        ctx_set_error(c, 503, "Too many requests waiting for the database; retry later.",
                      "service_unavailable", NULL, "database_busy");
        ctx_resume(c);
    }
    return MHD_YES;
}

static enum MHD_Result handle_unauthenticated(req_ctx_t *c)
{
    ingest_server_t *s = c->srv;

    switch (c->route) {
    case R_HEALTHZ:
        ctx_set_json(c, 200, json_pack("{s:s}", "status", "ok"));
        break;
    case R_READYZ: {
        int kok = atomic_load(&s->kafka_ok), pok = ingest_pg_ready(s->pg);
        ctx_set_json(c, kok && pok ? 200 : 503,
                     json_pack("{s:s,s:b,s:b}", "status", kok && pok ? "ready" : "not ready",
                               "kafka", kok, "postgres", pok));
        break;
    }
    case R_METRICS: {
        size_t len = 0;
        free(c->resp);
        c->resp = lq_metrics_render(&len);
        c->resp_len = len;
        c->status = c->resp ? 200 : 500;
        c->phase = PH_RESPOND;
        break;
    }
    case R_BAD_METHOD:
        ctx_set_error(c, 405, "Method not allowed on this path.", "invalid_request_error", NULL,
                      "method_not_allowed");
        break;
    default:
        ctx_set_error(c, 404, "Unknown path.", "invalid_request_error", NULL, "not_found");
        break;
    }
    return send_answer(c);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    ingest_server_t *s = cls;
    req_ctx_t *c = *con_cls;

    (void)version;
    if (!c) {
        c = calloc(1, sizeof(*c));
        if (!c)
            return MHD_NO;
        c->srv = s;
        c->conn = conn;
        atomic_init(&c->refs, 1);
        c->start_us = lq_mono_us();
        c->route = match_route(url, method);
        *con_cls = c;
        lq_metric_add(s->m_inflight, 1);
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        if (!c->too_large && c->len + n > s->max_body)
            c->too_large = 1;
        if (!c->too_large) {
            if (c->len + n + 1 > c->cap) {
                size_t ncap = (c->len + n + 1) * 2;
                char *nb;
                if (ncap > s->max_body + 1)
                    ncap = s->max_body + 1;
                nb = realloc(c->body, ncap);
                if (!nb)
                    return MHD_NO;
                c->body = nb;
                c->cap = ncap;
            }
            memcpy(c->body + c->len, upload, n);
            c->len += n;
            c->body[c->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (c->phase == PH_RESPOND)
        return send_answer(c);
    if (c->phase == PH_STREAM)
        return c->s_queued ? MHD_YES : stream_start(c);
    if (c->route >= R_HEALTHZ)
        return handle_unauthenticated(c);

    if (c->phase == PH_NEW) {
        const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
        char key[INGEST_BEARER_MAX + 1];
        if (c->too_large) {
            char msg[120];
            snprintf(msg, sizeof(msg), "The request body is larger than %zu bytes.", s->max_body);
            ctx_set_error(c, 413, msg, "invalid_request_error", NULL, "request_too_large");
            return send_answer(c);
        }
        if (ingest_bearer_parse(h, key, sizeof(key))) {
            ctx_set_error(c, 401,
                          "Missing API key: send it as an Authorization: Bearer <key> header.",
                          "invalid_request_error", NULL, "missing_api_key");
            return send_answer(c);
        }
        lq_api_key_prefix(key, c->key_prefix);
        if (lq_api_key_hash(key, c->key_hash)) {
            ctx_set_error(c, 500, "internal error", "server_error", NULL, NULL);
            return send_answer(c);
        }
        switch (ingest_auth_lookup(s->auth, c->key_hash, &c->id)) {
        case INGEST_AUTH_OK:
            c->auth_state = INGEST_AUTH_ACCEPTED;
            break;
        case INGEST_AUTH_DENIED:
            c->auth_state = INGEST_AUTH_REFUSED;
            break;
        case INGEST_AUTH_MISS: {
            const char *params[1] = {c->key_prefix};
            c->auth_generation = ingest_auth_generation(s->auth);
            c->phase = PH_AUTH;
            MHD_suspend_connection(conn);
            if (ingest_pg_submit(s->pg, INGEST_AUTH_SQL, 1, params, auth_cb, c)) {
                c->auth_state = INGEST_AUTH_UNAVAILABLE;
                ctx_resume(c);
            }
            return MHD_YES;
        }
        }
    }
    if (c->auth_state == INGEST_AUTH_UNAVAILABLE) {
        c->retry_after = 1;
        ctx_set_error(c, 503, "Cannot check the API key right now; retry later.",
                      "service_unavailable", NULL, "database_unavailable");
        return send_answer(c);
    }
    if (c->auth_state != INGEST_AUTH_ACCEPTED) {
        ctx_set_error(c, 401, "Incorrect API key provided.", "invalid_request_error", NULL,
                      "invalid_api_key");
        return send_answer(c);
    }
    if (c->phase == PH_WAIT) /* resumed without an answer: should not happen */
        return suspend_and_wait(c);
    if (!role_allows(c))
        return send_answer(c);
    switch (c->route) {
    case R_CHAT:
    case R_JOBS_POST:
        return handle_submit(c);
    case R_JOB_GET:
        return handle_job_get(c, url);
    case R_ADMIN:
        snprintf(c->method, sizeof(c->method), "%s", method);
        return handle_admin(c, url);
    default:
        return handle_unauthenticated(c);
    }
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    ingest_server_t *s = cls;
    req_ctx_t *c = *con_cls;
    char labels[96];

    (void)conn;
    if (!c)
        return;
    if (c->mode == LQ_MODE_STREAM && c->job_id[0]) {
        /* the stream ended before its result (client gone): take the waiter back and stop
         * the job */
        if (ingest_replies_cancel(s->replies, c->job_id)) {
            ctx_unref(c);
            if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
                send_cancel(s, c, "client_disconnected");
        }
    }
    {
        unsigned st = c->status < 600 ? c->status : 599;
        lq_metric_t *m = atomic_load_explicit(&s->m_requests[c->route][st], memory_order_acquire);
        if (!m) {
            snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%u\"", route_names[c->route], st);
            m = lq_metrics_counter("llmq_ingest_requests_total", "HTTP requests by route and status",
                                   labels);
            atomic_store_explicit(&s->m_requests[c->route][st], m, memory_order_release);
        }
        lq_metric_add(m, 1);
    }
    lq_metric_observe_us(s->m_latency[c->route], lq_mono_us() - c->start_us);
    lq_metric_add(s->m_inflight, -1);
    *con_cls = NULL;
    ctx_unref(c);
}

/* ---------- lifecycle ---------- */

static void sanitize_topic_part(char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            *s = '_';
}

lq_err_t ingest_server_start(ingest_server_t **out, const lq_config_t *cfg, char *errstr,
                             size_t errstr_size)
{
    char timeout[32], kerr[256];
    /* No compression by default: llmq's batches are small, and LZ4's per-batch set-up cost
     * was the largest CPU item of the producer (see docs/benchmarks.md). */
    const char *producer_defaults[] = {"enable.idempotence", "true",
                                       "linger.ms", "2",
                                       "partitioner", "murmur2_random",
                                       "message.timeout.ms", timeout,
                                       "compression.type", lq_config_str(cfg, "kafka.compression"),
                                       NULL};
    ingest_server_t *s = calloc(1, sizeof(*s));
    rd_kafka_conf_t *conf = NULL;
    struct sockaddr_in sa;
    lq_err_t err = LQ_ERR_NOMEM;
    int i;

    *out = NULL;
    if (!s)
        return LQ_ERR_NOMEM;
    s->cfg = cfg;
    pthread_mutex_init(&s->recent_mu, NULL);
    lq_topics_from_config(&s->topics, cfg);
    s->max_body = (size_t)lq_config_int(cfg, "http.max_body_bytes");
    s->sync_timeout_ms = lq_config_int(cfg, "ingest.sync_timeout_ms");
    s->limits.max_messages = (size_t)lq_config_int(cfg, "ingest.max_messages");
    s->limits.max_model_len = (size_t)lq_config_int(cfg, "ingest.max_model_len");
    s->limits.max_stop = 4;
    s->limits.max_depth = (size_t)lq_config_int(cfg, "ingest.max_json_depth");
    {
        char merr[200];
        lq_err_t ke = lq_master_key_load(lq_config_str(cfg, "secrets.master_key_file"), &s->master,
                                         merr, sizeof(merr));
        if (ke == LQ_OK) {
            s->has_master = 1;
        } else if (ke != LQ_ERR_NOT_FOUND) {
            snprintf(errstr, errstr_size, "%s", merr);
            err = LQ_ERR_CONFIG;
            goto fail;
        }
    }
    s->recent_cap = (size_t)lq_config_int(cfg, "ingest.recent_jobs");
    if (s->recent_cap) {
        s->recent = lq_hashmap_create(s->recent_cap);
        s->recent_ring = calloc(s->recent_cap, sizeof(char *));
        if (!s->recent || !s->recent_ring)
            goto fail;
    }
    s->m_inflight = lq_metrics_gauge("llmq_ingest_inflight_requests", "requests being handled", NULL);
    s->m_enqueued = lq_metrics_counter("llmq_ingest_enqueued_total",
                                       "requests acknowledged by Kafka", NULL);
    s->m_enqueue_failed = lq_metrics_counter("llmq_ingest_enqueue_failed_total",
                                             "requests Kafka did not take (answered 503)", NULL);
    s->m_policy_blocked = lq_metrics_counter("llmq_ingest_policy_blocked_total",
                                             "requests refused by the prompt policy", NULL);
    s->m_policy_redacted = lq_metrics_counter("llmq_ingest_policy_redacted_total",
                                              "secrets masked in prompts before queueing", NULL);
    s->m_cancels = lq_metrics_counter("llmq_ingest_cancels_total",
                                      "jobs cancelled because their stream's client went away", NULL);
    for (i = 0; i < R_COUNT; i++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "route=\"%s\"", route_names[i]);
        s->m_latency[i] = lq_metrics_histogram("llmq_ingest_request_duration_seconds",
                                               "time from request to answer", labels);
    }
    s->auth = ingest_auth_create(lq_config_int(cfg, "auth.cache_ttl_ms"),
                                 lq_config_int(cfg, "auth.negative_ttl_ms"),
                                 (size_t)lq_config_int(cfg, "auth.cache_max"));
    if (!s->auth)
        goto fail;

    /* PostgreSQL (auth and polling) */
    err = ingest_pg_create(&s->pg, lq_config_str(cfg, "pg.url"), (int)lq_config_int(cfg, "pg.pool_size"),
                           (size_t)lq_config_int(cfg, "pg.max_queue"), errstr, errstr_size);
    if (err)
        goto fail;

    /* Kafka producer */
    snprintf(timeout, sizeof(timeout), "%lld", lq_config_int(cfg, "ingest.enqueue_timeout_ms"));
    conf = lq_kafka_conf_new(cfg, "llmq-ingest", producer_defaults, errstr, errstr_size);
    if (!conf) {
        err = LQ_ERR_CONFIG;
        goto fail;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, s);
    s->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
    if (!s->producer) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "kafka producer: %s", kerr);
        err = LQ_ERR_KAFKA;
        goto fail;
    }
    if (pthread_create(&s->poller, NULL, poller_main, s) != 0)
        goto fail;
    s->poller_started = 1;

    /* Listening socket first (port 0 resolves to a real port for the node id). */
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)lq_config_int(cfg, "http.port"));
    if (inet_pton(AF_INET, lq_config_str(cfg, "http.bind"), &sa.sin_addr) != 1) {
        snprintf(errstr, errstr_size, "setting http.bind: \"%s\" is not an IPv4 address",
                 lq_config_str(cfg, "http.bind"));
        err = LQ_ERR_CONFIG;
        goto fail;
    }
    s->d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO, 0, NULL, NULL,
        handler, s, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)lq_config_int(cfg, "http.threads"), MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)lq_config_int(cfg, "http.connection_timeout_s"), MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)lq_config_int(cfg, "http.max_connections"), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)lq_config_int(cfg, "http.connection_memory_bytes"), MHD_OPTION_LISTENING_ADDRESS_REUSE,
        1u, MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_END);
    if (!s->d) {
        snprintf(errstr, errstr_size, "cannot listen on %s:%lld", lq_config_str(cfg, "http.bind"),
                 lq_config_int(cfg, "http.port"));
        err = LQ_ERR_IO;
        goto fail;
    }
    {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
        s->port = info ? info->port : (int)lq_config_int(cfg, "http.port");
    }
    if (*lq_config_str(cfg, "ingest.node_id")) {
        snprintf(s->node_id, sizeof(s->node_id), "%s", lq_config_str(cfg, "ingest.node_id"));
    } else {
        char host[64] = "node";
        gethostname(host, sizeof(host) - 1);
        snprintf(s->node_id, sizeof(s->node_id), "%s-%d", host, s->port);
    }
    sanitize_topic_part(s->node_id);
    snprintf(s->reply_topic, sizeof(s->reply_topic), "%s%s", s->topics.replies_prefix, s->node_id);

    /* The reply topic must be consumed before the first sync request is accepted. */
    err = ingest_replies_create(&s->replies, cfg, s->reply_topic, on_reply, stream_on_chunk, on_timeout, errstr,
                                errstr_size);
    if (err)
        goto fail;
    atomic_store(&s->kafka_ok, 1);
    if (pthread_create(&s->health, NULL, health_main, s) != 0) {
        err = LQ_ERR_NOMEM;
        goto fail;
    }
    s->health_started = 1;
    if (pthread_create(&s->auth_listener, NULL, auth_listener_main, s) != 0) {
        err = LQ_ERR_NOMEM;
        goto fail;
    }
    s->auth_listener_started = 1;
    LQ_INFO("ingest node %s listening on http://%s:%d (reply topic %s)", s->node_id,
            lq_config_str(cfg, "http.bind"), s->port, s->reply_topic);
    *out = s;
    return LQ_OK;
fail:
    ingest_server_stop(s, 0);
    return err;
}

int ingest_server_port(const ingest_server_t *s)
{
    return s->port;
}

static void free_recent(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

void ingest_server_stop(ingest_server_t *s, int drain_ms)
{
    size_t i;

    if (!s)
        return;
    if (s->d) {
        int64_t until = lq_mono_ms() + drain_ms;
        MHD_quiesce_daemon(s->d); /* no new connections */
        while (lq_mono_ms() < until && s->replies && ingest_replies_pending(s->replies) > 0)
            nanosleep(&(struct timespec){0, 20 * 1000000}, NULL);
    }
    /* Resume everything still suspended: sync waiters time out, produces are flushed,
     * queued queries are answered, then the HTTP threads can stop. */
    ingest_replies_destroy(s->replies);
    s->replies = NULL;
    if (s->producer)
        rd_kafka_flush(s->producer, 10000);
    ingest_pg_destroy(s->pg);
    s->pg = NULL;
    if (s->d) {
        nanosleep(&(struct timespec){0, 200 * 1000000}, NULL);
        MHD_stop_daemon(s->d);
    }
    atomic_store(&s->stopping, 1);
    if (s->poller_started)
        pthread_join(s->poller, NULL);
    if (s->health_started)
        pthread_join(s->health, NULL);
    if (s->auth_listener_started)
        pthread_join(s->auth_listener, NULL);
    if (s->producer)
        rd_kafka_destroy(s->producer);
    ingest_auth_destroy(s->auth);
    lq_master_key_wipe(&s->master);
    if (s->recent) {
        lq_hashmap_foreach(s->recent, free_recent, NULL);
        lq_hashmap_destroy(s->recent);
    }
    for (i = 0; s->recent_ring && i < s->recent_cap; i++)
        free(s->recent_ring[i]);
    free(s->recent_ring);
    pthread_mutex_destroy(&s->recent_mu);
    free(s);
}

#include "ingest/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/ids.h"
#include "ingest/authenticate.h"
#include "ingest/console.h"
#include "ingest/conversation_turn.h"
#include "ingest/files.h"
#include "ingest/idempotency.h"
#include "ingest/limit_step.h"
#include "ingest/request_ctx.h"
#include "ingest/routes.h"
#include "ingest/tracing.h"
#include "ingest/sse_out.h"

#define MAX_STATUS 600

/* Counters by route and status are made on first use: one slot per (route, status), the
 * last route slot for requests that matched none. */
typedef _Atomic(lq_metric_t *) status_counters_t[MAX_STATUS];

struct ingest_http {
    ingest_node_t *node;
    lq_metric_t **latency;       /* by route slot */
    status_counters_t *requests; /* by route slot */
};

static size_t slot_of(const req_ctx_t *c)
{
    return c->route ? (size_t)(c->route - ingest_routes) : ingest_routes_count;
}

static const char *label_of(size_t slot)
{
    return slot < ingest_routes_count ? ingest_routes[slot].label : INGEST_ROUTE_LABEL_OTHER;
}

ingest_http_t *ingest_http_create(ingest_node_t *node)
{
    ingest_http_t *h = calloc(1, sizeof(*h));
    size_t i, slots = ingest_routes_count + 1;

    if (!h)
        return NULL;
    h->node = node;
    h->latency = calloc(slots, sizeof(*h->latency));
    h->requests = calloc(slots, sizeof(*h->requests));
    if (!h->latency || !h->requests) {
        ingest_http_destroy(h);
        return NULL;
    }
    for (i = 0; i < slots; i++) {
        char labels[96];
        snprintf(labels, sizeof(labels), "route=\"%s\"", label_of(i));
        h->latency[i] = lq_metrics_histogram("llmq_ingest_request_duration_seconds",
                                             "time from request to answer", labels);
    }
    return h;
}

void ingest_http_destroy(ingest_http_t *h)
{
    if (!h)
        return;
    free(h->latency);
    free(h->requests);
    free(h);
}

size_t ingest_http_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    size_t n = MHD_http_unescape(s), i;

    (void)cls;
    (void)conn;
    for (i = 0; i < n; i++)
        if (s[i] == '\0')
            s[i] = '\x7f';
    return n;
}

/* ---------- the route ---------- */

static void find_route(req_ctx_t *c, const char *method, const char *path)
{
    int i = INGEST_ROUTE_NOT_FOUND;

    if (ingest_path_is_clean(path))
        i = ingest_route_find(ingest_routes, ingest_routes_count, sizeof(ingest_routes[0]), method,
                              path, &c->params, c->allow, sizeof(c->allow));
    if (i >= 0) {
        c->route = &ingest_routes[i];
        return;
    }
    if (i == INGEST_ROUTE_BAD_METHOD) {
        ingest_ctx_set_error(c, 405, "Method not allowed on this path.", "invalid_request_error",
                             NULL, "method_not_allowed");
        return;
    }
    c->allow[0] = '\0';
    ingest_ctx_set_error(c, 404, "Unknown path.", "invalid_request_error", NULL, "not_found");
}

/* The route's scope and least role against the caller's key. */
static ingest_step_t authorize(req_ctx_t *c)
{
    const ingest_route_t *rt = c->route;
    char msg[200];

    if (c->id.role < rt->least_role) {
        ingest_role_explain(c->id.role, rt->least_role, msg, sizeof(msg));
        ingest_ctx_set_error(c, 403, msg, "permission_denied", NULL, "insufficient_role");
        return INGEST_STEP_ANSWER;
    }
    if (c->id.scopes && !(c->id.scopes & rt->scope)) {
        snprintf(msg, sizeof(msg), "This key's scopes do not include %s.",
                 ingest_scope_name(rt->scope));
        ingest_ctx_set_error(c, 403, msg, "permission_denied", NULL, "insufficient_scope");
        return INGEST_STEP_ANSWER;
    }
    return INGEST_STEP_NEXT;
}

static void set_body_too_large(req_ctx_t *c)
{
    char msg[160];

    snprintf(msg, sizeof(msg), "The request body is larger than %zu bytes.", c->node->max_body);
    ingest_ctx_set_error(c, 413, msg, "invalid_request_error", NULL, "request_too_large");
}

/* Authentication, authorization, then the handler. */
static ingest_step_t run_route(req_ctx_t *c)
{
    ingest_step_t step;

    if (c->route->least_role == ROLE_NONE)
        return c->route->handler(c);
    if (c->phase == REQ_NEW && c->too_large) {
        set_body_too_large(c);
        return INGEST_STEP_ANSWER;
    }
    step = ingest_authenticate(c);
    if (step == INGEST_STEP_NEXT)
        step = authorize(c);
    if (step == INGEST_STEP_NEXT)
        step = c->route->handler(c);
    return step;
}

/* ---------- the answer ---------- */

static enum MHD_Result send_answer(req_ctx_t *c)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    if (c->answered)
        return MHD_YES;
    c->answered = 1;
    r = MHD_create_response_from_buffer(c->resp_len, c->resp, MHD_RESPMEM_MUST_FREE);
    if (!r)
        return MHD_NO;
    c->resp = NULL; /* MHD owns it now */
    MHD_add_response_header(r, "Content-Type",
                            c->content_type ? c->content_type : "application/json");
    if (c->location[0])
        MHD_add_response_header(r, "Location", c->location);
    MHD_add_response_header(r, "x-request-id", c->request_id);
    if (c->console)
        ingest_console_add_headers(r);
    if (c->job_id[0])
        MHD_add_response_header(r, "x-llmq-job-id", c->job_id);
    ingest_limit_add_headers(c, r);
    if (c->allow[0] && c->status == 405)
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

/* ---------- refusals before the body is read ---------- */

static enum MHD_Result add_size(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    size_t *sum = cls;

    (void)kind;
    *sum += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF, or "&" and "=" */
    return MHD_YES;
}

static size_t values_size(struct MHD_Connection *conn, enum MHD_ValueKind kind)
{
    size_t sum = 0;

    MHD_get_connection_values(conn, kind, add_size, &sum);
    return sum;
}

/* A URL or headers over the node's limits: 414 or 431 in the API's shape. libmicrohttpd
 * only answers these itself (an HTML page) past the connection's memory, which holds twice
 * the node's limits (server.c). */
static int head_too_large(req_ctx_t *c, const char *url)
{
    char msg[160];

    if (strlen(url) + values_size(c->conn, MHD_GET_ARGUMENT_KIND) > c->node->max_url) {
        snprintf(msg, sizeof(msg), "The request URL is longer than %zu bytes.", c->node->max_url);
        ingest_ctx_set_error(c, 414, msg, "invalid_request_error", NULL, "uri_too_long");
        return 1;
    }
    if (values_size(c->conn, MHD_HEADER_KIND) > c->node->max_headers) {
        snprintf(msg, sizeof(msg), "The request headers are larger than %zu bytes.",
                 c->node->max_headers);
        ingest_ctx_set_error(c, 431, msg, "invalid_request_error", NULL, "headers_too_large");
        return 1;
    }
    return 0;
}

/* Room for a multipart body's framing around the file it carries. */
#define STREAM_FRAMING (1024 * 1024)

/* A route that takes its body in pieces (an upload): the caller is authenticated and
 * authorized before any of it is read (the lookup may suspend the connection: it goes on at
 * the next call), and a declared size over the route's limit is refused at once. */
static void admit_stream(req_ctx_t *c)
{
    const char *cl = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Content-Length");
    ingest_step_t step;
    char msg[160];

    if (c->body_expected == 0 && !c->admitted)
        c->body_expected = cl ? strtoll(cl, NULL, 10) : -1;
    if (c->body_expected < 0 ||
        MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Transfer-Encoding")) {
        ingest_ctx_set_error(c, 411,
                             "An upload must declare its Content-Length (and not be chunked).",
                             "invalid_request_error", NULL, "length_required");
        return;
    }
    if (c->body_expected > c->node->set.files.max_bytes + STREAM_FRAMING) {
        snprintf(msg, sizeof(msg), "The file is larger than %lld bytes.",
                 c->node->set.files.max_bytes);
        ingest_ctx_set_error(c, 413, msg, "invalid_request_error", "file", "file_too_large");
        return;
    }
    step = ingest_authenticate(c);
    if (step == INGEST_STEP_NEXT)
        step = authorize(c);
    c->admitted = step == INGEST_STEP_NEXT;
}

/* A piece of a streamed body: to the route once the caller is admitted; an answer the route
 * sets (a refusal, a failure) is sent at once. */
static enum MHD_Result take_stream(req_ctx_t *c, const char *upload, size_t *upload_size)
{
    if (!c->admitted && c->phase != REQ_RESPOND) {
        admit_stream(c);
        if (!c->admitted && c->phase != REQ_RESPOND)
            return MHD_YES; /* the key's lookup resumes the connection */
    }
    c->body_seen += (long long)*upload_size;
    if (c->phase == REQ_RESPOND) {
        /* answered (a refusal, a failure): libmicrohttpd sends no answer while a body is
         * arriving, so the rest is read and dropped, and the answer goes at the end */
        *upload_size = 0;
        return MHD_YES;
    }
    c->route->body(c, upload, upload_size); /* may suspend: c is not touched after */
    return MHD_YES;
}

/* The call without data of a streamed body: the end of the body, or a resumption (after the
 * key's lookup, or a chunk stored) with more of it to come. 1: not the end. */
static int stream_goes_on(req_ctx_t *c)
{
    if (!c->admitted && c->phase != REQ_RESPOND) {
        admit_stream(c);
        if (!c->admitted && c->phase != REQ_RESPOND)
            return 1;
    }
    if (c->phase == REQ_RESPOND && c->body_seen == 0)
        return 0; /* refused before any of the body was read: answer now */
    return c->body_expected > 0 && c->body_seen < c->body_expected;
}

/* A declared body over the limit, or a request without a valid key: answered at the first
 * call, so libmicrohttpd neither sends 100 Continue nor reads the body (it closes the
 * connection after the answer). */
static void refuse_early(req_ctx_t *c)
{
    const char *cl = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Content-Length");

    if (c->route->body) {
        admit_stream(c);
        return;
    }
    if (cl && strtoull(cl, NULL, 10) > c->node->max_body) {
        set_body_too_large(c);
        return;
    }
    if (c->route->least_role != ROLE_NONE)
        ingest_authenticate_early(c);
}

/* ---------- MHD's callbacks ---------- */

static enum MHD_Result begin(ingest_http_t *h, struct MHD_Connection *conn, const char *url,
                             const char *method, void **con_cls)
{
    req_ctx_t *c = ingest_ctx_new(h->node, conn);

    if (!c)
        return MHD_NO;
    c->start_us = lq_mono_us();
    memcpy(c->request_id, "req_", 4);
    lq_uuid7(c->request_id + 4, lq_wall_ms());
    *con_cls = c;
    lq_metric_add(h->node->m_inflight, 1);
    if (atomic_load(&h->node->stopping))
        /* nothing new may wait for the clients that stop with the node (a keep-alive
         * connection's next request): the client retries on another node */
        ingest_ctx_set_unavailable(c, "This node is shutting down; retry.", "shutting_down");
    else if (!atomic_load(&h->node->started))
        ingest_ctx_set_unavailable(c, "This node is starting; retry.", "starting");
    else if (!head_too_large(c, url))
        find_route(c, method, url);
    if (c->phase == REQ_NEW)
        refuse_early(c);
    /* an answer set now is sent before the body is read */
    return c->phase == REQ_RESPOND ? send_answer(c) : MHD_YES;
}

/* Keep the body up to the node's limit. A body without a declared length that passes the
 * limit is drained up to as much again, then answered 413; past that the connection is
 * closed, so no client makes the node read without bound. */
static enum MHD_Result take_body(req_ctx_t *c, const char *upload, size_t *upload_size)
{
    size_t n = *upload_size, max = c->node->max_body;

    *upload_size = 0;
    if (c->phase != REQ_NEW)
        return MHD_YES; /* answered already: libmicrohttpd discards the rest */
    if (!c->too_large && c->len + n > max)
        c->too_large = 1;
    if (c->too_large) {
        c->discarded += n;
        return c->discarded > max ? MHD_NO : MHD_YES;
    }
    if (c->len + n + 1 > c->cap) {
        size_t ncap = (c->len + n + 1) * 2;
        char *nb;
        if (ncap > max + 1)
            ncap = max + 1;
        nb = realloc(c->body, ncap);
        if (!nb)
            return MHD_NO;
        c->body = nb;
        c->cap = ncap;
    }
    memcpy(c->body + c->len, upload, n);
    c->len += n;
    c->body[c->len] = '\0';
    return MHD_YES;
}

enum MHD_Result ingest_http_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version, const char *upload,
                                    size_t *upload_size, void **con_cls)
{
    req_ctx_t *c = *con_cls;

    (void)version;
    if (!c)
        return begin(cls, conn, url, method, con_cls);
    c->method = method;
    c->path = url;
    if (c->route && c->route->body && !c->answered) {
        if (*upload_size)
            return take_stream(c, upload, upload_size);
        if (stream_goes_on(c))
            return MHD_YES;
    }
    if (*upload_size)
        return take_body(c, upload, upload_size);
    switch (c->phase) {
    case REQ_RESPOND:
        return send_answer(c);
    case REQ_STREAM:
        return c->file_io ? ingest_file_content_start(c) : ingest_sse_out_start(c);
    case REQ_WAIT: /* resumed without an answer: should not happen */
        MHD_suspend_connection(conn);
        return MHD_YES;
    case REQ_NEW:
    case REQ_AUTH:
    default:
        break;
    }
    return run_route(c) == INGEST_STEP_ANSWER ? send_answer(c) : MHD_YES;
}

static void count(ingest_http_t *h, const req_ctx_t *c)
{
    size_t slot = slot_of(c);
    unsigned st = c->status < MAX_STATUS ? c->status : MAX_STATUS - 1;
    lq_metric_t *m = atomic_load_explicit(&h->requests[slot][st], memory_order_acquire);

    if (!m) {
        char labels[128];
        snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%u\"", label_of(slot), st);
        m = lq_metrics_counter("llmq_ingest_requests_total", "HTTP requests by route and status",
                               labels);
        atomic_store_explicit(&h->requests[slot][st], m, memory_order_release);
    }
    lq_metric_add(m, 1);
    lq_metric_observe_us(h->latency[slot], lq_mono_us() - c->start_us);
    if (c->auth_state == INGEST_AUTH_ACCEPTED && c->id.tenant_id[0]) {
        lq_metric_t *const *t = lq_metrics_capped_get(h->node->m_tenant_requests, c->id.tenant_id);
        if (t)
            lq_metric_add(t[0], 1);
    }
}

void ingest_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    ingest_http_t *h = cls;
    req_ctx_t *c = *con_cls;

    (void)conn;
    if (!c)
        return;
    ingest_sse_out_closed(c, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
    ingest_files_closed(c);
    ingest_limit_release(c);
    ingest_conversation_release(c);
    ingest_idempotency_settle(c, 0); /* claimed, and never queued */
    count(h, c);
    ingest_tracing_end(c);
    lq_metric_add(h->node->m_inflight, -1);
    *con_cls = NULL;
    ingest_ctx_unref(c);
}

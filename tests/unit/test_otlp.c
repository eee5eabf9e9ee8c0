/* common/otlp: spans to a collector over OTLP/HTTP with the JSON encoding. A small collector
 * (libmicrohttpd on an ephemeral loopback port) keeps every POST body, parsed by jansson, and
 * answers 200, 500, or holds the request until told to answer. Checked: the envelope and
 * resource, each span's fields as OTLP's JSON mapping has them (hex ids, no parent for a root,
 * kinds, times and int64 values as decimal strings, doubles, error status, a NULL string
 * attribute left out), many spans arriving exactly once across batches, a batch sent without
 * being asked to stop, failed exports (500, connection refused) counted and their spans
 * dropped, the queue bound while the collector is stuck, a stop bounded by its timeout, what
 * start refuses, and a NULL exporter. The metrics are process-wide: counts are differences. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/otlp.h"
#include "testutil.h"

/* ---------- the collector ---------- */

typedef struct collector {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int status;     /* the answer */
    int hold;       /* 1: a request waits until hold is 0 again */
    int holding;    /* requests waiting */
    json_t *bodies; /* every body received, parsed */
    size_t n_spans; /* spans in them */
    int bad;        /* requests that were not a POST of JSON to /v1/traces */
    char auth[128]; /* the last request's Authorization and X-Scope headers */
    char scope[64];
} collector_t;

typedef struct upload {
    char *p;
    size_t len;
} upload_t;

static size_t spans_in(json_t *body)
{
    json_t *rs = json_array_get(json_object_get(body, "resourceSpans"), 0);
    json_t *ss = json_array_get(json_object_get(rs, "scopeSpans"), 0);

    return json_array_size(json_object_get(ss, "spans"));
}

static int append(upload_t *u, const char *data, size_t n)
{
    char *p = realloc(u->p, u->len + n + 1);

    if (!p)
        return -1;
    memcpy(p + u->len, data, n);
    u->len += n;
    p[u->len] = '\0';
    u->p = p;
    return 0;
}

/* Keeps the body (or counts the request as bad), waits while held, gives the status. */
static int take_body(collector_t *c, struct MHD_Connection *conn, const char *url,
                     const char *method, upload_t *u)
{
    const char *ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const char *scope = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Scope");
    json_t *body = u->p ? json_loadb(u->p, u->len, 0, NULL) : NULL;
    int status;

    pthread_mutex_lock(&c->mu);
    snprintf(c->auth, sizeof(c->auth), "%s", auth ? auth : "");
    snprintf(c->scope, sizeof(c->scope), "%s", scope ? scope : "");
    if (!body || strcmp(method, "POST") != 0 || strcmp(url, "/v1/traces") != 0 || !ctype ||
        strcmp(ctype, "application/json") != 0) {
        c->bad++;
        json_decref(body);
    } else {
        c->n_spans += spans_in(body);
        json_array_append_new(c->bodies, body);
    }
    pthread_cond_broadcast(&c->cv);
    c->holding++;
    while (c->hold)
        pthread_cond_wait(&c->cv, &c->mu);
    c->holding--;
    status = c->status;
    pthread_mutex_unlock(&c->mu);
    return status;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *data_size, void **con_cls)
{
    collector_t *c = cls;
    upload_t *u = *con_cls;
    struct MHD_Response *r;
    enum MHD_Result ret;
    int status;

    (void)version;
    if (!u) {
        u = calloc(1, sizeof(*u));
        *con_cls = u;
        return u ? MHD_YES : MHD_NO;
    }
    if (*data_size) {
        if (append(u, data, *data_size) != 0)
            return MHD_NO;
        *data_size = 0;
        return MHD_YES;
    }
    status = take_body(c, conn, url, method, u);
    r = MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    upload_t *u = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (u) {
        free(u->p);
        free(u);
        *con_cls = NULL;
    }
}

static void collector_start(collector_t *c, int status)
{
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;

    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->status = status;
    c->bodies = json_array();
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                            NULL, NULL, handler, c, MHD_OPTION_SOCK_ADDR, &sa,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, c, MHD_OPTION_END);
    info = c->d ? MHD_get_daemon_info(c->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!info) {
        fprintf(stderr, "cannot start the collector\n");
        exit(1);
    }
    c->port = info->port;
}

static void collector_release(collector_t *c)
{
    pthread_mutex_lock(&c->mu);
    c->hold = 0;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void collector_stop(collector_t *c)
{
    collector_release(c);
    MHD_stop_daemon(c->d);
    json_decref(c->bodies);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
}

/* Waits (at most 5 s) until the collector has at least n spans, or holds a request. */
static int collector_wait(collector_t *c, size_t n, int holding)
{
    struct timespec ts;
    int ok;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        ok = holding ? c->holding > 0 : c->n_spans >= n;
        if (ok || pthread_cond_timedwait(&c->cv, &c->mu, &ts) != 0)
            break;
    }
    ok = holding ? c->holding > 0 : c->n_spans >= n;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

static void endpoint_of(char *dst, size_t size, int port)
{
    int n = snprintf(dst, size, "http://127.0.0.1:%d/v1/traces", port);

    if (n < 0 || (size_t)n >= size)
        abort();
}

/* ---------- metrics ---------- */

static long long counter(const char *name)
{
    size_t len, n = strlen(name);
    char *text = lq_metrics_render(&len), *p;
    long long v = 0; /* (not registered yet: nothing counted) */

    for (p = text; p && *p;) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ') {
            v = atoll(p + n + 1);
            break;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    free(text);
    return v;
}

typedef struct counts {
    long long exported, dropped, failures;
} counts_t;

static counts_t counts_now(void)
{
    counts_t c = {counter("llmq_otlp_spans_exported_total"),
                  counter("llmq_otlp_spans_dropped_total"),
                  counter("llmq_otlp_export_failures_total")};
    return c;
}

/* ---------- spans ---------- */

static const uint8_t trace_a[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                    0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
static const uint8_t span_root[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
static const uint8_t span_child[8] = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04};

/* A span whose id carries i (for counting spans), kind INTERNAL, no attributes. */
static lq_otel_span_t numbered(uint8_t id[8], uint32_t i)
{
    lq_otel_span_t s = {.trace_id = trace_a,
                        .span_id = id,
                        .parent_id = span_root,
                        .name = "step",
                        .kind = LQ_SPAN_INTERNAL,
                        .start_us = 1000,
                        .end_us = 2000};

    memset(id, 0, 8);
    id[0] = 0x01;
    id[4] = (uint8_t)(i >> 24);
    id[5] = (uint8_t)(i >> 16);
    id[6] = (uint8_t)(i >> 8);
    id[7] = (uint8_t)i;
    return s;
}

static void add_numbered(lq_otlp_t *x, uint32_t from, uint32_t n)
{
    uint8_t id[8];
    uint32_t i;

    for (i = from; i < from + n; i++) {
        lq_otel_span_t s = numbered(id, i);
        lq_otlp_add(x, &s);
    }
}

static const char *sget(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

/* The span of the collected bodies with this spanId, or NULL. */
static json_t *find_span(json_t *bodies, const char *span_id)
{
    size_t i, j;
    json_t *body, *span;

    json_array_foreach(bodies, i, body)
    {
        json_t *rs = json_array_get(json_object_get(body, "resourceSpans"), 0);
        json_t *ss = json_array_get(json_object_get(rs, "scopeSpans"), 0);
        json_array_foreach(json_object_get(ss, "spans"), j, span)
        {
            if (strcmp(str_or_empty(sget(span, "spanId")), span_id) == 0)
                return span;
        }
    }
    return NULL;
}

/* The value object of attribute key in span's attributes, or NULL. */
static json_t *attr(json_t *span, const char *key)
{
    size_t i;
    json_t *a;

    json_array_foreach(json_object_get(span, "attributes"), i, a)
    {
        if (strcmp(str_or_empty(sget(a, "key")), key) == 0)
            return json_object_get(a, "value");
    }
    return NULL;
}

/* ---------- cases ---------- */

static void test_refuses(void)
{
    CHECK(lq_otlp_start(NULL, NULL, "svc", 10) == NULL);
    CHECK(lq_otlp_start("", NULL, "svc", 10) == NULL);
    CHECK(lq_otlp_start("127.0.0.1:4318/v1/traces", NULL, "svc", 10) == NULL);
    CHECK(lq_otlp_start("ftp://127.0.0.1/v1/traces", NULL, "svc", 10) == NULL);
    CHECK(lq_otlp_start("http://", NULL, "svc", 10) == NULL);
    CHECK(lq_otlp_start("http://127.0.0.1:4318/v1/traces", NULL, "svc", 0) == NULL);
}

static void test_null_exporter(void)
{
    uint8_t id[8];
    lq_otel_span_t s = numbered(id, 1);
    counts_t before = counts_now();

    lq_otlp_add(NULL, &s);
    lq_otlp_stop(NULL, 100);
    CHECK_INT(counts_now().dropped, before.dropped);
}

static void check_resource(json_t *body)
{
    json_t *rs = json_object_get(body, "resourceSpans");
    json_t *res_attrs =
        json_object_get(json_object_get(json_array_get(rs, 0), "resource"), "attributes");
    json_t *ss = json_object_get(json_array_get(rs, 0), "scopeSpans");
    json_t *a0 = json_array_get(res_attrs, 0), *a1 = json_array_get(res_attrs, 1);

    CHECK(json_is_object(body) && json_object_size(body) == 1);
    CHECK_INT(json_array_size(rs), 1);
    CHECK_INT(json_array_size(res_attrs), 2);
    CHECK_STR(sget(a0, "key"), "service.name");
    CHECK_STR(sget(json_object_get(a0, "value"), "stringValue"), "test-svc");
    CHECK_STR(sget(a1, "key"), "service.version");
    CHECK(sget(json_object_get(a1, "value"), "stringValue") &&
          sget(json_object_get(a1, "value"), "stringValue")[0]);
    CHECK_INT(json_array_size(ss), 1);
    CHECK_STR(sget(json_object_get(json_array_get(ss, 0), "scope"), "name"), "llmq");
}

static void check_root(json_t *root)
{
    json_t *v;

    CHECK(root != NULL);
    if (!root)
        return;
    CHECK_STR(sget(root, "traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(json_object_get(root, "parentSpanId") == NULL);
    CHECK_STR(sget(root, "name"), "POST /v1/chat/completions");
    CHECK_INT(json_integer_value(json_object_get(root, "kind")), LQ_SPAN_SERVER);
    CHECK_STR(sget(root, "startTimeUnixNano"), "1700000000123456000");
    CHECK_STR(sget(root, "endTimeUnixNano"), "1700000000125956000");
    CHECK(json_object_get(root, "status") == NULL);
    CHECK_INT(json_array_size(json_object_get(root, "attributes")), 5);
    CHECK_STR(sget(attr(root, "llmq.tenant"), "stringValue"), "t1");
    CHECK_STR(sget(attr(root, "odd"), "stringValue"), "a\"b\nc");
    CHECK(attr(root, "llmq.absent") == NULL);
    CHECK_STR(sget(attr(root, "llmq.tokens"), "intValue"), "123");
    CHECK_STR(sget(attr(root, "big"), "intValue"), "-9007199254740993");
    v = json_object_get(attr(root, "llmq.cost_usd"), "doubleValue");
    CHECK(json_is_real(v) && json_real_value(v) == 1.5);
}

static void check_children(json_t *bodies)
{
    json_t *child = find_span(bodies, "deadbeef01020304");
    json_t *cons = find_span(bodies, "0100000000000007");

    CHECK(child != NULL && cons != NULL);
    if (!child || !cons)
        return;
    CHECK_STR(sget(child, "parentSpanId"), "00f067aa0ba902b7");
    CHECK_INT(json_integer_value(json_object_get(child, "kind")), LQ_SPAN_CLIENT);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(child, "status"), "code")), 2);
    CHECK_STR(sget(json_object_get(child, "status"), "message"), "upstream 503");
    CHECK_INT(json_array_size(json_object_get(child, "attributes")), 0);
    CHECK_INT(json_integer_value(json_object_get(cons, "kind")), LQ_SPAN_CONSUMER);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(cons, "status"), "code")), 2);
    CHECK(json_object_get(json_object_get(cons, "status"), "message") == NULL);
    CHECK_STR(sget(cons, "startTimeUnixNano"), "1000000");
}

/* Three spans, sent when the exporter stops: every field as OTLP's JSON mapping has it. */
static void test_encoding(void)
{
    const lq_span_attr_t attrs[] = {
        {"llmq.tenant", LQ_ATTR_STR, "t1", 0, 0},
        {"llmq.absent", LQ_ATTR_STR, NULL, 0, 0},
        {"llmq.tokens", LQ_ATTR_INT, NULL, 123, 0},
        {"big", LQ_ATTR_INT, NULL, -9007199254740993LL, 0}, /* not exact as a double */
        {"llmq.cost_usd", LQ_ATTR_DOUBLE, NULL, 0, 1.5},
        {"odd", LQ_ATTR_STR, "a\"b\nc", 0, 0},
    };
    lq_otel_span_t root = {.trace_id = trace_a,
                           .span_id = span_root,
                           .name = "POST /v1/chat/completions",
                           .kind = LQ_SPAN_SERVER,
                           .start_us = 1700000000123456LL,
                           .end_us = 1700000000125956LL,
                           .attrs = attrs,
                           .n_attrs = sizeof(attrs) / sizeof(attrs[0])};
    lq_otel_span_t child = {.trace_id = trace_a,
                            .span_id = span_child,
                            .parent_id = span_root,
                            .name = "provider call",
                            .kind = LQ_SPAN_CLIENT,
                            .start_us = 1700000000124000LL,
                            .end_us = 1700000000125000LL,
                            .error = 1,
                            .error_message = "upstream 503"};
    uint8_t id[8];
    lq_otel_span_t cons = numbered(id, 7);
    counts_t before = counts_now(), after;
    collector_t c;
    char url[128];
    lq_otlp_t *x;
    size_t i;
    json_t *body;

    cons.kind = LQ_SPAN_CONSUMER;
    cons.error = 1;
    collector_start(&c, 200);
    endpoint_of(url, sizeof(url), c.port);
    /* bad header lists are refused */
    CHECK(lq_otlp_start(url, "no-equals-sign", "test-svc", 100) == NULL);
    CHECK(lq_otlp_start(url, "=value", "test-svc", 100) == NULL);
    CHECK(lq_otlp_start(url, "A=b\r\nX: y", "test-svc", 100) == NULL);
    x = lq_otlp_start(url, "Authorization=Bearer t0ken, X-Scope=a=b,", "test-svc", 100);
    CHECK(x != NULL);
    lq_otlp_add(x, &root);
    lq_otlp_add(x, &child);
    lq_otlp_add(x, &cons);
    lq_otlp_stop(x, 2000); /* sends what is pending */
    after = counts_now();
    CHECK_INT(c.n_spans, 3);
    CHECK_INT(c.bad, 0);
    json_array_foreach(c.bodies, i, body)
    {
        check_resource(body);
    }
    check_root(find_span(c.bodies, "00f067aa0ba902b7"));
    CHECK_STR(c.auth, "Bearer t0ken");
    CHECK_STR(c.scope, "a=b");
    check_children(c.bodies);
    CHECK_INT(after.exported - before.exported, 3);
    CHECK_INT(after.dropped - before.dropped, 0);
    CHECK_INT(after.failures - before.failures, 0);
    collector_stop(&c);
}

/* 2000 spans added at once, then 3: they arrive without a stop (the batches go by themselves),
 * each exactly once. */
static void test_many(void)
{
    enum { N = 2003 };
    static int seen[N];
    counts_t before = counts_now(), after;
    collector_t c;
    char url[128];
    lq_otlp_t *x;
    size_t i, j;
    int dup = 0, missing = 0, stray = 0;
    json_t *body, *span;

    collector_start(&c, 200);
    endpoint_of(url, sizeof(url), c.port);
    x = lq_otlp_start(url, NULL, "test-svc", 4096);
    CHECK(x != NULL);
    add_numbered(x, 0, N - 3);
    CHECK(collector_wait(&c, N - 3, 0));
    add_numbered(x, N - 3, 3); /* fewer than a batch: sent within a second all the same */
    CHECK(collector_wait(&c, N, 0));
    lq_otlp_stop(x, 2000);
    after = counts_now();
    json_array_foreach(c.bodies, i, body)
    {
        json_t *rs = json_array_get(json_object_get(body, "resourceSpans"), 0);
        json_t *ss = json_array_get(json_object_get(rs, "scopeSpans"), 0);
        json_array_foreach(json_object_get(ss, "spans"), j, span)
        {
            unsigned long v = strtoul(str_or_empty(sget(span, "spanId")), NULL, 16) & 0xffffffffUL;
            if (v >= N)
                stray++;
            else if (seen[v]++)
                dup++;
        }
    }
    for (i = 0; i < N; i++)
        missing += !seen[i];
    printf("%d spans in %zu batches\n", N, json_array_size(c.bodies));
    CHECK_INT(c.n_spans, N);
    CHECK_INT(dup, 0);
    CHECK_INT(missing, 0);
    CHECK_INT(stray, 0);
    CHECK_INT(c.bad, 0);
    CHECK_INT(after.exported - before.exported, N);
    CHECK_INT(after.dropped - before.dropped, 0);
    collector_stop(&c);
}

/* A collector answering 500: each batch is one failure and its spans are dropped. */
static void test_collector_error(void)
{
    counts_t before = counts_now(), after;
    collector_t c;
    char url[128];
    lq_otlp_t *x;

    collector_start(&c, 500);
    endpoint_of(url, sizeof(url), c.port);
    x = lq_otlp_start(url, NULL, "test-svc", 100);
    CHECK(x != NULL);
    add_numbered(x, 0, 5);
    lq_otlp_stop(x, 2000);
    after = counts_now();
    CHECK_INT(c.n_spans, 5);
    CHECK(json_array_size(c.bodies) >= 1);
    CHECK_INT(after.failures - before.failures, json_array_size(c.bodies));
    CHECK_INT(after.dropped - before.dropped, 5);
    CHECK_INT(after.exported - before.exported, 0);
    collector_stop(&c);
}

/* No collector (a port bound but not listening: connection refused): every span is dropped,
 * the ones beyond the queue at once, the others with their batch. */
static void test_no_collector(void)
{
    struct sockaddr_in sa;
    socklen_t sa_len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    counts_t before = counts_now(), after;
    char url[128];
    lq_otlp_t *x;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
          getsockname(fd, (struct sockaddr *)&sa, &sa_len) == 0);
    endpoint_of(url, sizeof(url), ntohs(sa.sin_port));
    x = lq_otlp_start(url, NULL, "test-svc", 4);
    CHECK(x != NULL);
    add_numbered(x, 0, 10);
    lq_otlp_stop(x, 1000);
    after = counts_now();
    CHECK_INT(after.dropped - before.dropped, 10);
    CHECK_INT(after.exported - before.exported, 0);
    CHECK(after.failures - before.failures >= 1);
    close(fd);
}

/* A collector that does not answer: the exporter's thread waits in its POST while the queue
 * (4) fills and further spans are dropped at once; stopping takes about the time it is given,
 * not the 5 s a POST may last. */
static void test_stuck_collector(void)
{
    counts_t before = counts_now(), mid, after;
    collector_t c;
    char url[128];
    lq_otlp_t *x;
    size_t in_flight;
    int64_t t0, took;

    collector_start(&c, 200);
    c.hold = 1;
    endpoint_of(url, sizeof(url), c.port);
    x = lq_otlp_start(url, NULL, "test-svc", 4);
    CHECK(x != NULL);
    add_numbered(x, 0, 2); /* half the queue: the thread sends */
    CHECK(collector_wait(&c, 0, 1));
    pthread_mutex_lock(&c.mu);
    in_flight = c.n_spans; /* 1 or 2: the rest is still pending */
    pthread_mutex_unlock(&c.mu);
    add_numbered(x, 2, 10);
    mid = counts_now();
    /* room for 4 - (2 - in_flight) of the 10 */
    CHECK_INT(mid.dropped - before.dropped, 10 - (4 - (2 - (long long)in_flight)));
    t0 = lq_mono_ms();
    lq_otlp_stop(x, 200);
    took = lq_mono_ms() - t0;
    after = counts_now();
    printf("stop with a stuck collector took %lld ms\n", (long long)took);
    CHECK(took < 3000);
    CHECK_INT(after.dropped - before.dropped, 12);
    CHECK_INT(after.exported - before.exported, 0);
    CHECK(after.failures - before.failures >= 1);
    collector_stop(&c);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    test_refuses();
    test_null_exporter();
    test_encoding();
    test_many();
    test_collector_error();
    test_no_collector();
    test_stuck_collector();
    curl_global_cleanup();
    TEST_DONE();
}

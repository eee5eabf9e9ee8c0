/* common/otlp.c — spans to an OpenTelemetry collector over OTLP/HTTP, JSON encoding.
 *
 * A caller's thread writes its span straight into the pending batch, under the mutex: a JSON
 * text that already holds the envelope's opening (resource, scope, "spans":[), the spans
 * comma-joined after it. The exporter's thread keeps a spare buffer opened the same way; to
 * send, it swaps the two under the mutex, closes the envelope of the batch it took and POSTs
 * it, then opens that buffer again for the next swap. Both buffers are kept and grow to the
 * largest batch, so after a warm-up a caller allocates nothing.
 *
 * A batch the collector does not take (no connection, a timeout, a status other than 2xx) is
 * dropped and counted: traces are worth less than the memory and the requests they would
 * hold up. */
#include "common/otlp.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/metrics.h"

#ifndef LLMQ_VERSION
#define LLMQ_VERSION "dev" /* (the build defines no version macro) */
#endif

#define OTLP_PERIOD_MS          1000 /* a batch at least every second */
#define OTLP_WAKE_SPANS         512  /* or as soon as this many are pending */
#define OTLP_CONNECT_TIMEOUT_MS 2000L
#define OTLP_TIMEOUT_MS         5000L
#define OTLP_WARN_EVERY_MS      60000 /* one warning a minute about failed exports */
#define OTLP_DEFAULT_SERVICE    "unknown_service"

struct lq_otlp {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* (on the monotonic clock) */
    int has_sync, has_thread;
    pthread_t thread;
    char *service;
    /* under mu */
    lq_jsonw_t pending; /* the envelope's opening, then n_pending spans */
    size_t n_pending;
    int stop;
    /* set at start */
    size_t max_queue, wake_at;
    /* the exporter thread's */
    lq_jsonw_t spare; /* opened for the next swap; after a swap, the batch being sent */
    CURLM *multi;     /* (so that lq_otlp_stop can wake a transfer's wait: curl_multi_wakeup) */
    CURL *curl;       /* reused: keeps its connection to the collector */
    struct curl_slist *headers;
    int64_t next_warn_ms;
    /* 0, or the monotonic time (ms) by which lq_otlp_stop wants the thread done */
    _Atomic int64_t abort_at_ms;
    lq_metric_t *m_exported, *m_dropped, *m_failures;
};

/* ---------- encoding ---------- */

static void put_attr_str(lq_jsonw_t *w, const char *key, const char *s)
{
    lq_jsonw_obj_open(w);
    lq_jsonw_kstr(w, "key", key);
    lq_jsonw_key(w, "value");
    lq_jsonw_obj_open(w);
    lq_jsonw_kstr(w, "stringValue", s);
    lq_jsonw_obj_close(w);
    lq_jsonw_obj_close(w);
}

/* A batch's envelope up to the opening of its spans array. */
static void batch_open(lq_jsonw_t *w, const char *service)
{
    lq_jsonw_reset(w);
    lq_jsonw_obj_open(w);
    lq_jsonw_key(w, "resourceSpans");
    lq_jsonw_arr_open(w);
    lq_jsonw_obj_open(w);
    lq_jsonw_key(w, "resource");
    lq_jsonw_obj_open(w);
    lq_jsonw_key(w, "attributes");
    lq_jsonw_arr_open(w);
    put_attr_str(w, "service.name", service);
    put_attr_str(w, "service.version", LLMQ_VERSION);
    lq_jsonw_arr_close(w);
    lq_jsonw_obj_close(w);
    lq_jsonw_key(w, "scopeSpans");
    lq_jsonw_arr_open(w);
    lq_jsonw_obj_open(w);
    lq_jsonw_key(w, "scope");
    lq_jsonw_obj_open(w);
    lq_jsonw_kstr(w, "name", "llmq");
    lq_jsonw_obj_close(w);
    lq_jsonw_key(w, "spans");
    lq_jsonw_arr_open(w);
}

/* Closes what batch_open opened: spans, scopeSpans[0], scopeSpans, resourceSpans[0],
 * resourceSpans, the document. */
static void batch_close(lq_jsonw_t *w)
{
    lq_jsonw_arr_close(w);
    lq_jsonw_obj_close(w);
    lq_jsonw_arr_close(w);
    lq_jsonw_obj_close(w);
    lq_jsonw_arr_close(w);
    lq_jsonw_obj_close(w);
}

static void put_id(lq_jsonw_t *w, const char *key, const uint8_t *id, size_t n)
{
    char hex[2 * 16 + 1];

    lq_hex(hex, id, n);
    lq_jsonw_kstr(w, key, hex);
}

/* Nanoseconds as a decimal string: the microseconds' digits and three zeros (no overflow). */
static void put_time(lq_jsonw_t *w, const char *key, int64_t us)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%lld000", (long long)us);

    lq_jsonw_kstr(w, key, us > 0 && n > 0 && (size_t)n < sizeof(buf) ? buf : "0");
}

/* A double as proto3's JSON mapping has it: a number, or "NaN" / "Infinity" / "-Infinity". */
static void put_double(lq_jsonw_t *w, double d)
{
    lq_jsonw_key(w, "doubleValue");
    if (isfinite(d))
        lq_jsonw_double(w, d);
    else
        lq_jsonw_str(w, isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
}

static void put_attr(lq_jsonw_t *w, const lq_span_attr_t *a)
{
    char buf[32];
    int n;

    if (!a->key || (a->type == LQ_ATTR_STR && !a->s) ||
        (a->type != LQ_ATTR_STR && a->type != LQ_ATTR_INT && a->type != LQ_ATTR_DOUBLE))
        return;
    if (a->type == LQ_ATTR_STR) {
        put_attr_str(w, a->key, a->s);
        return;
    }
    lq_jsonw_obj_open(w);
    lq_jsonw_kstr(w, "key", a->key);
    lq_jsonw_key(w, "value");
    lq_jsonw_obj_open(w);
    if (a->type == LQ_ATTR_INT) { /* int64 is a decimal string in proto3's JSON */
        n = snprintf(buf, sizeof(buf), "%lld", (long long)a->i);
        lq_jsonw_kstr(w, "intValue", n > 0 && (size_t)n < sizeof(buf) ? buf : "0");
    } else {
        put_double(w, a->d);
    }
    lq_jsonw_obj_close(w);
    lq_jsonw_obj_close(w);
}

static void span_write(lq_jsonw_t *w, const lq_otel_span_t *s)
{
    size_t i;

    lq_jsonw_obj_open(w);
    put_id(w, "traceId", s->trace_id, 16);
    put_id(w, "spanId", s->span_id, 8);
    if (s->parent_id)
        put_id(w, "parentSpanId", s->parent_id, 8);
    lq_jsonw_kstr(w, "name", s->name ? s->name : "");
    lq_jsonw_kint(w, "kind", (int64_t)s->kind);
    put_time(w, "startTimeUnixNano", s->start_us);
    put_time(w, "endTimeUnixNano", s->end_us);
    lq_jsonw_key(w, "attributes");
    lq_jsonw_arr_open(w);
    for (i = 0; s->attrs && i < s->n_attrs; i++)
        put_attr(w, &s->attrs[i]);
    lq_jsonw_arr_close(w);
    if (s->error) {
        lq_jsonw_key(w, "status");
        lq_jsonw_obj_open(w);
        lq_jsonw_kint(w, "code", 2); /* STATUS_CODE_ERROR */
        if (s->error_message)
            lq_jsonw_kstr(w, "message", s->error_message);
        lq_jsonw_obj_close(w);
    }
    lq_jsonw_obj_close(w);
}

/* Appends the span to the pending batch: 0, or -1 when the writer failed (out of memory),
 * the batch then being as it was before. */
static int span_append(lq_jsonw_t *w, const lq_otel_span_t *s)
{
    size_t len = w->len;
    int depth = w->depth;
    unsigned count = w->count[depth - 1];

    span_write(w, s);
    if (!w->failed && w->depth == depth)
        return 0;
    w->failed = 0;
    w->len = len;
    w->depth = depth;
    w->count[depth - 1] = count;
    w->after_key = 0;
    if (w->p)
        w->p[len] = '\0';
    return -1;
}

/* ---------- sending ---------- */

static size_t discard_body(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

/* How long a transfer may wait for its sockets before looking at lq_otlp_stop's deadline
 * again: 0 when it has passed. */
static int wait_ms(lq_otlp_t *x)
{
    int64_t at = atomic_load(&x->abort_at_ms), left;

    if (!at)
        return 1000;
    left = at - lq_mono_ms();
    return left <= 0 ? 0 : left < 1000 ? (int)left : 1000;
}

/* curl_easy_perform, except that lq_otlp_stop's deadline ends the transfer at once: 0 when
 * the transfer went through, else -1 and why says what went wrong. */
static int perform(lq_otlp_t *x, char *why, size_t why_size)
{
    CURLMcode mc = curl_multi_add_handle(x->multi, x->curl);
    CURLcode rc = CURLE_OPERATION_TIMEDOUT; /* (unless it ends before the deadline) */
    CURLMsg *msg;
    int running = 1, left, ms;

    for (;;) {
        ms = wait_ms(x);
        if (mc != CURLM_OK || !running || ms == 0)
            break;
        mc = curl_multi_perform(x->multi, &running);
        if (mc == CURLM_OK && running)
            mc = curl_multi_poll(x->multi, NULL, 0, ms, NULL);
    }
    for (msg = curl_multi_info_read(x->multi, &left); msg;
         msg = curl_multi_info_read(x->multi, &left))
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == x->curl)
            rc = msg->data.result;
    curl_multi_remove_handle(x->multi, x->curl);
    if (mc != CURLM_OK) {
        snprintf(why, why_size, "%s", curl_multi_strerror(mc));
        return -1;
    }
    if (rc != CURLE_OK) {
        snprintf(why, why_size, "%s", curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

/* headers: "Name=Value,Name=Value" (as OTEL_EXPORTER_OTLP_HEADERS; no percent-decoding), each
 * sent as "Name: Value". -1 for a pair without a name or "=", or a line break. */
static int add_headers(lq_otlp_t *x, const char *headers)
{
    const char *p = headers;

    while (p && *p) {
        const char *end = strchr(p, ','), *eq;
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char line[1024];
        eq = memchr(p, '=', n);
        while (n && (*p == ' ' || *p == '\t'))
            p++, n--;
        if (n) {
            if (!eq || eq == p || n >= sizeof(line) - 2 || memchr(p, '\r', n) || memchr(p, '\n', n))
                return -1;
            snprintf(line, sizeof(line), "%.*s: %.*s", (int)(eq - p), p,
                     (int)(n - (size_t)(eq - p) - 1), eq + 1);
            if (!curl_slist_append(x->headers, line))
                return -1;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

static int curl_setup(lq_otlp_t *x, const char *endpoint, const char *headers)
{
    struct curl_slist *h;

    x->multi = curl_multi_init();
    x->curl = curl_easy_init();
    if (!x->multi || !x->curl)
        return -1;
    h = curl_slist_append(NULL, "Content-Type: application/json");
    if (!h)
        return -1;
    x->headers = h;
    if (!curl_slist_append(x->headers, "Expect:")) /* no 100-continue round trip */
        return -1;
    if (add_headers(x, headers)) {
        LQ_ERROR("otlp: the headers must be Name=Value pairs separated by commas");
        return -1;
    }
    if (curl_easy_setopt(x->curl, CURLOPT_URL, endpoint) != CURLE_OK)
        return -1;
    curl_easy_setopt(x->curl, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(x->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(x->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->curl, CURLOPT_USERAGENT, "llmq-otlp/" LLMQ_VERSION);
    curl_easy_setopt(x->curl, CURLOPT_WRITEFUNCTION, discard_body);
    return 0;
}

/* POSTs the batch: 1 when the collector took it (2xx); else 0 and why says what went wrong. */
static int post(lq_otlp_t *x, const lq_jsonw_t *body, char *why, size_t why_size)
{
    long status = 0, timeout = OTLP_TIMEOUT_MS, connect = OTLP_CONNECT_TIMEOUT_MS;
    int64_t abort_at = atomic_load(&x->abort_at_ms);

    if (abort_at) { /* stopping: only the time lq_otlp_stop allows */
        int64_t left = abort_at - lq_mono_ms();
        if (left <= 0) {
            snprintf(why, why_size, "no time left to send before stopping");
            return 0;
        }
        timeout = left < timeout ? (long)left : timeout;
        connect = left < connect ? (long)left : connect;
    }
    curl_easy_setopt(x->curl, CURLOPT_POSTFIELDS, body->p);
    curl_easy_setopt(x->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    curl_easy_setopt(x->curl, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(x->curl, CURLOPT_CONNECTTIMEOUT_MS, connect);
    if (perform(x, why, why_size) != 0)
        return 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        snprintf(why, why_size, "the collector answered HTTP %ld", status);
        return 0;
    }
    return 1;
}

/* Sends the pending spans, if any. Called with mu held, which it lets go of while it sends. */
static void export_pending(lq_otlp_t *x)
{
    lq_jsonw_t batch;
    size_t n = x->n_pending;
    char why[256] = "";
    int ok = 0;

    if (n == 0)
        return;
    if (x->spare.failed) /* (its opening ran out of memory last time) */
        batch_open(&x->spare, x->service);
    if (x->spare.failed)
        return;
    batch = x->pending;
    x->pending = x->spare;
    lq_jsonw_init(&x->spare); /* (its buffer is pending's now) */
    x->n_pending = 0;
    pthread_mutex_unlock(&x->mu);

    batch_close(&batch);
    if (batch.failed)
        snprintf(why, sizeof(why), "out of memory");
    else
        ok = post(x, &batch, why, sizeof(why));
    if (ok) {
        lq_metric_add(x->m_exported, (int64_t)n);
    } else {
        lq_metric_add(x->m_failures, 1);
        lq_metric_add(x->m_dropped, (int64_t)n);
        if (lq_mono_ms() >= x->next_warn_ms) {
            x->next_warn_ms = lq_mono_ms() + OTLP_WARN_EVERY_MS;
            LQ_WARN("otlp: exporting %zu spans failed (%s); they are dropped (this warning at "
                    "most once a minute)",
                    n, why);
        }
    }
    batch_open(&batch, x->service);
    x->spare = batch;
    pthread_mutex_lock(&x->mu);
}

static void wait_until(lq_otlp_t *x, int64_t due_ms)
{
    struct timespec ts = {(time_t)(due_ms / 1000), (long)(due_ms % 1000) * 1000000L};

    pthread_cond_timedwait(&x->cv, &x->mu, &ts);
}

static void *run(void *arg)
{
    lq_otlp_t *x = arg;
    int64_t due = lq_mono_ms() + OTLP_PERIOD_MS;

    pthread_mutex_lock(&x->mu);
    while (!x->stop) {
        if (x->n_pending < x->wake_at && lq_mono_ms() < due) {
            wait_until(x, due);
            continue;
        }
        due = lq_mono_ms() + OTLP_PERIOD_MS;
        export_pending(x);
    }
    export_pending(x); /* what was pending when asked to stop */
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

/* ---------- the API ---------- */

static void otlp_destroy(lq_otlp_t *x)
{
    if (!x)
        return;
    if (x->curl)
        curl_easy_cleanup(x->curl);
    if (x->multi)
        curl_multi_cleanup(x->multi);
    curl_slist_free_all(x->headers);
    lq_jsonw_free(&x->pending);
    lq_jsonw_free(&x->spare);
    if (x->has_sync) {
        pthread_mutex_destroy(&x->mu);
        pthread_cond_destroy(&x->cv);
    }
    free(x->service);
    free(x);
}

/* The mutex and the condition variable (timed waits on the monotonic clock: a wall clock set
 * back never holds up the batches): 0, or -1. */
static int sync_init(lq_otlp_t *x)
{
    pthread_condattr_t a;
    int rc;

    if (pthread_mutex_init(&x->mu, NULL) != 0)
        return -1;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&x->cv, &a);
    pthread_condattr_destroy(&a);
    if (rc != 0) {
        pthread_mutex_destroy(&x->mu);
        return -1;
    }
    x->has_sync = 1;
    return 0;
}

static void register_metrics(lq_otlp_t *x)
{
    /* get-or-create: an exporter started again shares the process's counters */
    x->m_exported = lq_metrics_counter("llmq_otlp_spans_exported_total",
                                       "Spans the OpenTelemetry collector accepted", NULL);
    x->m_dropped =
        lq_metrics_counter("llmq_otlp_spans_dropped_total",
                           "Spans not exported: the queue was full, or their batch failed", NULL);
    x->m_failures = lq_metrics_counter(
        "llmq_otlp_export_failures_total",
        "Batches the collector did not accept (no connection, timeout, non-2xx answer)", NULL);
}

static int endpoint_valid(const char *endpoint)
{
    return endpoint && ((strncasecmp(endpoint, "http://", 7) == 0 && endpoint[7]) ||
                        (strncasecmp(endpoint, "https://", 8) == 0 && endpoint[8]));
}

lq_otlp_t *lq_otlp_start(const char *endpoint, const char *headers, const char *service_name,
                         size_t max_queue)
{
    lq_otlp_t *x = NULL;

    if (!endpoint_valid(endpoint)) {
        LQ_ERROR("otlp: the endpoint must be an http:// or https:// URL");
        return NULL;
    }
    if (max_queue == 0) {
        LQ_ERROR("otlp: the queue must hold at least one span");
        return NULL;
    }
    x = calloc(1, sizeof(*x));
    if (!x || sync_init(x) != 0)
        goto fail;
    x->service = strdup(service_name ? service_name : OTLP_DEFAULT_SERVICE);
    x->max_queue = max_queue;
    x->wake_at = max_queue / 2 < OTLP_WAKE_SPANS ? (max_queue + 1) / 2 : OTLP_WAKE_SPANS;
    register_metrics(x);
    if (!x->service || curl_setup(x, endpoint, headers) != 0)
        goto fail;
    batch_open(&x->pending, x->service);
    batch_open(&x->spare, x->service);
    if (x->pending.failed || x->spare.failed)
        goto fail;
    if (pthread_create(&x->thread, NULL, run, x) != 0)
        goto fail;
    x->has_thread = 1;
    return x;
fail:
    LQ_ERROR("otlp: the span exporter does not start");
    otlp_destroy(x);
    return NULL;
}

lq_err_t lq_otlp_from_settings(const lq_common_settings_t *set, const char *service_name,
                               lq_otlp_t **out, char *errstr, size_t errstr_size)
{
    const char *url = set->tracing.otlp_endpoint;

    *out = NULL;
    if (!*url)
        return LQ_OK;
    *out = lq_otlp_start(url, set->tracing.otlp_headers, service_name,
                         (size_t)set->tracing.max_queue_spans);
    if (*out)
        return LQ_OK;
    snprintf(errstr, errstr_size,
             "tracing.otlp_endpoint must be an http:// or https:// URL and tracing.otlp_headers "
             "Name=Value pairs separated by commas");
    return LQ_ERR_CONFIG;
}

void lq_otlp_add(lq_otlp_t *x, const lq_otel_span_t *span)
{
    int added = 0;

    if (!x || !span)
        return;
    if (span->trace_id && span->span_id) {
        pthread_mutex_lock(&x->mu);
        if (x->n_pending < x->max_queue && !x->pending.failed &&
            span_append(&x->pending, span) == 0) {
            added = 1;
            x->n_pending++;
            if (x->n_pending == x->wake_at) /* (once: the thread then takes them all) */
                pthread_cond_signal(&x->cv);
        }
        pthread_mutex_unlock(&x->mu);
    }
    if (!added)
        lq_metric_add(x->m_dropped, 1);
}

void lq_otlp_stop(lq_otlp_t *x, int timeout_ms)
{
    if (!x)
        return;
    /* (a monotonic time is never 0, which would mean "no deadline") */
    atomic_store(&x->abort_at_ms, lq_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0));
    pthread_mutex_lock(&x->mu);
    x->stop = 1;
    pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu);
    curl_multi_wakeup(x->multi); /* (a POST under way ends when the deadline passes) */
    if (x->has_thread)
        pthread_join(x->thread, NULL);
    lq_metric_add(x->m_dropped, (int64_t)x->n_pending); /* (spans added while it stopped) */
    otlp_destroy(x);
}

/* One HTTP call to a provider, non-blocking on the worker's curl multi handle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "workers/host_slots.h"
#include "workers/http_call.h"
#include "workers/publish.h"
#include "workers/timers.h"
#include "workers/tracing.h"

/* Keep n more bytes of a whole answer; 0, or -1 (the transfer is aborted). */
static int keep_body(job_t *j, const char *data, size_t n)
{
    if (j->resp_len + n > j->w->max_response) {
        j->resp_too_big = 1;
        return -1;
    }
    if (j->resp_len + n + 1 > j->resp_cap) {
        size_t ncap = (j->resp_len + n + 1) * 2;
        char *nb = realloc(j->resp, ncap);
        if (!nb)
            return -1;
        j->resp = nb;
        j->resp_cap = ncap;
    }
    memcpy(j->resp + j->resp_len, data, n);
    j->resp_len += n;
    j->resp[j->resp_len] = '\0';
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    job_t *j = arg;
    size_t n = size * nmemb;
    long status = 0;

    j->got_first_byte = 1;
    if (j->stream && j->easy) {
        curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) {
            if (worker_stream_emitted(j->stream) > j->w->max_response) {
                j->resp_too_big = 1;
                return 0;
            }
            worker_stream_feed(j->stream, data, n, publish_chunk, j);
            return n;
        }
    }
    return keep_body(j, data, n) ? 0 : n; /* 0 aborts the transfer */
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    job_t *j = arg;
    size_t n = size * nmemb;

    j->got_first_byte = 1;
    if (n > 12 && strncasecmp(data, "retry-after:", 12) == 0) {
        size_t i = 12, o = 0;
        while (i < n && data[i] == ' ')
            i++;
        while (i < n && o + 1 < sizeof(j->retry_after) && data[i] != '\r' && data[i] != '\n')
            j->retry_after[o++] = data[i++];
        j->retry_after[o] = '\0';
    }
    return n;
}

/* An easy handle for request hr of j, its headers in j->headers. */
static void easy_setup(worker_t *w, job_t *j, CURL *e, const worker_http_request_t *hr)
{
    char tp[LQ_TRACEPARENT_LEN + 16], line[LQ_TRACESTATE_MAX + 16];
    const char *ts;
    size_t i;

    j->headers = NULL;
    for (i = 0; i < hr->n_headers; i++)
        j->headers = curl_slist_append(j->headers, hr->headers[i]);
    /* the W3C trace context: this attempt's span is the provider's parent */
    if (w->set.common.tracing.provider_headers) {
        worker_tracing_call_headers(j, tp, sizeof(tp), &ts);
        j->headers = curl_slist_append(j->headers, tp);
        if (ts && snprintf(line, sizeof(line), "tracestate: %s", ts) < (int)sizeof(line))
            j->headers = curl_slist_append(j->headers, line);
    }
    curl_easy_setopt(e, CURLOPT_URL, hr->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers);
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, hr->body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, w->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, w->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "llmq-worker/0.1");
}

int http_call_start(worker_t *w, job_t *j, const worker_target_t *target)
{
    worker_http_request_t hr;
    CURL *e = curl_easy_init();

    if (!e || worker_build_request(&j->req, target, j->req.mode == LQ_MODE_STREAM, &hr)) {
        if (e)
            curl_easy_cleanup(e);
        return -1;
    }
    j->resp_len = 0;
    j->resp_too_big = 0;
    j->retry_after[0] = '\0';
    j->got_first_byte = 0;
    worker_stream_free(j->stream);
    j->stream = j->req.mode == LQ_MODE_STREAM ? worker_stream_new(target->wire) : NULL;
    easy_setup(w, j, e, &hr);
    worker_http_request_clear(&hr);
    j->easy = e;
    curl_multi_add_handle(w->multi, e);
    timer_add(w, j, T_FIRST_BYTE, j->attempt_start_us + w->first_byte_timeout_ms * 1000);
    return 0;
}

void http_call_detach(worker_t *w, job_t *j)
{
    host_slots_release(w, j);
    if (!j->easy)
        return;
    curl_multi_remove_handle(w->multi, j->easy);
    curl_easy_cleanup(j->easy);
    j->easy = NULL;
    curl_slist_free_all(j->headers);
    j->headers = NULL;
}

job_t *http_call_done(worker_t *w, CURL *e, CURLcode code)
{
    job_t *j = NULL;
    long status = 0;
    worker_wire_t wire;

    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (j->timer == T_FIRST_BYTE)
        timer_remove(w, j);
    http_call_detach(w, j);
    wire = routing_endpoint(w->routing, j->endpoint)->wire;
    if (j->resp_too_big)
        worker_result_fail(&j->result, "provider_error", "response_too_large",
                           "The provider's answer was larger than the configured limit.", 502, 0);
    else if (j->stream && status >= 200 && status < 300)
        /* a transfer error mid-stream reads as a stream without its end marker */
        worker_stream_finish(j->stream, &j->result);
    else if (code != CURLE_OK)
        worker_parse_response(wire, 0, NULL, 0, NULL, curl_easy_strerror(code),
                              code == CURLE_OPERATION_TIMEDOUT, &j->result);
    else
        worker_parse_response(wire, status, j->resp, j->resp_len,
                              j->retry_after[0] ? j->retry_after : NULL, NULL, 0, &j->result);
    return j;
}

int http_call_first_byte_timeout(worker_t *w, job_t *j)
{
    char msg[200];

    if (j->got_first_byte || !j->easy)
        return 0;
    http_call_detach(w, j);
    snprintf(msg, sizeof(msg), "The provider sent nothing for %ld ms.", w->first_byte_timeout_ms);
    worker_result_fail(&j->result, "provider_error", "provider_timeout", msg, 504, 1);
    return 1;
}

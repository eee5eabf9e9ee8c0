/* workers/provider_*.c and workers/sse.c: the wire adapters, data-driven.
 *
 * tests/data/anthropic, tests/data/gemini, tests/data/openai_compat: NAME.json is a provider's
 * answer body, NAME.expect the call's inputs and the expected worker_result_t, in the format of
 * tests/data/openai (see test_providers.c), plus response_extra_json.
 *
 * tests/data/streams: NAME.sse is the body of a streaming answer, NAME.expect names
 *   wire=openai|anthropic|gemini
 * and the outcome: deltas (the text passed to the callback, concatenated), ended (whether
 * worker_stream_feed answered 1), and the worker_result_t fields as above. Each stream is
 * fed whole, split at every byte position, one byte at a time and in three pieces at many
 * split points: every way must give the same outcome.
 *
 * tests/data/build: NAME.json is a client's request (parsed by ingest), NAME.expect the target
 * (wire, stream, model, base_url, api_key, default_max_tokens, target_header lines) and the
 * expected url, headers_json (in order) and body_json (compared as JSON). */
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "ingest/request_parse.h"
#include "common/clock.h"
#include "workers/provider_adapter.h"
#include "workers/sse.h"
#include "testutil.h"
#include "expect.h"

/* ---- whole answers ---- */

static worker_wire_t case_wire;

static void parse_case_wire(long http_status, const char *body, size_t len, const char *retry_after,
                            const char *transport_error, int transport_timeout,
                            worker_result_t *out)
{
    worker_parse_response(case_wire, http_status, body, len, retry_after, transport_error,
                          transport_timeout, out);
}

static void answer_case(const char *dir, const char *name)
{
    exp_answer_case(dir, name, parse_case_wire);
}

/* ---- streams ---- */

typedef struct sink {
    char *text;
    size_t len, cap;
    int calls;
} sink_t;

static void on_delta(void *arg, const char *text, size_t len)
{
    sink_t *k = arg;

    if (k->len + len + 1 > k->cap) {
        k->cap = (k->len + len + 1) * 2;
        k->text = realloc(k->text, k->cap);
        if (!k->text)
            abort();
    }
    memcpy(k->text + k->len, text, len);
    k->len += len;
    k->text[k->len] = '\0';
    k->calls++;
}

typedef struct run {
    worker_result_t r;
    sink_t deltas;
    int ended;
    size_t emitted;
} run_t;

/* Feed data cut at the cuts (ascending offsets), then finish. */
static void run_stream(worker_wire_t wire, const char *data, size_t len, const size_t *cuts,
                       size_t n_cuts, run_t *out)
{
    worker_stream_t *s = worker_stream_new(wire);
    size_t i, from = 0;

    memset(out, 0, sizeof(*out));
    if (!s)
        abort();
    for (i = 0; i <= n_cuts; i++) {
        size_t to = i < n_cuts ? cuts[i] : len;
        char *piece = exact_copy(data + from, to - from); /* nothing past the piece */
        if (worker_stream_feed(s, piece, to - from, on_delta, &out->deltas))
            out->ended = 1;
        free(piece);
        from = to;
    }
    out->emitted = worker_stream_emitted(s);
    memset(&out->r, 0x5a, sizeof(out->r));
    worker_stream_finish(s, &out->r);
    worker_stream_free(s);
}

static void run_free(run_t *r)
{
    worker_result_clear(&r->r);
    free(r->deltas.text);
}

/* Everything a run produced, as one string (for comparing runs). */
static char *run_summary(const run_t *x)
{
    const worker_result_t *r = &x->r;
    size_t n = 256 + x->deltas.len;
    const char *parts[] = {
        r->content,        r->finish_reason, r->extra_json, r->response_extra_json,
        r->provider_model, r->err_type,      r->err_code,   r->err_message};
    char *s;
    size_t i, o;

    for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        n += (parts[i] ? strlen(parts[i]) : 6) + 1;
    s = malloc(n);
    if (!s)
        abort();
    o = (size_t)snprintf(s, n,
                         "ok=%d pt=%d ct=%d st=%d re=%d ra=%lld ended=%d emitted=%zu calls=%d|%s",
                         r->ok, r->prompt_tokens, r->completion_tokens, r->http_status,
                         r->retriable, (long long)r->retry_after_ms, x->ended, x->emitted,
                         x->deltas.calls, x->deltas.text ? x->deltas.text : "");
    for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        o += (size_t)snprintf(s + o, n - o, "|%s", parts[i] ? parts[i] : "(null)");
    return s;
}

static size_t same_runs, differing_runs;

static void compare_run(worker_wire_t wire, const char *data, size_t len, const size_t *cuts,
                        size_t n_cuts, const char *want)
{
    run_t x;
    char *got, how[128];

    run_stream(wire, data, len, cuts, n_cuts, &x);
    got = run_summary(&x);
    if (strcmp(got, want) == 0) {
        same_runs++;
    } else {
        differing_runs++;
        if (differing_runs <= 5) {
            snprintf(how, sizeof(how), "outcome when cut at %zu%s%zu", n_cuts ? cuts[0] : 0,
                     n_cuts > 1 ? " and " : "", n_cuts > 1 ? cuts[1] : 0);
            ck(0, how, got, want);
        }
    }
    free(got);
    run_free(&x);
}

static void stream_case(const char *dir, const char *name)
{
    char path[4096], *data, *want;
    size_t len = 0, k, j, step;
    size_t cuts[2], *every;
    expect_t e;
    run_t whole;
    const char *w;
    int wire;
    size_t before = differing_runs;

    cur_case = name;
    make_path(path, sizeof(path), dir, name, (int)strlen(name), ".sse");
    data = lq_test_read_file(path, &len);
    make_path(path, sizeof(path), dir, name, (int)strlen(name), ".expect");
    if (!data || expect_load(&e, path) != 0) {
        ck(0, "case files readable", path, "");
        free(data);
        return;
    }
    w = exp_get(&e, "wire");
    wire = worker_wire_parse(w);
    ck(wire >= 0, "wire", w, "openai|anthropic|gemini");
    if (wire < 0) {
        expect_free(&e);
        free(data);
        return;
    }
    run_stream((worker_wire_t)wire, data, len, NULL, 0, &whole);
    exp_worker_result(&e, &whole.r);
    exp_str(&e, "deltas", whole.deltas.text ? whole.deltas.text : "");
    exp_int(&e, "ended", whole.ended, -1);
    ck(whole.emitted == whole.deltas.len, "emitted = bytes passed to the callback", NULL, NULL);
    if (whole.r.ok)
        ck(whole.r.content == NULL ||
               strcmp(whole.r.content, whole.deltas.text ? whole.deltas.text : "") == 0,
           "content = deltas", whole.r.content, whole.deltas.text);
    exp_all_used(&e);
    expect_free(&e);
    want = run_summary(&whole);

    for (k = 0; k <= len; k++) { /* two pieces, cut at every byte */
        cuts[0] = k;
        compare_run((worker_wire_t)wire, data, len, cuts, 1, want);
    }
    every = malloc((len ? len : 1) * sizeof(*every)); /* one byte at a time */
    if (!every)
        abort();
    for (k = 0; k + 1 < len; k++)
        every[k] = k + 1;
    compare_run((worker_wire_t)wire, data, len, every, len ? len - 1 : 0, want);
    free(every);
    step = len / 37 + 1; /* three pieces */
    for (k = 0; k <= len; k += step)
        for (j = k; j <= len; j += step + 1) {
            cuts[0] = k;
            cuts[1] = j;
            compare_run((worker_wire_t)wire, data, len, cuts, 2, want);
        }
    if (differing_runs == before)
        lq_test_checks++;
    else
        fprintf(stderr, "case %s: %zu split feeds differ from the whole feed\n", name,
                differing_runs - before);
    free(want);
    run_free(&whole);
    free(data);
}

static void run_streams(const char *data_dir)
{
    char dir[4096];
    size_t n;

    snprintf(dir, sizeof(dir), "%s/streams", data_dir);
    n = run_dir_ext(dir, ".sse", stream_case);
    printf("%zu stream cases in %s (%zu split feeds agreed, %zu differed)\n", n, dir, same_runs,
           differing_runs);
    cur_case = "(streams)";
    ck(n >= 20, "number of stream cases", NULL, "at least 20");
}

/* ---- request building ---- */

static void build_case(const char *dir, const char *name)
{
    static const ingest_limits_t lim = {64, 256, 4, 64};
    char path[4096], *body;
    size_t len = 0, i;
    expect_t e;
    lq_chat_request_t req;
    ingest_parse_error_t perr;
    worker_target_t t;
    worker_http_request_t hr;
    const char *hdrs[8];
    const char *w, *st, *dm, *url;
    int stream = 0, wire;
    json_t *headers;

    body = case_body(dir, name, &len, path, sizeof(path));
    if (expect_load(&e, path) != 0 || !body) {
        ck(0, "expect file readable", path, "");
        free(body);
        return;
    }
    if (ingest_parse_chat(body, len, &lim, &req, &stream, &perr) != LQ_OK) {
        ck(0, "client request parses", perr.message, "LQ_OK");
        expect_free(&e);
        free(body);
        return;
    }
    memset(&t, 0, sizeof(t));
    w = exp_get(&e, "wire");
    wire = worker_wire_parse(w);
    ck(wire >= 0, "wire", w, "a wire");
    t.wire = (worker_wire_t)(wire < 0 ? 0 : wire);
    t.base_url = exp_get(&e, "base_url");
    t.api_key = exp_get(&e, "api_key");
    t.model = exp_get(&e, "model");
    dm = exp_get(&e, "default_max_tokens");
    t.default_max_tokens = dm ? atoi(dm) : 0;
    for (i = 0; i < e.n && t.n_headers < 8; i++) {
        if (strcmp(e.kv[i].key, "target_header") == 0) {
            e.kv[i].used = 1;
            hdrs[t.n_headers++] = e.kv[i].val;
        }
    }
    t.headers = hdrs;
    st = exp_get(&e, "stream");
    memset(&hr, 0x5a, sizeof(hr));
    ck(worker_build_request(&req, &t, st && atoi(st), &hr) == 0, "worker_build_request", NULL, "0");
    url = exp_get(&e, "url");
    ck(hr.url && url && strcmp(hr.url, url) == 0, "url", hr.url, url);
    if (t.api_key && *t.api_key)
        ck(hr.url && !strstr(hr.url, t.api_key), "no key in the URL", hr.url, "");
    headers = json_array();
    for (i = 0; i < hr.n_headers; i++)
        json_array_append_new(headers, json_string(hr.headers[i]));
    {
        char *h = json_dumps(headers, JSON_COMPACT);
        exp_json(&e, "headers_json", h);
        free(h);
    }
    json_decref(headers);
    exp_json(&e, "body_json", hr.body);
    exp_all_used(&e);
    worker_http_request_clear(&hr);
    ck(hr.url == NULL && hr.n_headers == 0, "request cleared", NULL, NULL);
    lq_chat_request_clear(&req);
    expect_free(&e);
    free(body);
}

/* ---- the shared parts ---- */

static void test_wire_names(void)
{
    CHECK_STR(worker_wire_name(WORKER_WIRE_OPENAI), "openai");
    CHECK_STR(worker_wire_name(WORKER_WIRE_ANTHROPIC), "anthropic");
    CHECK_STR(worker_wire_name(WORKER_WIRE_GEMINI), "gemini");
    CHECK_INT(worker_wire_parse("openai"), WORKER_WIRE_OPENAI);
    CHECK_INT(worker_wire_parse("anthropic"), WORKER_WIRE_ANTHROPIC);
    CHECK_INT(worker_wire_parse("gemini"), WORKER_WIRE_GEMINI);
    CHECK_INT(worker_wire_parse("OpenAI"), -1);
    CHECK_INT(worker_wire_parse(""), -1);
    CHECK_INT(worker_wire_parse(NULL), -1);
    CHECK_STR(worker_wire_name((worker_wire_t)7), "unknown");
}

/* Every row of the wire table is complete and found by its name; nothing past the table. */
static void test_wire_table(void)
{
    const worker_wire_ops_t *ops;
    int i;

    for (i = 0; worker_wire_ops((worker_wire_t)i); i++) {
        ops = worker_wire_ops((worker_wire_t)i);
        CHECK(ops->name && ops->build_request && ops->parse_response && ops->stream_event);
        CHECK_INT(worker_wire_parse(ops->name), i);
    }
    CHECK_INT(i, 3);
    CHECK(worker_wire_ops((worker_wire_t)-1) == NULL);
    CHECK(worker_stream_new((worker_wire_t)3) == NULL);
}

static void test_retry_after(void)
{
    const int64_t date = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */
    const char *d = "Wed, 21 Oct 2015 07:28:00 GMT";

    CHECK_INT(worker_retry_after_ms(NULL, 0), 0);
    CHECK_INT(worker_retry_after_ms("", 0), 0);
    CHECK_INT(worker_retry_after_ms("7", 0), 7000);
    CHECK_INT(worker_retry_after_ms(" 7 ", 0), 7000);
    CHECK_INT(worker_retry_after_ms("0", 0), 0);
    CHECK_INT(worker_retry_after_ms("3600", 0), 3600000);
    CHECK_INT(worker_retry_after_ms("86400", 0), 3600000);
    CHECK_INT(worker_retry_after_ms("99999999999999999999999", 0), 3600000);
    CHECK_INT(worker_retry_after_ms("-1", 0), 0);
    CHECK_INT(worker_retry_after_ms("1.5", 0), 0);
    CHECK_INT(worker_retry_after_ms("7s", 0), 0);
    CHECK_INT(worker_retry_after_ms(d, (date - 30) * 1000), 30000);
    CHECK_INT(worker_retry_after_ms(d, (date - 30) * 1000 + 250), 29750);
    CHECK_INT(worker_retry_after_ms(d, date * 1000), 0);
    CHECK_INT(worker_retry_after_ms(d, (date + 10) * 1000), 0);
    CHECK_INT(worker_retry_after_ms(d, (date - 86400) * 1000), 3600000);
    CHECK_INT(worker_retry_after_ms(d, lq_wall_ms()), 0); /* long past */
    CHECK_INT(worker_retry_after_ms("Thu, 01 Jan 1970 00:01:00 GMT", 0), 60000);
    CHECK_INT(worker_retry_after_ms("Wed, 21 Oct 2015 07:28:00 UTC", (date - 30) * 1000), 0);
    CHECK_INT(worker_retry_after_ms("Wed, 21 Foo 2015 07:28:00 GMT", (date - 30) * 1000), 0);
    CHECK_INT(worker_retry_after_ms("Xyz, 21 Oct 2015 07:28:00 GMT", (date - 30) * 1000), 0);
    CHECK_INT(worker_retry_after_ms("Wed, 21 Oct 2015 27:28:00 GMT", (date - 30) * 1000), 0);
    CHECK_INT(worker_retry_after_ms("Wed, 2x Oct 2015 07:28:00 GMT", (date - 30) * 1000), 0);
    CHECK_INT(worker_retry_after_ms("Wednesday, 21-Oct-15 07:28:00 GMT", (date - 30) * 1000), 0);
}

static void test_mask(void)
{
    char out[64], small[8];
    char big[1000];

    worker_mask_secrets(out, sizeof(out), "key sk-proj-abcdefgh here", 300);
    CHECK_STR(out, "key sk-p*** here");
    worker_mask_secrets(out, sizeof(out), "AIzaSyA-x1y2z3 / pplx-abcd1234", 300);
    CHECK_STR(out, "AIza*** / pplx***");
    worker_mask_secrets(out, sizeof(out), "id=abcdefghijklmnopqrstuvwx;", 300);
    CHECK_STR(out, "id=abcd***;");
    worker_mask_secrets(out, sizeof(out), "abcdefghijklmnopqrstuvw ok", 300); /* 23: kept */
    CHECK_STR(out, "abcdefghijklmnopqrstuvw ok");
    worker_mask_secrets(out, sizeof(out), "task-list sk- ask-me", 300); /* no key inside words */
    CHECK_STR(out, "task-list sk- ask-me");
    worker_mask_secrets(out, sizeof(out), "0123456789", 4);
    CHECK_STR(out, "0123...");
    worker_mask_secrets(out, sizeof(out), "ab\xc3\xa9z", 3); /* é is not cut in half */
    CHECK_STR(out, "ab...");
    worker_mask_secrets(small, sizeof(small), "hello world", 300);
    CHECK(strlen(small) < sizeof(small));
    worker_mask_secrets(out, sizeof(out), NULL, 300);
    CHECK_STR(out, "");
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    worker_mask_secrets(out, sizeof(out), big, 300); /* bounded by the buffer */
    CHECK(strlen(out) < sizeof(out));
    CHECK_STR(out, "aaaa***");
}

static void test_fail_http(void)
{
    static const struct {
        long status;
        int overloaded;
        const char *type, *code;
        int client_status, retriable;
    } t[] = {{400, 0, "invalid_request_error", "c", 400, 0},
             {401, 0, "provider_auth_error", "provider_auth_error", 502, 0},
             {402, 0, "provider_error", "insufficient_credits", 502, 0},
             {403, 0, "provider_auth_error", "provider_auth_error", 502, 0},
             {404, 0, "invalid_request_error", "c", 404, 0},
             {408, 0, "provider_error", "provider_timeout", 504, 1},
             {409, 0, "provider_error", "c", 502, 0},
             {413, 0, "invalid_request_error", "c", 413, 0},
             {422, 0, "invalid_request_error", "c", 422, 0},
             {429, 0, "rate_limit_error", "c", 429, 1},
             {500, 0, "provider_error", "c", 502, 1},
             {502, 0, "provider_error", "c", 502, 1},
             {503, 0, "provider_error", "c", 502, 1},
             {504, 0, "provider_error", "c", 502, 1},
             {529, 0, "provider_error", "provider_overloaded", 503, 1},
             {500, 1, "provider_error", "provider_overloaded", 503, 1},
             {302, 0, "provider_error", "c", 502, 0}};
    size_t i;
    worker_result_t r;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        memset(&r, 0x5a, sizeof(r));
        worker_fail_http(&r, t[i].status, "c", "msg sk-ant-api03-secretsecret", t[i].overloaded,
                         "5");
        CHECK_INT(r.ok, 0);
        CHECK_STR(r.err_type, t[i].type);
        CHECK_STR(r.err_code, t[i].code);
        CHECK_INT(r.http_status, t[i].client_status);
        CHECK_INT(r.retriable, t[i].retriable);
        CHECK_INT(r.retry_after_ms, 5000);
        CHECK(r.err_message && !strstr(r.err_message, "secret"));
        CHECK(r.content == NULL && r.extra_json == NULL);
        worker_result_clear(&r);
    }
    worker_fail_http(&r, 400, NULL, NULL, 0, NULL);
    CHECK(r.err_code == NULL);
    CHECK_STR(r.err_message, "The provider answered 400: no error message");
    worker_result_clear(&r);
    worker_fail_transport(&r, NULL, 0);
    CHECK_STR(r.err_code, "provider_unreachable");
    CHECK_INT(r.http_status, 502);
    worker_result_clear(&r);
}

/* ---- the SSE parser on its own ---- */

typedef struct events {
    char log[2048];
    size_t n;
    int stop_after;
} events_t;

static int on_sse(void *arg, const char *event, const char *data, size_t len)
{
    events_t *v = arg;
    size_t o = strlen(v->log);

    CHECK(strlen(data) == len);
    snprintf(v->log + o, sizeof(v->log) - o, "[%s|%s]", event, data);
    v->n++;
    return v->stop_after && (int)v->n >= v->stop_after;
}

static const char *sse_all(const char *in, size_t max, int *rc)
{
    static events_t v;
    worker_sse_t *p = worker_sse_new(max);

    memset(&v, 0, sizeof(v));
    if (!p)
        abort();
    *rc = worker_sse_feed(p, in, strlen(in), on_sse, &v);
    worker_sse_free(p);
    return v.log;
}

static void test_sse(void)
{
    int rc;
    events_t v;
    worker_sse_t *p;

    CHECK_STR(sse_all("data: a\n\n", 0, &rc), "[message|a]");
    CHECK_STR(sse_all("data:a\ndata: b\ndata\n\n", 0, &rc), "[message|a\nb\n]");
    CHECK_STR(sse_all("event: ping\ndata: {}\n\ndata: x\n\n", 0, &rc), "[ping|{}][message|x]");
    CHECK_STR(sse_all(": comment\n:\n\ndata: y\n\n", 0, &rc), "[message|y]");
    CHECK_STR(sse_all("event: lone\n\ndata: z\n\n", 0, &rc), "[message|z]"); /* no data: nothing */
    CHECK_STR(sse_all("data:  two spaces\n\n", 0, &rc), "[message| two spaces]");
    CHECK_STR(sse_all("data: a\r\rdata: b\r\n\r\n", 0, &rc), "[message|a][message|b]");
    CHECK_STR(sse_all("\xEF\xBB\xBF"
                      "data: bom\n\n",
                      0, &rc),
              "[message|bom]");
    CHECK_STR(sse_all("\xEF\xBB"
                      "data: x\n\n",
                      0, &rc),
              ""); /* half a BOM: not "data" */
    CHECK_STR(sse_all("id: 1\nretry: 10\nfoo: bar\ndata: k\n\n", 0, &rc), "[message|k]");
    CHECK_STR(sse_all("data: unterminated\n", 0, &rc), ""); /* no blank line: not dispatched */
    CHECK_STR(sse_all("data: a:b: c\n\n", 0, &rc), "[message|a:b: c]");
    CHECK_INT(rc, WORKER_SSE_OK);
    /* the cap: an event (or a line) over it is an error that sticks */
    sse_all("data: 0123456789\n\n", 8, &rc);
    CHECK_INT(rc, WORKER_SSE_TOO_LARGE);
    sse_all("data: 0123\ndata: 4567\n\n", 8, &rc);
    CHECK_INT(rc, WORKER_SSE_TOO_LARGE);
    sse_all(": a comment line far longer than the cap\n", 8, &rc);
    CHECK_INT(rc, WORKER_SSE_TOO_LARGE);
    /* stopping from the callback */
    p = worker_sse_new(0);
    memset(&v, 0, sizeof(v));
    v.stop_after = 1;
    CHECK_INT(worker_sse_feed(p, "data: 1\n\ndata: 2\n\n", 18, on_sse, &v), WORKER_SSE_STOPPED);
    CHECK_INT(worker_sse_feed(p, "data: 3\n\n", 9, on_sse, &v), WORKER_SSE_STOPPED);
    CHECK_STR(v.log, "[message|1]");
    worker_sse_free(p);
    /* \r at the end of one feed, \n at the start of the next: one line end */
    p = worker_sse_new(0);
    memset(&v, 0, sizeof(v));
    CHECK_INT(worker_sse_feed(p, "data: a\r", 8, on_sse, &v), WORKER_SSE_OK);
    CHECK_INT(worker_sse_feed(p, "\ndata: b\r", 9, on_sse, &v), WORKER_SSE_OK);
    CHECK_INT(worker_sse_feed(p, "\n\r", 2, on_sse, &v), WORKER_SSE_OK);
    CHECK_INT(worker_sse_feed(p, "\n", 1, on_sse, &v), WORKER_SSE_OK);
    CHECK_STR(v.log, "[message|a\nb]");
    worker_sse_free(p);
    worker_sse_free(NULL);
}

/* An event over the 1 MiB cap fails the stream instead of growing without bound. */
static void test_stream_limits(void)
{
    size_t n = 1100 * 1024, i;
    char *big = malloc(n);
    worker_stream_t *s = worker_stream_new(WORKER_WIRE_OPENAI);
    worker_result_t r;
    sink_t k;
    int rc = 0;

    if (!big || !s)
        abort();
    memset(&k, 0, sizeof(k));
    memcpy(big, "data: ", 6);
    memset(big + 6, 'x', n - 6);
    for (i = 0; i < n && !rc; i += 4096)
        rc = worker_stream_feed(s, big + i, n - i < 4096 ? n - i : 4096, on_delta, &k);
    CHECK_INT(rc, 1);
    worker_stream_finish(s, &r);
    CHECK_INT(r.ok, 0);
    CHECK_STR(r.err_code, "bad_provider_response");
    CHECK_INT(r.http_status, 502);
    worker_result_clear(&r);
    /* finish twice gives the same outcome */
    worker_stream_finish(s, &r);
    CHECK_STR(r.err_code, "bad_provider_response");
    worker_result_clear(&r);
    worker_stream_free(s);
    worker_stream_free(NULL);
    CHECK_INT(worker_stream_emitted(NULL), 0);
    free(big);
    free(k.text);
}

static void test_build_misc(void)
{
    lq_message_t m = {"user", "hi", NULL, NULL, NULL};
    lq_chat_request_t req;
    worker_target_t t;
    worker_http_request_t hr;

    memset(&req, 0, sizeof(req));
    req.model = "m";
    req.messages = &m;
    req.n_messages = 1;
    memset(&t, 0, sizeof(t));
    t.wire = (worker_wire_t)9;
    t.base_url = "http://x";
    t.model = "m";
    t.api_key = "";
    CHECK_INT(worker_build_request(&req, &t, 0, &hr), -1);
    CHECK(hr.url == NULL && hr.body == NULL && hr.headers == NULL);
    t.wire = WORKER_WIRE_GEMINI;
    t.model = "tuned/my model";
    CHECK_INT(worker_build_request(&req, &t, 0, &hr), 0);
    CHECK_STR(hr.url, "http://x/models/tuned%2Fmy%20model:generateContent");
    CHECK_INT(hr.n_headers, 1); /* no key: no x-goog-api-key */
    worker_http_request_clear(&hr);
    t.wire = WORKER_WIRE_ANTHROPIC;
    t.base_url = NULL;
    CHECK_INT(worker_build_request(&req, &t, 0, &hr), -1);
    worker_http_request_clear(NULL);

    /* max_completion_tokens in extra_json: it goes alone on the OpenAI wire, and Anthropic
     * takes it as max_tokens when the request has none */
    t.base_url = "http://x";
    t.model = "m";
    t.wire = WORKER_WIRE_OPENAI;
    req.has_max_tokens = 1;
    req.max_tokens = 100;
    req.extra_json = "{\"max_completion_tokens\":500,\"stream\":true}";
    CHECK_INT(worker_build_request(&req, &t, 0, &hr), 0);
    {
        json_t *b = hr.body ? json_loads(hr.body, 0, NULL) : NULL;
        CHECK(b != NULL);
        CHECK(json_object_get(b, "max_tokens") == NULL);
        CHECK_INT(json_integer_value(json_object_get(b, "max_completion_tokens")), 500);
        CHECK(json_object_get(b, "stream") == NULL && json_object_get(b, "stream_options") == NULL);
        json_decref(b);
    }
    CHECK_INT(hr.n_headers, 1); /* an empty key: no Authorization */
    worker_http_request_clear(&hr);
    t.wire = WORKER_WIRE_ANTHROPIC;
    req.has_max_tokens = 0;
    CHECK_INT(worker_build_request(&req, &t, 0, &hr), 0);
    {
        json_t *b = hr.body ? json_loads(hr.body, 0, NULL) : NULL;
        CHECK_INT(json_integer_value(json_object_get(b, "max_tokens")), 500);
        CHECK(json_object_get(b, "max_completion_tokens") == NULL);
        json_decref(b);
    }
    worker_http_request_clear(&hr);
}

int main(int argc, char **argv)
{
    const char *data = data_dir_arg(argc, argv);

    if (!data)
        return 2;
    test_wire_names();
    test_wire_table();
    test_retry_after();
    test_mask();
    test_fail_http();
    test_sse();
    test_stream_limits();
    test_build_misc();
    case_wire = WORKER_WIRE_ANTHROPIC;
    run_cases(data, "anthropic", "Anthropic answer", answer_case);
    case_wire = WORKER_WIRE_GEMINI;
    run_cases(data, "gemini", "Gemini answer", answer_case);
    case_wire = WORKER_WIRE_OPENAI;
    run_cases(data, "openai_compat", "OpenAI-compatible answer", answer_case);
    run_cases(data, "openai", "OpenAI answer (through worker_parse_response)", answer_case);
    run_cases(data, "build", "request building", build_case);
    run_streams(data);
    TEST_DONE();
}

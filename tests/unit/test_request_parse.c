/* ingest_parse_chat, data-driven: every tests/data/requests/NAME.json is a request body and
 * NAME.expect says what the parser must make of it (key=value lines, '#' comments):
 *
 *   status=200 | 400          200: LQ_OK expected; else the error's HTTP status
 *   param=..., code=...       the error's OpenAI param/code ("" when the key is absent)
 *   message_contains=...      a substring of the error message
 *   model=..., n_messages=N, message.I.role/content/content_json/name/extra_json=...,
 *   max_tokens=N, temperature=X, top_p=X, n_stop=N, stop.I=..., user=..., extra_json=...,
 *   stream=0..3 (bit 1 stream, bit 2 include_usage)
 *
 * For a valid request every field is compared: a field the .expect file does not name must
 * be absent (NULL / not set). The file format (escapes, <null>, *_json compared as JSON,
 * unknown keys fail the case) is described in expect.h. The parser runs with the limits {max_messages 8, max_model_len 64, max_depth 128,
 * max_stop 4}. */
#include <stdint.h>

#include <jansson.h>

#include "ingest/request_parse.h"
#include "testutil.h"
#include "expect.h"

/* ---- request-specific expectations ---- */

static void exp_num(expect_t *e, const char *key, int has, double got)
{
    const char *want = exp_get(e, key);
    char gs[64];

    snprintf(gs, sizeof(gs), has ? "%.17g" : "(not set)", got);
    if (!want)
        ck(!has, key, gs, "(not set)");
    else
        ck(has && got == strtod(want, NULL), key, gs, want);
}

/* ---- the cases ---- */

static const ingest_limits_t limits = {8, 64, 4, 128};

static void check_valid(expect_t *e, const lq_chat_request_t *r, int stream)
{
    const char *mt;
    char key[64], gs[32];
    size_t i;

    exp_str(e, "model", r->model);
    exp_int(e, "n_messages", (long long)r->n_messages, -1);
    for (i = 0; i < r->n_messages; i++) {
        const lq_message_t *m = &r->messages[i];
        snprintf(key, sizeof(key), "message.%zu.role", i);
        exp_str(e, key, m->role);
        snprintf(key, sizeof(key), "message.%zu.content", i);
        exp_str(e, key, m->content);
        snprintf(key, sizeof(key), "message.%zu.content_json", i);
        exp_json(e, key, m->content_json);
        snprintf(key, sizeof(key), "message.%zu.name", i);
        exp_str(e, key, m->name);
        snprintf(key, sizeof(key), "message.%zu.extra_json", i);
        exp_json(e, key, m->extra_json);
    }
    mt = exp_get(e, "max_tokens");
    snprintf(gs, sizeof(gs), r->has_max_tokens ? "%d" : "(not set)", (int)r->max_tokens);
    if (mt)
        ck(r->has_max_tokens && r->max_tokens == atoi(mt), "max_tokens", gs, mt);
    else
        ck(!r->has_max_tokens, "max_tokens", gs, "(not set)");
    exp_num(e, "temperature", r->has_temperature, r->temperature);
    exp_num(e, "top_p", r->has_top_p, r->top_p);
    exp_int(e, "n_stop", (long long)r->n_stop, 0);
    for (i = 0; i < r->n_stop; i++) {
        snprintf(key, sizeof(key), "stop.%zu", i);
        exp_str(e, key, r->stop[i]);
    }
    exp_str(e, "user", r->user);
    exp_json(e, "extra_json", r->extra_json);
    exp_int(e, "stream", stream, 0);
    /* the caller's fields stay untouched */
    ck(!r->job_id && !r->tenant_id && !r->project_id && !r->api_key_id && !r->reply_topic,
       "ids left for the caller", "set", "NULL");
    ck(r->created_at_ms == 0 && r->deadline_ms == 0 && r->attempt == 0 && r->mode == 0,
       "times/attempt left for the caller", "set", "0");
}

static void run_case(const char *dir, const char *name)
{
    char path[4096];
    char *body, *exact;
    size_t len = 0;
    expect_t e;
    const char *st;
    lq_chat_request_t r;
    ingest_parse_error_t perr;
    int stream = -1, status;
    lq_err_t err;

    body = case_body(dir, name, &len, path, sizeof(path));
    if (expect_load(&e, path) != 0) {
        ck(0, "expect file readable", path, "");
        free(body);
        return;
    }
    if (!body) {
        expect_free(&e);
        return;
    }
    exact = exact_copy(body, len); /* no terminator: the parser must honour len */
    memset(&perr, 0, sizeof(perr));
    memset(&r, 0x5a, sizeof(r)); /* garbage in: the parser must reset *out itself */
    err = ingest_parse_chat(exact, len, &limits, &r, &stream, &perr);
    st = exp_get(&e, "status");
    ck(st != NULL, "status line present", NULL, "status=...");
    status = st ? atoi(st) : -1;
    if (status == 200) {
        char msg[sizeof(perr.message) + sizeof(perr.param) + sizeof(perr.code) + 64];
        snprintf(msg, sizeof(msg), "error %d: %s (param %s, code %s)", (int)err, perr.message,
                 perr.param, perr.code);
        ck(err == LQ_OK, "parse result", msg, "LQ_OK");
        if (err == LQ_OK) {
            check_valid(&e, &r, stream);
            lq_chat_request_clear(&r);
        }
    } else {
        const char *mc = exp_get(&e, "message_contains");
        const char *want_param = exp_get(&e, "param"), *want_code = exp_get(&e, "code");
        char gs[32], ws[32];

        ck(err == LQ_ERR_INVALID, "parse result", err == LQ_OK ? "LQ_OK" : "another error",
           "LQ_ERR_INVALID");
        if (err == LQ_OK)
            lq_chat_request_clear(&r);
        snprintf(gs, sizeof(gs), "%d", perr.status);
        snprintf(ws, sizeof(ws), "%d", status);
        ck(perr.status == status, "status", gs, ws);
        ck(strcmp(perr.param, want_param ? want_param : "") == 0, "param", perr.param,
           want_param ? want_param : "");
        ck(strcmp(perr.code, want_code ? want_code : "") == 0, "code", perr.code,
           want_code ? want_code : "");
        ck(perr.message[0] != '\0', "message not empty", perr.message, "...");
        if (mc)
            ck(strstr(perr.message, mc) != NULL, "message_contains", perr.message, mc);
        if (err != LQ_OK)
            ck(!r.model && !r.messages && !r.n_messages && !r.stop && !r.extra_json && !r.user,
               "*out holds nothing after an error", "something", "nothing");
    }
    exp_all_used(&e);
    expect_free(&e);

    /* Every strict prefix of a valid body (trailing whitespace aside) is incomplete JSON:
     * refused, never a crash, never a read past len. */
    if (status == 200) {
        size_t cut, end = len;
        int all_refused = 1;
        while (end > 0 && strchr(" \t\r\n", body[end - 1]))
            end--;
        for (cut = 0; cut < end; cut++) {
            char *p = malloc(cut ? cut : 1);
            if (!p)
                abort();
            memcpy(p, body, cut);
            memset(&perr, 0, sizeof(perr));
            err = ingest_parse_chat(p, cut, &limits, &r, &stream, &perr);
            if (err == LQ_OK) {
                lq_chat_request_clear(&r);
                all_refused = 0;
            } else if (perr.status != 400 || strcmp(perr.code, "invalid_json") != 0) {
                all_refused = 0;
            }
            free(p);
        }
        ck(all_refused, "every truncated body refused as invalid_json", "accepted", "refused");
    }
    free(exact);
    free(body);
}

/* The limits come from the caller, not from constants in the parser. */
static void test_limits_are_honoured(void)
{
    static const char body[] = "{\"model\":\"abcdef\",\"messages\":[{\"role\":\"system\","
                               "\"content\":\"a\"},{\"role\":\"user\",\"content\":\"b\"}],"
                               "\"stop\":[\"x\",\"y\"]}";
    ingest_limits_t lim;
    lq_chat_request_t r;
    ingest_parse_error_t perr;
    int stream;

    cur_case = "(limits)";
    lim = (ingest_limits_t){2, 6, 2, 0};
    memset(&perr, 0, sizeof(perr));
    CHECK_INT(ingest_parse_chat(body, strlen(body), &lim, &r, &stream, &perr), LQ_OK);
    CHECK_INT(r.n_messages, 2);
    CHECK_INT(r.n_stop, 2);
    lq_chat_request_clear(&r);

    lim = (ingest_limits_t){1, 64, 4, 0};
    CHECK_INT(ingest_parse_chat(body, strlen(body), &lim, &r, &stream, &perr), LQ_ERR_INVALID);
    CHECK_STR(perr.code, "too_many_messages");
    CHECK(r.messages == NULL && r.model == NULL);

    lim = (ingest_limits_t){8, 5, 4, 0};
    CHECK_INT(ingest_parse_chat(body, strlen(body), &lim, &r, &stream, &perr), LQ_ERR_INVALID);
    CHECK_STR(perr.param, "model");
    CHECK_STR(perr.code, "invalid_value");

    lim = (ingest_limits_t){8, 64, 1, 0};
    CHECK_INT(ingest_parse_chat(body, strlen(body), &lim, &r, &stream, &perr), LQ_ERR_INVALID);
    CHECK_STR(perr.param, "stop");
}

int main(int argc, char **argv)
{
    const char *data = data_dir_arg(argc, argv);

    if (!data)
        return 2;
    run_cases(data, "requests", "request", run_case);
    test_limits_are_honoured();
    TEST_DONE();
}

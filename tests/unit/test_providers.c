/* workers/provider: the mock provider, the OpenAI request body, and the OpenAI response
 * translation — the latter data-driven: every tests/data/openai/NAME.json is a provider's
 * answer body and NAME.expect gives the call's inputs and the expected worker_result_t:
 *
 *   inputs:  status=N (0 = transport failure), retry_after=..., transport_error=...,
 *            timeout=0|1, no_body=1 (pass NULL instead of the file's bytes)
 *   result:  ok, content, finish_reason, extra_json, response_extra_json, provider_model,
 *            prompt_tokens, completion_tokens, err_type, err_code, http_status, retriable,
 *            retry_after_ms, err_message_contains=..., err_message_excludes=...
 *
 * Every result field is compared; a field the .expect file does not name must be NULL/0.
 * <null> means NULL, <any> skips the field; *_json values are compared as JSON; other
 * values may use \n, \t, \r and \\ escapes. A key the test does not know fails the case. */
#include <stdint.h>

#include <jansson.h>

#include "ingest/request_parse.h"
#include "workers/provider_adapter.h"
#include "testutil.h"
#include "expect.h" /* .expect files (same format as tests/data/requests) */

/* ---- worker_openai_parse_response, data-driven ---- */

static void openai_case(const char *dir, const char *name)
{
    exp_answer_case(dir, name, worker_openai_parse_response);
}

/* ---- the mock provider ---- */

static lq_chat_request_t make_req(const char *model, lq_message_t *msgs, size_t n)
{
    lq_chat_request_t r;

    memset(&r, 0, sizeof(r));
    r.model = (char *)model;
    r.messages = msgs;
    r.n_messages = n;
    return r;
}

static int count_words(const char *s)
{
    int n = 0, in = 0;

    for (; *s; s++) {
        if (*s == ' ') {
            in = 0;
        } else if (!in) {
            in = 1;
            n++;
        }
    }
    return n;
}

static int only_words(const char *s)
{
    if (!*s || *s == ' ')
        return 0;
    for (; *s; s++) {
        if (*s == ' ' && (s[1] == ' ' || s[1] == '\0'))
            return 0; /* single spaces between words */
        if (*s != ' ' && (*s < 'a' || *s > 'z'))
            return 0;
    }
    return 1;
}

static int32_t reference_prompt_tokens(const lq_message_t *m, size_t n)
{
    int32_t t = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        size_t b = strlen(m[i].content);
        t += (int32_t)(b / 4 + (b % 4 ? 1 : 0)) + 3;
    }
    return t;
}

static void test_mock(void)
{
    lq_message_t msgs[2] = {{"system", "You are terse.", NULL, NULL, NULL},
                            {"user", "Tell me a joke about queues", NULL, NULL, NULL}};
    lq_chat_request_t req = make_req("mock-model", msgs, 2);
    worker_result_t a, b;
    char *first;

    worker_mock_complete(&req, 12, &a);
    CHECK_INT(a.ok, 1);
    CHECK(a.content != NULL);
    if (!a.content)
        return;
    CHECK_INT(count_words(a.content), 12);
    CHECK(only_words(a.content));
    CHECK_STR(a.finish_reason, "stop");
    CHECK_STR(a.provider_model, "mock-model");
    CHECK_INT(a.completion_tokens, 12);
    CHECK_INT(a.prompt_tokens, reference_prompt_tokens(msgs, 2));
    CHECK_INT(a.prompt_tokens, worker_mock_prompt_tokens(&req));
    CHECK(a.err_type == NULL && a.err_message == NULL && a.http_status == 0);
    /* the same request, the same text */
    worker_mock_complete(&req, 12, &b);
    CHECK_STR(b.content, a.content);
    worker_result_clear(&b);
    first = xstrdup(a.content);
    worker_result_clear(&a);
    CHECK(a.content == NULL && a.finish_reason == NULL && a.ok == 0);

    /* max_tokens below completion_tokens: fewer words, "length" */
    req.has_max_tokens = 1;
    req.max_tokens = 5;
    worker_mock_complete(&req, 12, &a);
    CHECK_INT(a.ok, 1);
    CHECK_INT(count_words(a.content), 5);
    CHECK_INT(a.completion_tokens, 5);
    CHECK_STR(a.finish_reason, "length");
    worker_result_clear(&a);
    /* max_tokens at or above it: no effect */
    req.max_tokens = 12;
    worker_mock_complete(&req, 12, &a);
    CHECK_INT(count_words(a.content), 12);
    CHECK_STR(a.finish_reason, "stop");
    CHECK_STR(a.content, first);
    worker_result_clear(&a);
    req.max_tokens = 1000;
    worker_mock_complete(&req, 12, &a);
    CHECK_INT(a.completion_tokens, 12);
    CHECK_STR(a.finish_reason, "stop");
    worker_result_clear(&a);
    req.has_max_tokens = 0;
    worker_mock_complete(&req, 300, &a); /* a long answer stays well-formed */
    CHECK_INT(count_words(a.content), 300);
    CHECK(only_words(a.content));
    worker_result_clear(&a);

    /* a different prompt, a different text */
    msgs[1].content = "Tell me a joke about stacks";
    worker_mock_complete(&req, 12, &a);
    CHECK(a.content && strcmp(a.content, first) != 0);
    worker_result_clear(&a);
    free(first);

    /* mock-error fails like a provider's 400 */
    req.model = "mock-error";
    memset(&a, 0x5a, sizeof(a));
    worker_mock_complete(&req, 12, &a);
    CHECK_INT(a.ok, 0);
    CHECK(a.content == NULL);
    CHECK_INT(a.http_status, 400);
    CHECK_INT(a.retriable, 0);
    CHECK_STR(a.err_type, "invalid_request_error");
    CHECK_STR(a.err_code, "mock_error");
    CHECK(a.err_message && *a.err_message);
    worker_result_clear(&a);
    worker_result_clear(NULL);
}

/* Distinct prompts must give distinct texts, or a reply delivered to the wrong request
 * would go unnoticed in end-to-end tests: 64 prompts, 12 words each. */
static void test_mock_distinct(void)
{
    enum { N = 64 };
    char prompts[N][48], *texts[N];
    lq_message_t m = {"user", NULL, NULL, NULL, NULL};
    lq_chat_request_t req = make_req("mock", &m, 1);
    worker_result_t r;
    int i, j, same = 0;

    for (i = 0; i < N; i++) {
        snprintf(prompts[i], sizeof(prompts[i]), "request number %d, please answer", i);
        m.content = prompts[i];
        worker_mock_complete(&req, 12, &r);
        texts[i] = xstrdup(r.content ? r.content : "");
        worker_result_clear(&r);
    }
    for (i = 0; i < N; i++)
        for (j = i + 1; j < N; j++)
            if (strcmp(texts[i], texts[j]) == 0)
                same++;
    if (same)
        fprintf(stderr, "mock: %d pairs of distinct prompts got the same text\n", same);
    CHECK_INT(same, 0);
    /* prompts that differ only in letter case */
    m.content = "Hello there";
    worker_mock_complete(&req, 12, &r);
    m.content = "hello there";
    {
        worker_result_t r2;
        worker_mock_complete(&req, 12, &r2);
        CHECK(r.content && r2.content && strcmp(r.content, r2.content) != 0);
        worker_result_clear(&r2);
    }
    worker_result_clear(&r);
    for (i = 0; i < N; i++)
        free(texts[i]);
}

static void test_mock_prompt_tokens(void)
{
    lq_message_t m[5] = {{"system", "hello", NULL, NULL, NULL},   /* 5 bytes: 2 + 3 */
                         {"user", "", NULL, NULL, NULL},          /* 0: 0 + 3 */
                         {"user", "abcd", NULL, NULL, NULL},      /* 4: 1 + 3 */
                         {"user", "abcdefghi", NULL, NULL, NULL}, /* 9: 3 + 3 */
                         {"user", "日本", NULL, NULL, NULL}};     /* 6 bytes: 2 + 3 */
    lq_chat_request_t req = make_req("mock", m, 5);

    CHECK_INT(worker_mock_prompt_tokens(&req), 5 + 3 + 4 + 6 + 5);
    CHECK_INT(worker_mock_prompt_tokens(&req), reference_prompt_tokens(m, 5));
    req.n_messages = 1;
    CHECK_INT(worker_mock_prompt_tokens(&req), 5);
    req.n_messages = 0;
    CHECK_INT(worker_mock_prompt_tokens(&req), 0);
}

static void test_result_fail(void)
{
    worker_result_t r;
    char type[16] = "some_type", code[16] = "some_code", msg[32] = "some message";

    memset(&r, 0, sizeof(r));
    worker_result_fail(&r, type, code, msg, 503, 1);
    type[0] = code[0] = msg[0] = 'X'; /* the strings were copied */
    CHECK_INT(r.ok, 0);
    CHECK_STR(r.err_type, "some_type");
    CHECK_STR(r.err_code, "some_code");
    CHECK_STR(r.err_message, "some message");
    CHECK_INT(r.http_status, 503);
    CHECK_INT(r.retriable, 1);
    worker_result_fail(&r, "t2", NULL, "m2", 400, 0); /* replaces, no leak */
    CHECK_STR(r.err_type, "t2");
    CHECK(r.err_code == NULL);
    CHECK_STR(r.err_message, "m2");
    CHECK_INT(r.retriable, 0);
    worker_result_clear(&r);
}

/* ---- worker_openai_request_body ---- */

static json_t *load(const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;

    CHECK(j != NULL);
    return j;
}

static int json_eq_text(json_t *got, const char *want_text)
{
    json_t *w = json_loads(want_text, JSON_DECODE_ANY, NULL);
    int eq = got && w && json_equal(got, w);

    json_decref(w);
    return eq;
}

static void test_request_body(void)
{
    static const char parts[] = "[{\"type\":\"text\",\"text\":\"What is this?\"},{\"type\":"
                                "\"image_url\",\"image_url\":{\"url\":\"https://e.com/cat.png\"}}]";
    static const char calls[] = "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":"
                                "\"f\",\"arguments\":\"{}\"}}]";
    char asst_extra[256];
    lq_message_t msgs[5] = {{"system", "Be brief.", NULL, NULL, NULL},
                            {"user", "What is this?", (char *)parts, "ann", NULL},
                            {"assistant", "", NULL, NULL, asst_extra},
                            {"tool", "42", NULL, NULL, "{\"tool_call_id\":\"c1\"}"},
                            {"user", "plain", "not json", NULL, "[1,2]"}};
    char *stop[2] = {"END", "\n\n"};
    lq_chat_request_t req = make_req("gpt-4o-mini", msgs, 5);
    char *body;
    json_t *root, *m, *v;

    snprintf(asst_extra, sizeof(asst_extra),
             "{\"tool_calls\":%s,\"role\":\"hacker\",\"content\":\"override\"}", calls);
    req.has_max_tokens = 1;
    req.max_tokens = 50;
    req.has_temperature = 1;
    req.temperature = 0.25;
    req.has_top_p = 1;
    req.top_p = 0.5;
    req.stop = stop;
    req.n_stop = 2;
    req.user = "end-user-1";
    req.extra_json = "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
                     "\"response_format\":{\"type\":\"json_object\"},\"seed\":7,"
                     "\"model\":\"evil\",\"messages\":[],\"max_tokens\":1,"
                     "\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
    req.job_id = "0190a5f0-0000-7000-8000-000000000001"; /* llmq's own fields stay out */
    req.tenant_id = "acme";
    body = worker_openai_request_body(&req);
    root = load(body);
    free(body);
    if (!root)
        return;
    CHECK_STR(json_string_value(json_object_get(root, "model")), "gpt-4o-mini");
    CHECK_INT(json_array_size(json_object_get(root, "messages")), 5);
    m = json_array_get(json_object_get(root, "messages"), 0);
    CHECK_STR(json_string_value(json_object_get(m, "role")), "system");
    CHECK_STR(json_string_value(json_object_get(m, "content")), "Be brief.");
    CHECK_INT(json_object_size(m), 2);
    m = json_array_get(json_object_get(root, "messages"), 1);
    CHECK_STR(json_string_value(json_object_get(m, "role")), "user");
    CHECK(json_is_array(json_object_get(m, "content"))); /* content_json, expanded */
    CHECK(json_eq_text(json_object_get(m, "content"), parts));
    CHECK_STR(json_string_value(json_object_get(m, "name")), "ann");
    m = json_array_get(json_object_get(root, "messages"), 2);
    CHECK_STR(json_string_value(json_object_get(m, "role")), "assistant"); /* not "hacker" */
    CHECK(json_is_null(
        json_object_get(m, "content"))); /* a tools-only assistant turn: null, as OpenAI sends it */
    CHECK(json_eq_text(json_object_get(m, "tool_calls"), calls));
    m = json_array_get(json_object_get(root, "messages"), 3);
    CHECK_STR(json_string_value(json_object_get(m, "role")), "tool");
    CHECK_STR(json_string_value(json_object_get(m, "content")), "42");
    CHECK_STR(json_string_value(json_object_get(m, "tool_call_id")), "c1");
    m = json_array_get(json_object_get(root, "messages"), 4);
    /* unparsable content_json: the text content; a non-object extra_json: ignored */
    CHECK_STR(json_string_value(json_object_get(m, "content")), "plain");
    CHECK_INT(json_object_size(m), 2);

    v = json_object_get(root, "max_tokens");
    CHECK(json_is_integer(v) && json_integer_value(v) == 50);
    v = json_object_get(root, "temperature");
    CHECK(json_is_number(v) && json_number_value(v) == 0.25);
    v = json_object_get(root, "top_p");
    CHECK(json_is_number(v) && json_number_value(v) == 0.5);
    CHECK(json_eq_text(json_object_get(root, "stop"), "[\"END\",\"\\n\\n\"]"));
    CHECK_STR(json_string_value(json_object_get(root, "user")), "end-user-1");
    /* extra fields merged in, without overriding the modelled ones */
    CHECK(json_eq_text(json_object_get(root, "tools"),
                       "[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]"));
    CHECK(json_eq_text(json_object_get(root, "response_format"), "{\"type\":\"json_object\"}"));
    CHECK(json_eq_text(json_object_get(root, "seed"), "7"));
    /* never a streamed answer from this adapter */
    CHECK(json_object_get(root, "stream") == NULL);
    CHECK(json_object_get(root, "stream_options") == NULL);
    CHECK(json_object_get(root, "job_id") == NULL && json_object_get(root, "tenant_id") == NULL);
    CHECK_INT(json_object_size(root), 10);
    json_decref(root);

    /* a minimal request: only model and messages */
    {
        lq_message_t one = {"user", "hi", NULL, NULL, NULL};
        lq_chat_request_t r = make_req("m", &one, 1);
        r.extra_json = "{\"stream\":false}";
        body = worker_openai_request_body(&r);
        root = load(body);
        free(body);
        CHECK(json_eq_text(root, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                                 "\"content\":\"hi\"}]}"));
        json_decref(root);
    }
}

/* What a client sent reaches the provider unchanged (except "stream"): ingest's parse and
 * the adapter's body are inverses for the fields both model. */
static void test_request_roundtrip(void)
{
    static const char client[] =
        "{\"model\":\"gpt-4o\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"s\"},"
        "{\"role\":\"user\",\"name\":\"bob\",\"content\":[{\"type\":\"text\",\"text\":\"what\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://e.com/"
        "x.png\",\"detail\":\"low\"}}]},"
        "{\"role\":\"assistant\",\"content\":\"calling\",\"tool_calls\":[{\"id\":\"c1\",\"type\":"
        "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"{\\\"t\\\":1}\"}],"
        "\"max_tokens\":64,\"temperature\":0.5,\"top_p\":0.75,\"stop\":[\"x\",\"y\"],"
        "\"user\":\"u\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
        "\"tool_choice\":\"auto\",\"response_format\":{\"type\":\"text\"},\"seed\":1,"
        "\"stream\":true}";
    ingest_limits_t lim = {16, 64, 4, 64};
    lq_chat_request_t req;
    ingest_parse_error_t perr;
    int stream = 0;
    char *body;
    json_t *want, *got;

    CHECK_INT(ingest_parse_chat(client, strlen(client), &lim, &req, &stream, &perr), LQ_OK);
    CHECK_INT(stream, 1);
    body = worker_openai_request_body(&req);
    lq_chat_request_clear(&req);
    got = load(body);
    want = load(client);
    json_object_del(want, "stream");
    CHECK(got && want && json_equal(got, want));
    if (got && want && !json_equal(got, want))
        fprintf(stderr, "round trip:\n  sent %s\n  got  %s\n", client, body);
    free(body);
    json_decref(got);
    json_decref(want);
}

int main(int argc, char **argv)
{
    const char *data = data_dir_arg(argc, argv);

    if (!data)
        return 2;
    test_mock();
    test_mock_distinct();
    test_mock_prompt_tokens();
    test_result_fail();
    test_request_body();
    test_request_roundtrip();
    run_cases(data, "openai", "OpenAI response", openai_case);
    TEST_DONE();
}

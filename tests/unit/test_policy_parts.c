/* ingest/policy: a message's text parts are checked as the model reads them, joined in
 * order: a key split across parts (at any byte, across three parts, around an image part)
 * blocks; in redact mode it is masked in every part it touches, the JSON stays valid and
 * the parts joined again hold nothing to find. A request without secrets is unchanged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/secret_scan.h"
#include "ingest/policy.h"
#include "ingest/request_parse.h"
#include "testutil.h"

#define KEY "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz012345"

/* Parse a request whose one user message has these content parts (a JSON array). */
static int parse(const char *parts, lq_chat_request_t *r)
{
    char body[4096];
    ingest_limits_t lim = {16, 64, 4, 0};
    ingest_parse_error_t perr;
    int stream;

    snprintf(body, sizeof(body),
             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":%s}]}", parts);
    memset(r, 0, sizeof(*r));
    return ingest_parse_chat(body, strlen(body), &lim, r, &stream, &perr) == LQ_OK;
}

/* Apply the policy to a request with these parts; the verdict, and the parts' texts joined
 * with nothing between them into joined (NULL when the JSON is not valid). */
static void apply(const char *policy, const char *parts, policy_verdict_t *v, char *joined,
                  size_t cap, char *content, size_t ccap)
{
    ingest_policy_t pol;
    lq_chat_request_t r;
    json_error_t jerr;
    json_t *j, *part;
    size_t i;

    joined[0] = content[0] = '\0';
    CHECK(parse(parts, &r));
    ingest_policy_parse(policy, &pol);
    ingest_policy_apply(&pol, &r, v);
    j = json_loads(r.messages[0].content_json, 0, &jerr);
    CHECK(json_is_array(j));
    json_array_foreach(j, i, part)
    {
        const char *t = json_string_value(json_object_get(part, "text"));
        if (t)
            strncat(joined, t, cap - strlen(joined) - 1);
    }
    snprintf(content, ccap, "%s", r.messages[0].content);
    json_decref(j);
    lq_chat_request_clear(&r);
}

static void test_split_everywhere(void)
{
    const char *text = "my key is " KEY " ok";
    size_t cut, n = strlen(text);
    char parts[1024], joined[512], content[512], masked[512];
    policy_verdict_t v;
    lq_secret_finding_t f[4];

    snprintf(masked, sizeof(masked), "%s", text);
    lq_secret_redact(masked);
    for (cut = 1; cut < n; cut++) {
        snprintf(parts, sizeof(parts),
                 "[{\"type\":\"text\",\"text\":\"%.*s\"},{\"type\":\"text\",\"text\":\"%s\"}]",
                 (int)cut, text, text + cut);
        apply(NULL, parts, &v, joined, sizeof(joined), content, sizeof(content));
        CHECK_INT(v.blocked, 1);
        CHECK_STR(v.param, "messages[0]");
        CHECK_STR(v.what, "openai_key");
        /* redact: masked in every part it touches, like the whole secret */
        apply("{\"secrets\":\"redact\"}", parts, &v, joined, sizeof(joined), content,
              sizeof(content));
        CHECK_INT(v.blocked, 0);
        CHECK(v.redacted >= 1);
        CHECK_STR(joined, masked);
        CHECK_INT((int)lq_secret_scan(joined, strlen(joined), f, 4), 0);
        CHECK(strstr(content, "AbCdEfGh") == NULL); /* content (joined by '\n') too */
        CHECK_INT((int)strlen(content), (int)n + 1);
        if (v.blocked || strcmp(joined, masked) != 0)
            fprintf(stderr, "cut at %zu\n", cut);
    }
}

static void test_three_parts_and_images(void)
{
    char joined[512], content[512];
    policy_verdict_t v;
    lq_secret_finding_t f[4];

    apply(NULL,
          "[{\"type\":\"text\",\"text\":\"key "
          "sk-pr\"},{\"type\":\"text\",\"text\":\"oj-AbCdEfGhIj\"},"
          "{\"type\":\"text\",\"text\":\"KlMnOpQrStUvWxYz012345\"}]",
          &v, joined, sizeof(joined), content, sizeof(content));
    CHECK_INT(v.blocked, 1);
    /* an image part between two text parts: the model still reads the texts in order */
    apply(
        NULL,
        "[{\"type\":\"text\",\"text\":\"sk-proj-AbCdEfGh\"},{\"type\":\"image_url\",\"image_url\":"
        "{\"url\":\"https://x/y.png\"}},{\"type\":\"text\",\"text\":\"IjKlMnOpQrStUvWxYz012345\"}]",
        &v, joined, sizeof(joined), content, sizeof(content));
    CHECK_INT(v.blocked, 1);
    apply("{\"secrets\":\"redact\"}",
          "[{\"type\":\"text\",\"text\":\"line one\\nsk-proj-AbCd\"},{\"type\":\"image_url\","
          "\"image_url\":{\"url\":\"https://x/y.png\"}},{\"type\":\"text\",\"text\":\"EfGh\"},"
          "{\"type\":\"text\",\"text\":\"IjKlMnOpQrStUvWxYz012345\\nbye\"}]",
          &v, joined, sizeof(joined), content, sizeof(content));
    CHECK_INT(v.blocked, 0);
    CHECK_STR(joined, "line one\nsk-p**********************************45\nbye");
    CHECK_INT((int)lq_secret_scan(joined, strlen(joined), f, 4), 0);
    CHECK_STR(content, "line one\nsk-p********\n****\n**********************45\nbye");
    /* a blocked keyword split across parts blocks too */
    apply("{\"blocked_keywords\":[\"Project Bluebird\"]}",
          "[{\"type\":\"text\",\"text\":\"status of project blue\"},{\"type\":\"text\",\"text\":"
          "\"bird?\"}]",
          &v, joined, sizeof(joined), content, sizeof(content));
    CHECK_INT(v.blocked, 1);
    CHECK_STR(v.policy, "blocked_keyword");
}

/* Nothing to find: the parts stay byte for byte (also when decoded: a part with a newline) */
static void test_clean_unchanged(void)
{
    static const char *const cases[] = {
        "[{\"type\":\"text\",\"text\":\"the skeleton\"},{\"type\":\"text\",\"text\":\"key plan\"}]",
        "[{\"type\":\"text\",\"text\":\"a\\nb sk-\"},{\"type\":\"text\",\"text\":\" short\"}]",
        "[{\"type\":\"text\",\"text\":\"x\"},{\"type\":\"image_url\",\"image_url\":{\"url\":"
        "\"https://x/y.png\"}},{\"type\":\"text\",\"text\":\"y\"}]"};
    ingest_policy_t pol;
    lq_chat_request_t r;
    policy_verdict_t v;
    size_t i;

    ingest_policy_parse("{\"secrets\":\"redact\"}", &pol);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *before, *content;
        CHECK(parse(cases[i], &r));
        before = strdup(r.messages[0].content_json);
        content = strdup(r.messages[0].content);
        ingest_policy_apply(&pol, &r, &v);
        CHECK_INT(v.blocked, 0);
        CHECK_INT(v.redacted, 0);
        CHECK_STR(r.messages[0].content_json, before);
        CHECK_STR(r.messages[0].content, content);
        free(before);
        free(content);
        lq_chat_request_clear(&r);
    }
}

int main(void)
{
    test_split_everywhere();
    test_three_parts_and_images();
    test_clean_unchanged();
    TEST_DONE();
}

/* common/secret_scan: every credential shape found (and nothing in look-alikes), masking
 * keeps length and edges, keywords as whole words. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/secret_scan.h"
#include "ingest/policy.h"
#include "testutil.h"

typedef struct scase {
    const char *text;
    const char *kinds; /* the findings' kinds, comma-separated, "" for none */
    const char *masked;
} scase_t;

static const scase_t cases[] = {
    {"my key is sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz012345 ok", "openai_key",
     "my key is sk-p**********************************45 ok"},
    {"sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123", "anthropic_key",
     "sk-a*************************************23"},
    {"aws: AKIAIOSFODNN7EXAMPLE", "aws_access_key", "aws: AKIA**************LE"},
    {"AKIAIOSFODNN7EXAMPL", "", NULL},   /* 15 after the prefix: too short */
    {"XAKIAIOSFODNN7EXAMPLE", "", NULL}, /* inside a word */
    {"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", "aws_secret_key", NULL},
    {"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_key", NULL},
    {"token ghp_0123456789abcdefghijABCDEFGHIJ0123456789", "github_token", NULL},
    {"github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github_token", NULL},
    {"glpat-abcdefghij0123456789", "gitlab_token", NULL},
    {"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAIBAA\n-----END RSA PRIVATE KEY-----\nafter",
     "private_key", NULL},
    {"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA", "private_key", NULL},
    {"-----BEGIN PUBLIC KEY-----\nMIIBIjANBg\n-----END PUBLIC KEY-----", "", NULL},
    {"slack xoxb-123456789012-abcdefghij", "slack_token", NULL},
    {"AIzaSyA-abcdefghijklmnopqrstuvwxyz012345", "google_api_key", NULL},
    {"sk_live_abcdefghijklmnopqrstuvwx and rk_live_abcdefghijklmnopqrstuvwx",
     "stripe_key,stripe_key", NULL},
    {"llmq-0123456789abcdef0123456789abcdef0123456789abcdef", "llmq_key", NULL},
    {"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "jwt", NULL},
    {"two: sk-aaaaaaaaaaaaaaaaaaaaaaaa, AKIAABCDEFGHIJKLMNOP.", "openai_key,aws_access_key", NULL},
    /* look-alikes */
    {"the task-force-alpha-bravo-charlie-delta met", "", NULL},
    {"risk-assessment-of-the-whole-programme", "", NULL},
    {"sk-short", "", NULL},
    {"uuid 01a201d2-158f-771f-868f-884037abdccb and sha256 "
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "", NULL},
    {"", "", NULL},
};

static void test_cases(void)
{
    size_t i, k;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const scase_t *c = &cases[i];
        lq_secret_finding_t f[8];
        size_t n = lq_secret_scan(c->text, strlen(c->text), f, 8);
        char kinds[256] = "", *copy;
        for (k = 0; k < n && k < 8; k++) {
            strcat(kinds, k ? "," : "");
            strcat(kinds, lq_secret_kind_name(f[k].kind));
            CHECK(f[k].start + f[k].len <= strlen(c->text));
        }
        if (strcmp(kinds, c->kinds) != 0)
            fprintf(stderr, "case %zu: %s\n", i, c->text);
        CHECK_STR(kinds, c->kinds);
        copy = strdup(c->text);
        CHECK_INT((int)lq_secret_redact(copy), (int)n);
        CHECK_INT((int)strlen(copy), (int)strlen(c->text));
        if (c->masked)
            CHECK_STR(copy, c->masked);
        /* masked text holds no secret any more */
        CHECK_INT((int)lq_secret_scan(copy, strlen(copy), f, 8), 0);
        free(copy);
    }
}

static void test_many_and_names(void)
{
    char text[4096] = "";
    lq_secret_finding_t f[4];
    int i;

    for (i = 0; i < 40; i++)
        strcat(text, "x sk-aaaaaaaaaaaaaaaaaaaaaaaaaa ");
    CHECK_INT((int)lq_secret_scan(text, strlen(text), f, 4), 40); /* counts past max */
    CHECK_INT((int)lq_secret_redact(text), 40);
    CHECK_INT((int)lq_secret_scan(text, strlen(text), f, 4), 0);
    for (i = 0; i < LQ_SECRET_KIND_COUNT; i++)
        CHECK_INT(lq_secret_kind_parse(lq_secret_kind_name((lq_secret_kind_t)i)), i);
    CHECK_INT(lq_secret_kind_parse("nope"), -1);
    CHECK_INT(lq_secret_severity(LQ_SECRET_JWT), LQ_SEVERITY_MEDIUM);
    CHECK_INT(lq_secret_severity(LQ_SECRET_PRIVATE_KEY), LQ_SEVERITY_HIGH);
}

/* What a sweep's visitor saw (it leaves every finding). */
typedef struct seen {
    lq_secret_finding_t f[200];
    size_t n;
} seen_t;

static lq_sweep_action_t keep_all(void *arg, const lq_secret_finding_t *f)
{
    seen_t *s = arg;

    if (s->n < 200)
        s->f[s->n++] = *f;
    return LQ_SWEEP_KEEP;
}

/* A sweep, one finding at a time from the end of the last, finds what one whole scan finds
 * (and masks nothing when told to keep). */
static void test_sweep_finds_what_a_scan_finds(void)
{
    char text[8192] = "", before[8192];
    lq_secret_finding_t whole[200];
    static seen_t seen;
    size_t n, i;

    for (i = 0; i < 60; i++)
        strcat(text, i % 3 ? "x sk-aaaaaaaaaaaaaaaaaaaaaaaaaa "
                           : "AKIAABCDEFGHIJKLMNOPsk-bbbbbbbbbbbbbbbbbbbbbbb ");
    strcpy(before, text);
    n = lq_secret_scan(text, strlen(text), whole, 200);
    CHECK_INT((int)n, 60);
    CHECK_INT((int)lq_secret_sweep(text, strlen(text), 0, keep_all, &seen), 0);
    CHECK_INT((int)seen.n, 60);
    for (i = 0; i < n && i < seen.n; i++)
        CHECK(seen.f[i].start == whole[i].start && seen.f[i].len == whole[i].len);
    CHECK_STR(text, before);
}

enum { SCAN, REDACT, POLICY };

/* CPU seconds of scanning, redacting or the redacting policy over 1 MiB of unit repeated;
 * *masked: how many the redaction masked. */
static double seconds_for(const char *unit, int how, int *masked)
{
    size_t n = (size_t)1 << 20, u = strlen(unit), i;
    char *t = malloc(n + 1);
    lq_secret_finding_t f[4];
    lq_message_t msg = {"user", NULL, NULL, NULL, NULL};
    lq_chat_request_t req;
    ingest_policy_t pol;
    policy_verdict_t v;
    clock_t start;

    if (!t)
        return 1e9;
    for (i = 0; i < n; i++)
        t[i] = unit[i % u];
    t[n] = '\0';
    memset(&req, 0, sizeof(req));
    msg.content = t;
    req.messages = &msg;
    req.n_messages = 1;
    ingest_policy_parse("{\"secrets\":\"redact\"}", &pol);
    *masked = 0;
    start = clock();
    if (how == REDACT) {
        *masked = (int)lq_secret_redact(t);
    } else if (how == POLICY) {
        ingest_policy_apply(&pol, &req, &v);
        *masked = v.redacted;
    } else {
        lq_secret_scan(t, n, f, 4);
    }
    free(msg.content);
    return (double)(clock() - start) / CLOCKS_PER_SEC;
}

/* Hostile shapes take linear time: a candidate inside a failed JWT's first part is not
 * tried again ("eyJ-" repeated took a minute per MiB), and masking sweeps the text in one
 * pass instead of scanning from the start again for each batch or each exposed neighbour
 * (lq_secret_sweep). A linear scan of 1 MiB takes milliseconds, tens under sanitizers. */
static void test_linear_time(void)
{
    int masked;

    CHECK(seconds_for("eyJ-", SCAN, &masked) < 1.0);
    CHECK(seconds_for("eyJaaaaaaaaaa.eyJ-", SCAN, &masked) < 1.0);
    CHECK(seconds_for("eyJaaaaaaaaaa.eyJaaaaaaaaaa.x.", SCAN, &masked) < 1.0);
    CHECK(seconds_for("eyJ-", REDACT, &masked) < 1.0);
    CHECK(seconds_for("sk-aaaaaaaaaaaaaaaaaaaa ", REDACT, &masked) < 1.0);
    CHECK_INT(masked, 43690); /* every whole key of the MiB (the cut-off last one is short) */
    CHECK(seconds_for("sk-aaaaaaaaaaaaaaaaaaaa ", POLICY, &masked) < 1.0);
    CHECK_INT(masked, 43690);
    /* a chain: each key ends with the next one's first two bytes, so one scan finds only
     * the first, and masking each exposes the next (a sweep each took 40 s a MiB) */
    CHECK(seconds_for("sk_live_AAAAAAAAAAAAAAAAAAsk", REDACT, &masked) < 1.0);
    CHECK_INT(masked, 37449);
    CHECK(seconds_for("sk_live_AAAAAAAAAAAAAAAAAAsk", POLICY, &masked) < 1.0);
    CHECK_INT(masked, 37449);
}

static void test_words(void)
{
    const char *t = "Project Bluebird launches; bluebirds sing.";

    CHECK(lq_contains_word(t, strlen(t), "bluebird"));
    CHECK(lq_contains_word(t, strlen(t), "SING"));
    CHECK(!lq_contains_word(t, strlen(t), "blue"));
    CHECK(!lq_contains_word(t, strlen(t), "ings"));
    CHECK(!lq_contains_word(t, strlen(t), ""));
}

/* The policy checks decoded strings of content parts and tool calls, and keeps their JSON
 * valid when it masks (a secret after a newline, a PEM block before an image part). */
static void test_policy_json(void)
{
    ingest_policy_t pol;
    policy_verdict_t v;
    lq_message_t m = {"user", NULL, NULL, NULL, NULL};
    lq_chat_request_t req;
    char content[] =
        "my token:\neyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_X";
    const char *parts = "[{\"type\":\"text\",\"text\":\"my "
                        "token:\\neyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
                        "dozjgNryP4J3jVmNHl0w5N_X\"},{\"type\":\"text\",\"text\":\"-----BEGIN RSA "
                        "PRIVATE KEY-----\\nMIIE\"},"
                        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/y.png\"}}]";
    json_error_t jerr;
    json_t *j;

    memset(&req, 0, sizeof(req));
    m.content = content;
    m.content_json = strdup(parts);
    m.extra_json =
        strdup("{\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":"
               "{\"name\":\"f\",\"arguments\":\"{\\\"k\\\":\\\"AKIAIOSFODNN7EXAMPLE\\\"}\"}}]}");
    req.messages = &m;
    req.n_messages = 1;
    ingest_policy_parse("{\"secrets\":\"redact\"}", &pol);
    ingest_policy_apply(&pol, &req, &v);
    CHECK_INT(v.blocked, 0);
    CHECK(v.redacted >= 4);
    CHECK(strstr(m.content_json, "eyJzdWIi") == NULL); /* masked inside the part too */
    CHECK(strstr(m.extra_json, "AKIAIOSFODNN7EXAMPLE") == NULL);
    j = json_loads(m.content_json, 0, &jerr); /* still JSON, image kept */
    CHECK(json_is_array(j) && json_array_size(j) == 3);
    CHECK_STR(json_string_value(
                  json_object_get(json_object_get(json_array_get(j, 2), "image_url"), "url")),
              "https://x/y.png");
    json_decref(j);
    j = json_loads(m.extra_json, 0, &jerr);
    CHECK(j != NULL);
    json_decref(j);
    free(m.content_json);
    free(m.extra_json);
    /* default policy: a key inside a tool call's arguments blocks */
    m.content = strdup("fine");
    m.content_json = NULL;
    m.extra_json = strdup(
        "{\"tool_calls\":[{\"function\":{\"arguments\":\"sk-proj-abcdefghijklmnopqrstuvwxyz\"}}]}");
    ingest_policy_parse(NULL, &pol);
    ingest_policy_apply(&pol, &req, &v);
    CHECK_INT(v.blocked, 1);
    CHECK_STR(v.what, "openai_key");
    free(m.content);
    free(m.extra_json);
}

int main(void)
{
    test_policy_json();
    test_cases();
    test_many_and_names();
    test_sweep_finds_what_a_scan_finds();
    test_linear_time();
    test_words();
    TEST_DONE();
}

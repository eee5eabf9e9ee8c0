/* workers/routing, workers/breaker, workers/pricing: routing decisions from a table,
 * the circuit breaker's state machine (time passed in), and costs from the price table. */
#include <stdint.h>
#include <stdlib.h>

#include "common/config.h"
#include "workers/breaker.h"
#include "workers/host_slots.h"
#include "workers/pricing.h"
#include "workers/routing.h"
#include "workers/worker_config.h"
#include "testutil.h"

static const char *const table =
    "{\"endpoints\": {"
    "  \"openai\": {\"wire\": \"openai\", \"base_url\": \"https://o.example/v1/\", \"api_key\": "
    "\"k1\"},"
    "  \"anthropic\": {\"wire\": \"anthropic\", \"base_url\": \"https://a.example/v1\","
    "                \"api_key_env\": [\"LLMQ_TEST_KEY_A\", \"LLMQ_TEST_KEY_B\", "
    "\"LLMQ_TEST_UNSET\"]},"
    "  \"gemini\": {\"wire\": \"gemini\", \"base_url\": \"https://g.example/v1beta\"},"
    "  \"router\": {\"base_url\": \"https://r.example/api/v1\", \"headers\": {\"X-Title\": "
    "\"llmq\"}}},"
    " \"slash_models\": \"router\", \"default_endpoint\": \"openai\","
    " \"aliases\": {\"smart\": [\"anthropic:claude-sonnet-4-5\", \"openai:gpt-4o\"], \"nested\": "
    "\"smart\","
    "   \"pool\": {\"targets\": [\"openai:gpt-4o\", \"router:openai/gpt-4o\", \"gemini:g\"], "
    "\"spread\": true}},"
    " \"rules\": ["
    "   {\"name\": \"web\", \"if\": {\"words\": [\"search\", \"Latest\"]}, \"then\": "
    "[\"gemini:gemini-2.5-pro\", \"$model\"]},"
    "   {\"name\": \"json\", \"if\": {\"json\": true}, \"then\": \"smart\"},"
    "   {\"name\": \"code\", \"if\": {\"code\": true, \"models\": [\"gpt-4o\"]}, \"then\": "
    "[\"openai:gpt-4.1\"]},"
    "   {\"name\": \"long\", \"if\": {\"min_messages\": 3}, \"then\": "
    "[\"gemini:gemini-2.5-flash\"]}],"
    " \"tenants\": {\"acme\": {\"rules\": [{\"name\": \"acme-all\", \"then\": "
    "[\"anthropic:claude-haiku-4-5\"]}]}},"
    " \"projects\": {\"p1\": {\"rules\": [{\"name\": \"p1-json\", \"if\": {\"json\": true}, "
    "\"then\": [\"router:x/y\"]}]}}"
    "}";

static lq_chat_request_t req_of(const char *model, lq_message_t *m, size_t n, const char *tenant,
                                const char *project, const char *extra)
{
    lq_chat_request_t r;

    memset(&r, 0, sizeof(r));
    r.model = (char *)model;
    r.messages = m;
    r.n_messages = n;
    r.tenant_id = (char *)tenant;
    r.project_id = (char *)project;
    r.extra_json = (char *)extra;
    return r;
}

static void expect_route(routing_t *rt, lq_chat_request_t *r, const char *want)
{
    route_decision_t d;
    char buf[512];

    CHECK_INT(routing_decide(rt, r, 0, &d), 0);
    routing_describe(rt, &d, buf, sizeof(buf));
    CHECK_STR(buf, want);
}

static void test_routing(const worker_settings_t *cfg)
{
    char err[300];
    routing_t *rt;
    lq_message_t plain[1] = {{"user", "hello there", NULL, NULL, NULL}};
    lq_message_t web[1] = {{"user", "what is the LATEST on this?", NULL, NULL, NULL}};
    lq_message_t websub[1] = {{"user", "researching a topic", NULL, NULL, NULL}};
    lq_message_t code[1] = {{"user", "fix this:\n```\nint x;\n```", NULL, NULL, NULL}};
    lq_message_t longc[3] = {{"user", "a", NULL, NULL, NULL},
                             {"assistant", "b", NULL, NULL, NULL},
                             {"user", "c", NULL, NULL, NULL}};
    lq_chat_request_t r;
    route_decision_t d;
    const route_endpoint_t *e;

    setenv("LLMQ_TEST_KEY_A", "ka", 1);
    setenv("LLMQ_TEST_KEY_B", "kb", 1);
    unsetenv("LLMQ_TEST_UNSET");
    rt = routing_load(table, cfg, err, sizeof(err));
    CHECK(rt != NULL);
    if (!rt) {
        fprintf(stderr, "routing_load: %s\n", err);
        return;
    }
    CHECK_INT((int)routing_endpoint_count(rt), 5); /* + the built-in mock */
    e = routing_endpoint(rt, routing_find_endpoint(rt, "openai"));
    CHECK_STR(e->base_url, "https://o.example/v1"); /* trailing slash dropped */
    e = routing_endpoint(rt, routing_find_endpoint(rt, "anthropic"));
    CHECK_INT((int)e->n_keys, 2); /* the unset variable is skipped */
    CHECK_INT(e->wire, WORKER_WIRE_ANTHROPIC);
    e = routing_endpoint(rt, routing_find_endpoint(rt, "router"));
    CHECK_INT(e->wire, WORKER_WIRE_OPENAI); /* the default wire */
    CHECK_STR(e->headers[0], "X-Title: llmq");

    r = req_of("gpt-4o-mini", plain, 1, "t", NULL, NULL);
    expect_route(rt, &r, "rule default (global): openai:gpt-4o-mini");
    r = req_of("claude-3-5-haiku-latest", plain, 1, "t", NULL, NULL);
    expect_route(rt, &r, "rule default (global): anthropic:claude-3-5-haiku-latest");
    r = req_of("meta-llama/llama-3-8b", plain, 1, "t", NULL, NULL);
    expect_route(rt, &r, "rule default (global): router:meta-llama/llama-3-8b");
    r = req_of("gemini:gemini-2.0-flash", plain, 1, "t", NULL, NULL); /* explicit endpoint */
    expect_route(rt, &r, "rule default (global): gemini:gemini-2.0-flash");
    r = req_of("llama3:8b", plain, 1, "t", NULL, NULL); /* ':' but no such endpoint */
    expect_route(rt, &r, "rule default (global): openai:llama3:8b");
    r = req_of("nested", plain, 1, "t", NULL, NULL); /* alias of an alias */
    expect_route(rt, &r, "rule default (global): anthropic:claude-sonnet-4-5, openai:gpt-4o");
    r = req_of("mock", plain, 1, "t", NULL, NULL);
    expect_route(rt, &r, "rule default (global): mock:mock");

    /* content rules, first match wins; words match whole words, any case */
    r = req_of("gpt-4o", web, 1, "t", NULL, NULL);
    expect_route(rt, &r, "rule web (global): gemini:gemini-2.5-pro, openai:gpt-4o");
    r = req_of("gpt-4o", websub, 1, "t", NULL, NULL); /* "researching" is not "search" */
    expect_route(rt, &r, "rule default (global): openai:gpt-4o");
    r = req_of("gpt-4o", plain, 1, "t", NULL, "{\"response_format\":{\"type\":\"json_object\"}}");
    expect_route(rt, &r, "rule json (global): anthropic:claude-sonnet-4-5, openai:gpt-4o");
    r = req_of("gpt-4o", code, 1, "t", NULL, NULL);
    expect_route(rt, &r, "rule code (global): openai:gpt-4.1");
    r = req_of("gpt-4o-mini", code, 1, "t", NULL, NULL); /* the code rule is for gpt-4o only */
    expect_route(rt, &r, "rule default (global): openai:gpt-4o-mini");
    r = req_of("gpt-4o-mini", longc, 3, "t", NULL, NULL);
    expect_route(rt, &r, "rule long (global): gemini:gemini-2.5-flash");

    /* scopes: project, then tenant, then global */
    r = req_of("gpt-4o", plain, 1, "acme", NULL, NULL);
    expect_route(rt, &r, "rule acme-all (tenant:acme): anthropic:claude-haiku-4-5");
    r = req_of("gpt-4o", plain, 1, "acme", "p1",
               "{\"response_format\":{\"type\":\"json_schema\"}}");
    expect_route(rt, &r, "rule p1-json (project:p1): router:x/y");
    r = req_of("gpt-4o", plain, 1, "other", "p1", NULL);
    expect_route(rt, &r, "rule default (global): openai:gpt-4o");
    /* a "spread" alias starts each request at the next target; the rest follow as fallbacks */
    r = req_of("pool", plain, 1, "t", NULL, NULL);
    expect_route(rt, &r, "rule default (global): openai:gpt-4o, router:openai/gpt-4o, gemini:g");
    {
        char buf[512];
        CHECK_INT(routing_decide(rt, &r, 1, &d), 0);
        routing_describe(rt, &d, buf, sizeof(buf));
        CHECK_STR(buf, "rule default (global): router:openai/gpt-4o, gemini:g, openai:gpt-4o");
        CHECK_INT(routing_decide(rt, &r, 5, &d), 0);
        routing_describe(rt, &d, buf, sizeof(buf));
        CHECK_STR(buf, "rule default (global): gemini:g, openai:gpt-4o, router:openai/gpt-4o");
    }
    routing_free(rt);

    /* without a table: endpoints from the settings; nothing configured = the mock serves all */
    rt = routing_load(NULL, cfg, err, sizeof(err));
    CHECK(rt != NULL);
    r = req_of("gpt-4o", plain, 1, "t", NULL, NULL);
    expect_route(rt, &r, "rule default (global): mock:gpt-4o");
    routing_free(rt);

    /* a model whose endpoint is not configured, while others are: a clear refusal */
    rt = routing_load(
        "{\"endpoints\":{\"gemini\":{\"wire\":\"gemini\",\"base_url\":\"https://g\"}}}", cfg, err,
        sizeof(err));
    CHECK(rt != NULL);
    r = req_of("claude-sonnet-4-5", plain, 1, "t", NULL, NULL);
    CHECK_INT(routing_decide(rt, &r, 0, &d), -1);
    CHECK(strstr(d.error, "no provider is configured for model claude-sonnet-4-5") != NULL);
    CHECK(strstr(d.error, "anthropic") != NULL);
    routing_free(rt);

    /* bad tables are refused with a reason */
    CHECK(routing_load("{\"endpoints\":{\"x\":{\"wire\":\"smoke\",\"base_url\":\"u\"}}}", cfg, err,
                       sizeof(err)) == NULL);
    CHECK(strstr(err, "unknown wire") != NULL);
    CHECK(strstr(err, "(openai, anthropic, gemini, mock)") != NULL); /* named from the table */
    CHECK(routing_load("{\"endpoints\":{\"x\":{\"wire\":\"openai\"}}}", cfg, err, sizeof(err)) ==
          NULL);
    CHECK(strstr(err, "base_url") != NULL);
    CHECK(routing_load("{\"rules\":[{\"if\":{}}]}", cfg, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "then") != NULL);
    CHECK(routing_load("{\"endpoints\":{\"x\":{\"base_url\":\"u\",\"headers\":{\"A\":"
                       "\"b\\r\\nInjected: 1\"}}}}",
                       cfg, err, sizeof(err)) == NULL);
    CHECK(routing_load("[1,2", cfg, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "routing table") != NULL);
}

static void test_breaker(void)
{
    breaker_t b;

    breaker_init(&b, 3, 1000);
    CHECK(breaker_allow(&b, 0));
    breaker_record(&b, 0, 0);
    breaker_record(&b, 0, 1);
    breaker_record(&b, 1, 2); /* a success resets the count */
    breaker_record(&b, 0, 3);
    breaker_record(&b, 0, 4);
    CHECK_INT(breaker_state(&b, 5), BREAKER_CLOSED);
    breaker_record(&b, 0, 5); /* third in a row */
    CHECK_INT(breaker_state(&b, 6), BREAKER_OPEN);
    CHECK(!breaker_allow(&b, 500));
    CHECK_INT(breaker_state(&b, 1005), BREAKER_HALF_OPEN);
    CHECK(breaker_allow(&b, 1005));  /* the probe */
    CHECK(!breaker_allow(&b, 1006)); /* only one */
    breaker_unallow(&b);             /* its call waits for a connection: not made now */
    CHECK_INT(breaker_state(&b, 1007), BREAKER_HALF_OPEN);
    CHECK(breaker_allow(&b, 1007)); /* the test call is free again, for one call */
    CHECK(!breaker_allow(&b, 1008));
    breaker_record(&b, 0, 1100); /* the probe failed: open again */
    CHECK_INT(breaker_state(&b, 1200), BREAKER_OPEN);
    CHECK(!breaker_allow(&b, 2000));
    CHECK(breaker_allow(&b, 2100));
    breaker_record(&b, 1, 2150); /* the probe succeeded: closed */
    CHECK_INT(breaker_state(&b, 2151), BREAKER_CLOSED);
    CHECK(breaker_allow(&b, 2152));
    CHECK(b.opened_total == 2);
    CHECK_STR(breaker_state_name(BREAKER_HALF_OPEN), "half_open");
}

/* Which endpoints share provider.max_host_connections: one host is one scheme, host, port. */
static void test_same_host(void)
{
    CHECK(host_slots_same_host("https://api.openai.com/v1", "https://api.openai.com:443/v2"));
    CHECK(host_slots_same_host("https://API.openai.com", "https://api.openai.com/"));
    CHECK(host_slots_same_host("http://10.0.0.5/v1", "http://10.0.0.5:80"));
    CHECK(host_slots_same_host("https://u:p@h.example/v1", "https://h.example"));
    CHECK(host_slots_same_host("http://[::1]:8080/a", "http://[::1]:8080/b"));
    CHECK(!host_slots_same_host("http://[::1]:8080", "http://[::1]:8081"));
    CHECK(!host_slots_same_host("http://[::1]", "http://[::2]"));
    CHECK(!host_slots_same_host("https://h.example", "http://h.example"));
    CHECK(!host_slots_same_host("http://h.example:8080", "http://h.example"));
    CHECK(!host_slots_same_host("https://a.example", "https://a.example.org"));
    CHECK(!host_slots_same_host("https://h.example:8443/v1", "https://h.example:443/v1"));
}

static void test_pricing(void)
{
    char err[300];
    pricing_t *p = pricing_load(NULL, err, sizeof(err));
    double usd = -1;

    CHECK(p != NULL);
    if (!p)
        return;
    CHECK(pricing_version(p)[0] != '\0');
    CHECK_INT(pricing_cost(p, "gpt-4o-mini", 1000000, 1000000, &usd), 1);
    CHECK(usd > 0.749 && usd < 0.751);                                      /* 0.15 + 0.60 */
    CHECK_INT(pricing_cost(p, "gpt-4o-mini-2024-07-18", 1000, 0, &usd), 1); /* dated snapshot */
    CHECK(usd > 0.000149 && usd < 0.000151);
    CHECK_INT(pricing_cost(p, "openai/gpt-4o", 0, 1000000, &usd), 1); /* vendor/ prefix */
    CHECK(usd > 9.99 && usd < 10.01);
    CHECK_INT(pricing_cost(p, "gpt-4omni", 1, 1, &usd), 0); /* "-" must follow the entry */
    CHECK_INT(pricing_cost(p, "some-unknown-model", 1, 1, &usd), 0);
    CHECK_INT(pricing_cost(p, "mock", 100, 100, &usd), 1);
    CHECK(usd == 0.0);
    CHECK(pricing_context(p, "claude-sonnet-4-5") == 200000);
    pricing_free(p);

    p = pricing_load(
        "{\"version\":\"custom-1\",\"models\":{\"gpt-4o-mini\":{\"input\":1,\"output\":2},"
        "\"house-model\":{\"input\":0.5,\"output\":0.5}}}",
        err, sizeof(err));
    CHECK(p != NULL);
    if (p) {
        CHECK_STR(pricing_version(p), "custom-1");
        CHECK_INT(pricing_cost(p, "gpt-4o-mini", 1000000, 0, &usd), 1);
        CHECK(usd > 0.999 && usd < 1.001); /* overridden */
        CHECK_INT(pricing_cost(p, "house-model", 2000000, 0, &usd), 1);
        CHECK(usd > 0.999 && usd < 1.001);                         /* added */
        CHECK_INT(pricing_cost(p, "gpt-4o", 1000000, 0, &usd), 1); /* the rest stays */
        pricing_free(p);
    }
    CHECK(pricing_load("{\"models\":{\"x\":{\"input\":-1,\"output\":1}}}", err, sizeof(err)) ==
          NULL);
    CHECK(strstr(err, "pricing.file") != NULL);
}

int main(void)
{
    lq_config_t *cfg = NULL;
    worker_settings_t set;
    char err[256];

    CHECK_INT(lq_config_create(&cfg, worker_settings_tables, 0, NULL, err, sizeof(err)), LQ_OK);
    if (cfg && lq_config_bind(cfg, &set, sizeof(set), err, sizeof(err)) == LQ_OK)
        test_routing(&set);
    test_breaker();
    test_same_host();
    test_pricing();
    lq_config_destroy(cfg);
    TEST_DONE();
}

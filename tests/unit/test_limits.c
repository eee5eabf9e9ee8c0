/* common/limits: the resolved limits JSON into the struct, its refusals, and back. */
#include "common/limits.h"
#include "testutil.h"

static const char *const RESOLVED =
    "{\"tier\":\"free\",\"weight\":4,"
    "\"tenant\":{\"rpm\":60,\"rpd\":1000,\"usd_per_day\":5,\"usd_per_month\":12.34,"
    "\"concurrent\":10},"
    "\"project\":{\"tpm\":5.0},\"user\":{\"rpm\":0,\"rph\":null},\"key\":{},"
    "\"installation\":{\"concurrent\":500}}";

static void test_parse(void)
{
    lq_limits_t l;
    char err[160] = "";

    CHECK_INT(lq_limits_parse(RESOLVED, &l, err, sizeof(err)), LQ_OK);
    CHECK_STR(l.tier, "free");
    CHECK_INT(l.weight, 4);
    CHECK_INT(l.v[LQ_SCOPE_TENANT][LQ_LIMIT_RPM], 60);
    CHECK_INT(l.v[LQ_SCOPE_TENANT][LQ_LIMIT_RPD], 1000);
    CHECK_INT(l.v[LQ_SCOPE_TENANT][LQ_LIMIT_RPH], LQ_LIMIT_NONE);
    CHECK_INT(l.v[LQ_SCOPE_TENANT][LQ_LIMIT_USD_PER_DAY], 5000000);
    CHECK_INT(l.v[LQ_SCOPE_TENANT][LQ_LIMIT_USD_PER_MONTH], 12340000);
    CHECK_INT(l.v[LQ_SCOPE_PROJECT][LQ_LIMIT_TPM], 5);          /* 5.0: a whole number */
    CHECK_INT(l.v[LQ_SCOPE_USER][LQ_LIMIT_RPM], 0);             /* 0 is a limit: nothing allowed */
    CHECK_INT(l.v[LQ_SCOPE_USER][LQ_LIMIT_RPH], LQ_LIMIT_NONE); /* null: no limit */
    CHECK_INT(l.v[LQ_SCOPE_KEY][LQ_LIMIT_CONCURRENT], LQ_LIMIT_NONE);
    CHECK_INT(l.v[LQ_SCOPE_INSTALLATION][LQ_LIMIT_CONCURRENT], 500);
}

static void refused(const char *json, const char *needle)
{
    lq_limits_t l;
    char err[160] = "";

    CHECK_INT(lq_limits_parse(json, &l, err, sizeof(err)), LQ_ERR_INVALID);
    if (!strstr(err, needle)) {
        lq_test_failures++;
        fprintf(stderr, "error \"%s\" does not name \"%s\"\n", err, needle);
    }
    /* a refusal leaves nothing half-read */
    CHECK_INT(l.v[LQ_SCOPE_TENANT][LQ_LIMIT_RPM], LQ_LIMIT_NONE);
    CHECK_INT(l.weight, 1);
}

static void test_refusals(void)
{
    refused(NULL, "not a JSON object");
    refused("", "not a JSON object");
    refused("[]", "not a JSON object");
    refused("{\"tenant\":{\"rpm\":1,\"rpmm\":5}}", "tenant.rpmm");
    refused("{\"tenant\":{\"rpm\":-1}}", "tenant.rpm");
    refused("{\"user\":{\"rpm\":1.5}}", "user.rpm");
    refused("{\"user\":{\"rpm\":\"10\"}}", "user.rpm");
    refused("{\"user\":{\"rpm\":true}}", "user.rpm");
    refused("{\"key\":{\"tpd\":1000000000000001}}", "key.tpd");
    refused("{\"key\":{\"usd_per_day\":-0.01}}", "key.usd_per_day");
    refused("{\"key\":{\"usd_per_day\":1e10}}", "key.usd_per_day");
    refused("{\"tenant\":{\"rpm\":1},\"team\":{}}", "team");
    refused("{\"tenant\":[1]}", "tenant");
    refused("{\"weight\":0}", "weight");
    refused("{\"weight\":1001}", "weight");
    refused("{\"tier\":5}", "tier");
    refused("{\"tenant\":{\"rpm\":1,\"rpm\":2}}", "not a JSON object"); /* duplicate keys */
}

static void test_names_and_json(void)
{
    lq_limits_t l;
    char err[160];
    json_t *j;
    char *text;
    int d;

    for (d = 0; d < LQ_LIMIT_DIM_COUNT; d++)
        CHECK(lq_limit_dim_name((lq_limit_dim_t)d) != NULL);
    CHECK(lq_limit_dim_name(LQ_LIMIT_DIM_COUNT) == NULL);
    CHECK_STR(lq_limit_scope_name(LQ_SCOPE_INSTALLATION), "installation");
    CHECK(lq_limit_dim_is_usd(LQ_LIMIT_USD_PER_MONTH) && !lq_limit_dim_is_usd(LQ_LIMIT_TPM));
    CHECK_INT(lq_limits_parse(RESOLVED, &l, err, sizeof(err)), LQ_OK);
    j = lq_limits_to_json(&l);
    text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(text, "{\"scopes\":{\"installation\":{\"concurrent\":500},\"key\":{},"
                    "\"project\":{\"tpm\":5},\"tenant\":{\"concurrent\":10,\"rpd\":1000,"
                    "\"rpm\":60,\"usd_per_day\":5.0,\"usd_per_month\":12.34},\"user\":{\"rpm\":0}},"
                    "\"tier\":\"free\",\"weight\":4}");
    free(text);
    json_decref(j);
}

/* The format lq_limits_parse reads back to the same struct; nothing limited is "". */
static void test_format_round_trip(void)
{
    lq_limits_t a, b;
    char text[1024], err[256];

    CHECK_INT(lq_limits_parse(RESOLVED, &a, err, sizeof(err)), LQ_OK);
    CHECK(lq_limits_format(&a, text, sizeof(text)) > 0);
    CHECK_INT(lq_limits_parse(text, &b, err, sizeof(err)), LQ_OK);
    CHECK(memcmp(&a, &b, sizeof(a)) == 0);
    CHECK_INT(lq_limits_format(&a, text, 40), -1); /* does not fit */
    lq_limits_unlimited(&a);
    CHECK_INT(lq_limits_format(&a, text, sizeof(text)), 0);
    CHECK_STR(text, "");
}

int main(void)
{
    test_parse();
    test_format_round_trip();
    test_refusals();
    test_names_and_json();
    TEST_DONE();
}

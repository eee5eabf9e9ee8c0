/* The admin API's route table and the path matcher it shares with the API's: planning
 * only, no database. */
#include <string.h>

#include "ingest/admin.h"
#include "ingest/path_match.h"
#include "testutil.h"

static ingest_identity_t caller(const char *tenant, ingest_role_t role)
{
    ingest_identity_t id;

    memset(&id, 0, sizeof(id));
    snprintf(id.tenant_id, sizeof(id.tenant_id), "%s", tenant);
    snprintf(id.key_id, sizeof(id.key_id), "k1");
    id.role = role;
    return id;
}

static void plan(const char *method, const char *path, const char *body, ingest_role_t role,
                 admin_call_t *c)
{
    ingest_identity_t who = caller("acme", role);

    ingest_admin_plan(method, path, body, body ? strlen(body) : 0, &who, NULL, c);
}

static void test_refusals(void)
{
    admin_call_t c;

    plan("PUT", "/admin/v1/tenants/acme/keys", NULL, ROLE_OWNER, &c);
    CHECK_INT(c.status, 405);
    CHECK_STR(c.allow, "GET, POST");
    CHECK_STR(c.code, "method_not_allowed");
    ingest_admin_call_clear(&c);
    plan("POST", "/admin/v1/me", NULL, ROLE_OWNER, &c);
    CHECK_INT(c.status, 405);
    CHECK_STR(c.allow, "GET");
    ingest_admin_call_clear(&c);
    /* another tenant's path is not there, whatever the method */
    plan("PUT", "/admin/v1/tenants/other/keys", NULL, ROLE_OWNER, &c);
    CHECK_INT(c.status, 404);
    CHECK_STR(c.allow, "");
    ingest_admin_call_clear(&c);
    plan("GET", "/admin/v1/tenants/acme/nothing", NULL, ROLE_OWNER, &c);
    CHECK_INT(c.status, 404);
    ingest_admin_call_clear(&c);
    plan("GET", "/admin/v1/tenants/acme/keys/", NULL, ROLE_OWNER, &c);
    CHECK_INT(c.status, 404);
    ingest_admin_call_clear(&c);
    plan("POST", "/admin/v1/tenants/acme/keys", "{}", ROLE_DEVELOPER, &c);
    CHECK_INT(c.status, 403);
    CHECK_STR(c.code, "insufficient_role");
    ingest_admin_call_clear(&c);
    plan("DELETE", "/admin/v1/tenants/acme/keys/not-a-uuid", NULL, ROLE_ADMIN, &c);
    CHECK_INT(c.status, 404);
    ingest_admin_call_clear(&c);
    plan("POST", "/admin/v1/tenants/acme/projects", "[1]", ROLE_ADMIN, &c);
    CHECK_INT(c.status, 400);
    CHECK_STR(c.code, "invalid_json");
    ingest_admin_call_clear(&c);
}

static void test_unknown_fields(void)
{
    admin_call_t c;

    plan("POST", "/admin/v1/tenants/acme/keys", "{\"role\":\"developer\",\"expire_at\":1}",
         ROLE_ADMIN, &c);
    CHECK_INT(c.status, 400);
    CHECK_STR(c.code, "unknown_parameter");
    CHECK_STR(c.param, "expire_at");
    CHECK(c.sql == NULL && c.key[0] == '\0');
    ingest_admin_call_clear(&c);
    plan("PATCH", "/admin/v1/tenants/acme", "{\"owner\":\"x\"}", ROLE_PLATFORM, &c);
    CHECK_INT(c.status, 400);
    CHECK_STR(c.param, "owner");
    ingest_admin_call_clear(&c);
    plan("GET", "/admin/v1/tenants/acme/keys", "{\"limit\":5}", ROLE_VIEWER, &c);
    CHECK_INT(c.status, 400);
    CHECK_STR(c.param, "limit");
    ingest_admin_call_clear(&c);
}

static void test_calls(void)
{
    admin_call_t c;

    plan("POST", "/admin/v1/tenants/acme/keys", "{\"name\":\"ci\",\"expires_at\":2000000000}",
         ROLE_ADMIN, &c);
    CHECK_INT(c.status, 0);
    CHECK_INT(c.ok_status, 201);
    CHECK_INT(c.n_params, 11);
    CHECK(strncmp(c.key, "llmq-", 5) == 0 && strlen(c.key) == 53);
    if (c.n_params == 11) {
        CHECK_STR(c.params[0], "key:k1 (admin)");
        CHECK_STR(c.params[1], "acme");
        CHECK_STR(c.params[5], "ci");
        CHECK_STR(c.params[6], "developer");
        CHECK_STR(c.params[7], "{}");
        CHECK_STR(c.params[8], "2000000000");
        CHECK(strncmp(c.params[9], c.key, 12) == 0 && strlen(c.params[9]) == 12);
        CHECK_INT(strlen(c.params[10]), 64);
    }
    ingest_admin_call_clear(&c);
    plan("PATCH", "/admin/v1/tenants/acme/projects/web", "{\"name\":\"Web\"}", ROLE_ADMIN, &c);
    CHECK_INT(c.status, 0);
    CHECK_INT(c.n_params, 4);
    if (c.n_params == 4) {
        CHECK_STR(c.params[1], "acme");
        CHECK_STR(c.params[2], "web");
        CHECK_STR(c.params[3], "{\"name\":\"Web\"}");
    }
    ingest_admin_call_clear(&c);
    plan("DELETE", "/admin/v1/tenants/acme/projects/web/policy", NULL, ROLE_ADMIN, &c);
    CHECK_INT(c.status, 0);
    CHECK_INT(c.n_params, 4);
    CHECK(c.n_params == 4 && c.params[3] == NULL);
    ingest_admin_call_clear(&c);
    plan("GET", "/admin/v1/me", NULL, ROLE_VIEWER, &c);
    CHECK_INT(c.status, 200);
    CHECK(c.immediate && strstr(c.immediate, "\"tenant\":\"acme\""));
    ingest_admin_call_clear(&c);
}

typedef struct row {
    ingest_route_key_t key;
    int n;
} row_t;

static void test_path_match(void)
{
    static const row_t rows[] = {{{"POST", "/v1/jobs"}, 0},
                                 {{"GET", "/v1/jobs/{id}"}, 1},
                                 {{"DELETE", "/v1/jobs/{id}"}, 2},
                                 {{"*", "/admin/v1/{*}"}, 3}};
    ingest_path_params_t p;
    char allow[64], long_path[400];

#define FIND(m, path) ingest_route_find(rows, 4, sizeof(rows[0]), m, path, &p, allow, sizeof(allow))
    CHECK_INT(FIND("GET", "/v1/jobs/abc"), 1);
    CHECK_STR(ingest_path_param(&p, "id"), "abc");
    CHECK_INT(FIND("POST", "/v1/jobs/abc"), INGEST_ROUTE_BAD_METHOD);
    CHECK_STR(allow, "GET, DELETE");
    CHECK_INT(FIND("GET", "/v1/jobs"), INGEST_ROUTE_BAD_METHOD);
    CHECK_STR(allow, "POST");
    CHECK_INT(FIND("GET", "/v1/jobs/"), INGEST_ROUTE_NOT_FOUND);
    CHECK_INT(FIND("GET", "/v1/jobs/abc/x"), INGEST_ROUTE_NOT_FOUND);
    CHECK_INT(FIND("GET", "/v1/jobsx"), INGEST_ROUTE_NOT_FOUND);
    CHECK_INT(FIND("GET", "/v1/job"), INGEST_ROUTE_NOT_FOUND);
    CHECK_INT(FIND("GET", ""), INGEST_ROUTE_NOT_FOUND);
    CHECK_INT(FIND("PATCH", "/admin/v1/tenants/a"), 3);
    CHECK_STR(ingest_path_param(&p, "*"), "tenants/a");
    CHECK_INT(FIND("GET", "/admin/v1"), INGEST_ROUTE_NOT_FOUND);
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[sizeof(long_path) - 1] = '\0';
    memcpy(long_path, "/v1/jobs/", 9);
    CHECK_INT(FIND("GET", long_path), INGEST_ROUTE_NOT_FOUND); /* no {id} that long */
#undef FIND
    CHECK(ingest_path_is_clean("/v1/jobs/abc"));
    CHECK(!ingest_path_is_clean("/healthz\x7f"
                                "foo"));
    CHECK(!ingest_path_is_clean("/v1/jobs/a\x01"));
    CHECK(!ingest_path_is_clean("/v1/jobs/a\tb"));
}

/* Tiers and the installation's limits: everyone reads tiers, operators change them; a
 * key's limits are changed by its tenant's admins. */
static void test_limits_routes(void)
{
    admin_call_t c;

    plan("GET", "/admin/v1/tiers", NULL, ROLE_VIEWER, &c);
    CHECK_INT(c.status, 0);
    CHECK(c.sql && strstr(c.sql, "admin_list_tiers"));
    ingest_admin_call_clear(&c);
    plan("PUT", "/admin/v1/tiers/gold", "{\"weight\":2}", ROLE_OWNER, &c);
    CHECK_INT(c.status, 403);
    ingest_admin_call_clear(&c);
    plan("PUT", "/admin/v1/tiers/gold", "{\"weight\":2,\"limits\":{}}", ROLE_PLATFORM, &c);
    CHECK_INT(c.status, 0);
    CHECK_INT(c.n_params, 3);
    CHECK_STR(c.params[1], "gold");
    ingest_admin_call_clear(&c);
    plan("PUT", "/admin/v1/tiers/gold", "{\"wieght\":2}", ROLE_PLATFORM, &c);
    CHECK_INT(c.status, 400);
    CHECK_STR(c.param, "wieght");
    ingest_admin_call_clear(&c);
    plan("GET", "/admin/v1/installation/limits", NULL, ROLE_OWNER, &c);
    CHECK_INT(c.status, 403);
    ingest_admin_call_clear(&c);
    plan("PUT", "/admin/v1/installation/limits", "{\"limits\":{}}", ROLE_PLATFORM, &c);
    CHECK_INT(c.status, 0);
    CHECK_INT(c.n_params, 2);
    ingest_admin_call_clear(&c);
    plan("PATCH", "/admin/v1/tenants/acme/keys/not-a-uuid", "{}", ROLE_ADMIN, &c);
    CHECK_INT(c.status, 404);
    ingest_admin_call_clear(&c);
    plan("PATCH", "/admin/v1/tenants/acme/keys/0190a0b0-0000-7000-8000-000000000000",
         "{\"limits\":{\"rpm\":5}}", ROLE_ADMIN, &c);
    CHECK_INT(c.status, 0);
    CHECK_INT(c.n_params, 5);
    CHECK_STR(c.params[1], "admin");
    ingest_admin_call_clear(&c);
    plan("PATCH", "/admin/v1/tenants/acme/users/u1", "{\"limits\":{}}", ROLE_ADMIN, &c);
    CHECK_INT(c.status, 0);
    ingest_admin_call_clear(&c);
}

/* The database's refusals naming a field become the error's param. */
static void test_field_refusals(void)
{
    admin_call_t c;
    int status = 0;
    char *body;

    memset(&c, 0, sizeof(c));
    body = ingest_admin_answer(&c, NULL, "LQP00 limits.rpmm: unknown limit", &status);
    CHECK_INT(status, 400);
    CHECK(body && strstr(body, "\"param\":\"limits.rpmm\"") &&
          strstr(body, "\"code\":\"unknown_parameter\""));
    free(body);
    body = ingest_admin_answer(&c, NULL, "LQP01 limits.rpm: must be a whole number", &status);
    CHECK_INT(status, 400);
    CHECK(body && strstr(body, "\"param\":\"limits.rpm\"") &&
          strstr(body, "\"code\":\"invalid_value\""));
    free(body);
    body = ingest_admin_answer(&c, NULL, "LQ404 no active key 1: x", &status);
    CHECK_INT(status, 404);
    CHECK(body && strstr(body, "\"param\":null"));
    free(body);
    body = ingest_admin_answer(&c, NULL, "LQP01 no field here", &status);
    CHECK_INT(status, 400);
    CHECK(body && strstr(body, "\"param\":null"));
    free(body);
}

int main(void)
{
    test_limits_routes();
    test_field_refusals();
    test_refusals();
    test_unknown_fields();
    test_calls();
    test_path_match();
    TEST_DONE();
}

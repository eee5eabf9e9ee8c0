/* common/config: defaults < config file < LLMQ_* environment < --set; unknown keys and bad
 * values refused with a message naming the key; kafka.* pass-through; the reference table. */
#include <stdint.h>
#include <unistd.h>

#include "common/config.h"
#include "ingest/ingest_config.h"
#include "sinks/sink_config.h"
#include "testutil.h"
#include "workers/worker_config.h"

typedef struct test_settings {
    lq_common_settings_t common;
    long long port;
    const char *host;
    int enabled;
    long long max_body, negative;
    const char *empty;
} test_settings_t;

static const lq_config_def_t test_settings[] = {
    {"http.port", LQ_CFG_INT, "8080", 1, 65535, "port to listen on",
     LQ_CFG_AT(test_settings_t, port)},
    {"http.host", LQ_CFG_STRING, "0.0.0.0", 0, 0, "address to bind",
     LQ_CFG_AT(test_settings_t, host)},
    {"feature.enabled", LQ_CFG_BOOL, "false", 0, 0, "turn the feature on",
     LQ_CFG_AT(test_settings_t, enabled)},
    {"limits.max-body", LQ_CFG_INT, "1048576", 1024, 67108864, "largest request body",
     LQ_CFG_AT(test_settings_t, max_body)},
    {"limits.negative", LQ_CFG_INT, "-5", -10, -1, "a range below zero",
     LQ_CFG_AT(test_settings_t, negative)},
    {"empty.default", LQ_CFG_STRING, NULL, 0, 0, "no default", LQ_CFG_AT(test_settings_t, empty)},
    {NULL, 0, NULL, 0, 0, NULL, 0}};

static const lq_config_def_t *const tables[] = {lq_common_settings, test_settings, NULL};

static char tmpdir_path[] = "/tmp/llmq_test_config_XXXXXX";

/* Remove every LLMQ_* variable so the host environment cannot leak into the test. */
static void clear_llmq_env(void)
{
    char names[64][128];
    int n = 0, i;
    char **e;

    for (e = environ; *e && n < 64; e++) {
        if (strncmp(*e, "LLMQ_", 5) == 0) {
            const char *eq = strchr(*e, '=');
            size_t l = eq ? (size_t)(eq - *e) : strlen(*e);
            if (l < sizeof(names[0])) {
                memcpy(names[n], *e, l);
                names[n][l] = '\0';
                n++;
            }
        }
    }
    for (i = 0; i < n; i++)
        unsetenv(names[i]);
}

/* Write contents to a new file (mkstemp) in the test folder; its name goes to path. */
static void write_file(char *path, size_t size, const char *contents)
{
    int fd, n;
    size_t len = strlen(contents);

    n = snprintf(path, size, "%s/cfgXXXXXX", tmpdir_path);
    if (n < 0 || (size_t)n >= size)
        abort();
    fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        exit(1);
    CHECK_INT(write(fd, contents, len), (long long)len);
    close(fd);
}

static lq_err_t create(lq_config_t **cfg, int argc, const char **argv, char *err, size_t n)
{
    err[0] = '\0';
    return lq_config_create(cfg, tables, argc, (char **)argv, err, n);
}

static void test_defaults(void)
{
    const char *argv[] = {"llmq-test"};
    lq_config_t *cfg = NULL;
    char err[256];

    CHECK_INT(create(&cfg, 1, argv, err, sizeof(err)), LQ_OK);
    if (!cfg)
        return;
    CHECK_STR(lq_config_str(cfg, "log.level"), "info");
    CHECK_INT(lq_config_bool(cfg, "log.json"), 0);
    CHECK_STR(lq_config_str(cfg, "kafka.brokers"), "127.0.0.1:9092");
    CHECK_STR(lq_config_str(cfg, "topic.requests"), "llmq.requests");
    CHECK_STR(lq_config_str(cfg, "topic.replies_prefix"), "llmq.replies.");
    CHECK_INT(lq_config_int(cfg, "http.port"), 8080);
    CHECK_STR(lq_config_str(cfg, "http.port"), "8080");
    CHECK_STR(lq_config_str(cfg, "http.host"), "0.0.0.0");
    CHECK_INT(lq_config_bool(cfg, "feature.enabled"), 0);
    CHECK_INT(lq_config_int(cfg, "limits.max-body"), 1048576);
    CHECK_INT(lq_config_int(cfg, "limits.negative"), -5);
    CHECK_STR(lq_config_str(cfg, "empty.default"), "");
    CHECK_INT(lq_config_passthrough_count(cfg), 0);
    lq_config_destroy(cfg);
    lq_config_destroy(NULL);
}

static void test_set_flags(void)
{
    const char *argv[] = {"llmq-test",
                          "--set",
                          "http.port=9090",
                          "--set",
                          "log.level=debug",
                          "--set",
                          "feature.enabled=true",
                          "--set",
                          "pg.url=host=db port=5432 dbname=llmq",
                          "--set",
                          "http.host="};
    lq_config_t *cfg = NULL;
    char err[256];

    CHECK_INT(create(&cfg, 11, argv, err, sizeof(err)), LQ_OK);
    if (!cfg)
        return;
    CHECK_INT(lq_config_int(cfg, "http.port"), 9090);
    CHECK_STR(lq_config_str(cfg, "log.level"), "debug");
    CHECK_INT(lq_config_bool(cfg, "feature.enabled"), 1);
    /* the value is everything after the first '=' */
    CHECK_STR(lq_config_str(cfg, "pg.url"), "host=db port=5432 dbname=llmq");
    CHECK_STR(lq_config_str(cfg, "http.host"), "");
    CHECK_STR(lq_config_str(cfg, "topic.usage"), "llmq.usage"); /* untouched */

    /* lq_config_set on a live config: good values replace, bad ones change nothing */
    CHECK_INT(lq_config_set(cfg, "feature.enabled", "0", err, sizeof(err)), LQ_OK);
    CHECK_INT(lq_config_bool(cfg, "feature.enabled"), 0);
    CHECK_INT(lq_config_set(cfg, "feature.enabled", "1", err, sizeof(err)), LQ_OK);
    CHECK_INT(lq_config_bool(cfg, "feature.enabled"), 1);
    CHECK_INT(lq_config_set(cfg, "feature.enabled", "false", err, sizeof(err)), LQ_OK);
    CHECK_INT(lq_config_bool(cfg, "feature.enabled"), 0);
    CHECK_INT(lq_config_set(cfg, "http.port", "1", err, sizeof(err)), LQ_OK); /* min */
    CHECK_INT(lq_config_int(cfg, "http.port"), 1);
    CHECK_INT(lq_config_set(cfg, "http.port", "65535", err, sizeof(err)), LQ_OK); /* max */
    CHECK_INT(lq_config_int(cfg, "http.port"), 65535);
    CHECK_INT(lq_config_set(cfg, "http.port", "65536", err, sizeof(err)), LQ_ERR_CONFIG);
    CHECK(strstr(err, "http.port") != NULL && strstr(err, "65536") != NULL);
    CHECK_INT(lq_config_int(cfg, "http.port"), 65535);
    CHECK_INT(lq_config_set(cfg, "limits.negative", "0", err, sizeof(err)), LQ_ERR_CONFIG);
    CHECK_INT(lq_config_set(cfg, "limits.negative", "-10", err, sizeof(err)), LQ_OK);
    CHECK_INT(lq_config_int(cfg, "limits.negative"), -10);
    CHECK_INT(lq_config_set(cfg, "no.such.key", "1", err, sizeof(err)), LQ_ERR_CONFIG);
    CHECK(strstr(err, "no.such.key") != NULL);
    lq_config_destroy(cfg);
}

static void test_env(void)
{
    const char *argv[] = {"llmq-test"};
    lq_config_t *cfg = NULL;
    char err[256];

    setenv("LLMQ_HTTP_PORT", "7070", 1);
    setenv("LLMQ_LOG_LEVEL", "warn", 1);
    setenv("LLMQ_LIMITS_MAX_BODY", "2048", 1); /* '.' and '-' both become '_' */
    setenv("LLMQ_TOPIC_REPLIES_PREFIX", "r.", 1);
    setenv("LLMQ_FEATURE_ENABLED", "1", 1);
    setenv("LLMQ_KAFKA_LINGER_MS", "5", 1);    /* pass-through keys come from file/--set only */
    setenv("llmq_http_host", "lower.case", 1); /* not the variable's name */
    CHECK_INT(create(&cfg, 1, argv, err, sizeof(err)), LQ_OK);
    if (cfg) {
        CHECK_INT(lq_config_int(cfg, "http.port"), 7070);
        CHECK_STR(lq_config_str(cfg, "log.level"), "warn");
        CHECK_INT(lq_config_int(cfg, "limits.max-body"), 2048);
        CHECK_STR(lq_config_str(cfg, "topic.replies_prefix"), "r.");
        CHECK_INT(lq_config_bool(cfg, "feature.enabled"), 1);
        CHECK_STR(lq_config_str(cfg, "http.host"), "0.0.0.0");
        CHECK_INT(lq_config_passthrough_count(cfg), 0);
        lq_config_destroy(cfg);
    }
    unsetenv("llmq_http_host");
    unsetenv("LLMQ_KAFKA_LINGER_MS");

    /* a bad value from the environment names the key and the variable */
    setenv("LLMQ_HTTP_PORT", "80x", 1);
    cfg = (lq_config_t *)(uintptr_t)1;
    CHECK_INT(create(&cfg, 1, argv, err, sizeof(err)), LQ_ERR_CONFIG);
    CHECK(cfg == NULL);
    CHECK(strstr(err, "http.port") != NULL);
    CHECK(strstr(err, "80x") != NULL);
    CHECK(strstr(err, "LLMQ_HTTP_PORT") != NULL);
    setenv("LLMQ_HTTP_PORT", "0", 1);
    CHECK_INT(create(&cfg, 1, argv, err, sizeof(err)), LQ_ERR_CONFIG);
    CHECK(strstr(err, "http.port") != NULL);
    unsetenv("LLMQ_HTTP_PORT");
    setenv("LLMQ_FEATURE_ENABLED", "yes", 1);
    CHECK_INT(create(&cfg, 1, argv, err, sizeof(err)), LQ_ERR_CONFIG);
    CHECK(strstr(err, "feature.enabled") != NULL);
    clear_llmq_env();
}

static void test_file_and_precedence(void)
{
    char path[256], path2[256], setarg[64];
    const char *argv_file[] = {"llmq-test", "--config", path};
    const char *argv_all[] = {"llmq-test", "--config", path, "--set", "http.port=3000"};
    lq_config_t *cfg = NULL;
    char err[256];
    const char *k, *v;
    size_t i;

    write_file(path, sizeof(path),
               "# llmq test configuration\n"
               "\n"
               "   # an indented comment\n"
               "http.port = 1000\n"
               "log.level=error\r\n"
               "\t feature.enabled   =   true   \n"
               "http.host = file.host\n"
               "\n"
               "kafka.brokers = k1:9092,k2:9092\n"
               "kafka.security.protocol = SASL_SSL\n"
               "kafka.sasl.username=svc-llmq\n"
               "kafka.linger.ms = 10\n"
               "topic.dlq = dead # not a comment: values run to the end of the line\n");

    /* the file alone */
    CHECK_INT(create(&cfg, 3, argv_file, err, sizeof(err)), LQ_OK);
    if (cfg) {
        CHECK_INT(lq_config_int(cfg, "http.port"), 1000);
        CHECK_STR(lq_config_str(cfg, "log.level"), "error");
        CHECK_INT(lq_config_bool(cfg, "feature.enabled"), 1);
        CHECK_STR(lq_config_str(cfg, "http.host"), "file.host");
        CHECK_STR(lq_config_str(cfg, "topic.dlq"),
                  "dead # not a comment: values run to the end of the line");
        /* kafka.brokers is a table key; the other kafka.* keys pass through, prefix removed */
        CHECK_STR(lq_config_str(cfg, "kafka.brokers"), "k1:9092,k2:9092");
        CHECK_INT(lq_config_passthrough_count(cfg), 3);
        for (i = 0; i < lq_config_passthrough_count(cfg); i++) {
            lq_config_passthrough_get(cfg, i, &k, &v);
            if (strcmp(k, "security.protocol") == 0)
                CHECK_STR(v, "SASL_SSL");
            else if (strcmp(k, "sasl.username") == 0)
                CHECK_STR(v, "svc-llmq");
            else if (strcmp(k, "linger.ms") == 0)
                CHECK_STR(v, "10");
            else
                CHECK_STR(k, "(an unexpected pass-through key)");
        }
        lq_config_destroy(cfg);
    }

    /* defaults < file < env < --set */
    setenv("LLMQ_HTTP_PORT", "2000", 1);
    setenv("LLMQ_LOG_LEVEL", "debug", 1);
    CHECK_INT(create(&cfg, 5, argv_all, err, sizeof(err)), LQ_OK);
    if (cfg) {
        CHECK_INT(lq_config_int(cfg, "http.port"), 3000);        /* --set */
        CHECK_STR(lq_config_str(cfg, "log.level"), "debug");     /* env over file */
        CHECK_STR(lq_config_str(cfg, "http.host"), "file.host"); /* file over default */
        CHECK_INT(lq_config_bool(cfg, "feature.enabled"), 1);
        CHECK_INT(lq_config_int(cfg, "limits.max-body"), 1048576); /* default */
        lq_config_destroy(cfg);
    }
    clear_llmq_env();

    /* LLMQ_CONFIG names the file too; --config wins over it */
    write_file(path2, sizeof(path2), "http.port = 4444\n");
    setenv("LLMQ_CONFIG", path2, 1);
    {
        const char *argv_none[] = {"llmq-test"};
        CHECK_INT(create(&cfg, 1, argv_none, err, sizeof(err)), LQ_OK);
        if (cfg) {
            CHECK_INT(lq_config_int(cfg, "http.port"), 4444);
            lq_config_destroy(cfg);
        }
    }
    CHECK_INT(create(&cfg, 3, argv_file, err, sizeof(err)), LQ_OK);
    if (cfg) {
        CHECK_INT(lq_config_int(cfg, "http.port"), 1000);
        lq_config_destroy(cfg);
    }
    clear_llmq_env();

    /* --set on a pass-through key replaces the file's value, adds new ones */
    {
        const char *argv_pass[] = {"llmq-test",     "--config",           path,
                                   "--set",         "kafka.linger.ms=50", "--set",
                                   "kafka.acks=all"};
        int seen_linger = 0, seen_acks = 0;
        CHECK_INT(create(&cfg, 7, argv_pass, err, sizeof(err)), LQ_OK);
        if (cfg) {
            CHECK_INT(lq_config_passthrough_count(cfg), 4);
            for (i = 0; i < lq_config_passthrough_count(cfg); i++) {
                lq_config_passthrough_get(cfg, i, &k, &v);
                if (strcmp(k, "linger.ms") == 0) {
                    seen_linger++;
                    CHECK_STR(v, "50");
                } else if (strcmp(k, "acks") == 0) {
                    seen_acks++;
                    CHECK_STR(v, "all");
                }
            }
            CHECK_INT(seen_linger, 1);
            CHECK_INT(seen_acks, 1);
            lq_config_destroy(cfg);
        }
    }
    snprintf(setarg, sizeof(setarg), "kafka.=x");
    {
        const char *argv_bad[] = {"llmq-test", "--set", setarg};
        CHECK_INT(create(&cfg, 3, argv_bad, err, sizeof(err)), LQ_ERR_CONFIG);
        CHECK(cfg == NULL);
        CHECK(strstr(err, "kafka.") != NULL);
    }
    unlink(path);
    unlink(path2);
}

/* One bad input (file contents or argv); the error must name every needle. */
static void expect_refused(const char *contents, const char *set_arg, const char *needle1,
                           const char *needle2)
{
    char path[256], err[512];
    const char *argv[5];
    int argc = 1;
    lq_config_t *cfg = (lq_config_t *)(uintptr_t)1;
    lq_err_t rc;

    argv[0] = "llmq-test";
    path[0] = '\0';
    if (contents) {
        write_file(path, sizeof(path), contents);
        argv[argc++] = "--config";
        argv[argc++] = path;
    }
    if (set_arg) {
        argv[argc++] = "--set";
        argv[argc++] = set_arg;
    }
    rc = create(&cfg, argc, argv, err, sizeof(err));
    CHECK_INT(rc, LQ_ERR_CONFIG);
    CHECK(cfg == NULL);
    if (rc == LQ_OK)
        lq_config_destroy(cfg);
    if (needle1 && !strstr(err, needle1)) {
        CHECK(strstr(err, needle1) != NULL);
        fprintf(stderr, "  error \"%s\" does not mention \"%s\"\n", err, needle1);
    }
    if (needle2 && !strstr(err, needle2)) {
        CHECK(strstr(err, needle2) != NULL);
        fprintf(stderr, "  error \"%s\" does not mention \"%s\"\n", err, needle2);
    }
    if (*path)
        unlink(path);
}

static void test_refusals(void)
{
    /* unknown keys */
    expect_refused(NULL, "htp.port=1", "htp.port", "unknown");
    expect_refused("log.level = info\nlog.levle = debug\n", NULL, "log.levle", NULL);
    expect_refused("kafkaa.brokers = x\n", NULL, "kafkaa.brokers", NULL);
    /* bad int, int out of range, bad bool */
    expect_refused(NULL, "http.port=eighty", "http.port", "eighty");
    expect_refused(NULL, "http.port=80.5", "http.port", "80.5");
    expect_refused(NULL, "http.port=", "http.port", NULL);
    expect_refused(NULL, "http.port=99999999999999999999999", "http.port", NULL);
    expect_refused(NULL, "http.port=70000", "http.port", "70000");
    expect_refused(NULL, "http.port=0", "http.port", "[1, 65535]");
    expect_refused(NULL, "limits.max-body=1023", "limits.max-body", NULL);
    expect_refused("http.port = 12ab\n", NULL, "http.port", "12ab");
    expect_refused(NULL, "feature.enabled=yes", "feature.enabled", "yes");
    expect_refused(NULL, "log.json=2", "log.json", NULL);
    expect_refused("feature.enabled = on\n", NULL, "feature.enabled", "on");
    /* malformed input */
    expect_refused("# ok\nhttp.port 80\n", NULL, ":2", "key = value");
    expect_refused(NULL, "http.port", "http.port", "key=value");
    {
        char err[256];
        lq_config_t *cfg = NULL;
        const char *argv1[] = {"llmq-test", "--frobnicate"};
        const char *argv2[] = {"llmq-test", "--config", "/nonexistent/llmq.conf"};
        CHECK_INT(create(&cfg, 2, argv1, err, sizeof(err)), LQ_ERR_CONFIG);
        CHECK(strstr(err, "--frobnicate") != NULL);
        CHECK_INT(create(&cfg, 3, argv2, err, sizeof(err)), LQ_ERR_CONFIG);
        CHECK(strstr(err, "/nonexistent/llmq.conf") != NULL);
        CHECK(cfg == NULL);
    }
}

static void test_reference(void)
{
    char *text = NULL;
    size_t len = 0, i, t;
    FILE *fp = open_memstream(&text, &len);
    const char *const argv_none[] = {"llmq-test", "--set", "log.level=info"};

    CHECK(fp != NULL);
    if (!fp)
        return;
    lq_config_print_reference(tables, fp);
    fclose(fp);
    CHECK(strstr(text, "| key |") != NULL);
    for (t = 0; tables[t]; t++) {
        for (i = 0; tables[t][i].key; i++) {
            char needle[160];
            snprintf(needle, sizeof(needle), "| `%s` |", tables[t][i].key);
            if (!strstr(text, needle)) {
                CHECK(strstr(text, needle) != NULL);
                fprintf(stderr, "  reference lacks %s\n", needle);
            }
            CHECK(strstr(text, tables[t][i].doc) != NULL);
        }
    }
    CHECK(strstr(text, "`LLMQ_HTTP_PORT`") != NULL);
    CHECK(strstr(text, "`LLMQ_LIMITS_MAX_BODY`") != NULL);
    CHECK(strstr(text, "`LLMQ_KAFKA_BROKERS`") != NULL);
    CHECK(strstr(text, "1 – 65535") != NULL);
    CHECK(strstr(text, "`127.0.0.1:9092`") != NULL);
    free(text);
    /* no info flag: the daemon goes on */
    CHECK_INT(lq_config_handle_info_flags(tables, "llmq-test", 3, (char **)argv_none), 0);
}

/* Settings bound into a struct: every type, the common ones, and the refusals that catch a
 * table row bound to no field or to another key's field. */
static void test_bind(void)
{
    static const lq_config_def_t unbound[] = {
        {"x.y", LQ_CFG_INT, "1", 0, 9, "a row without a field", 0}, {NULL, 0, NULL, 0, 0, NULL, 0}};
    static const lq_config_def_t twice[] = {
        {"x.a", LQ_CFG_INT, "1", 0, 9, "one", LQ_CFG_AT(test_settings_t, port)},
        {"x.b", LQ_CFG_INT, "2", 0, 9, "same field", LQ_CFG_AT(test_settings_t, port)},
        {NULL, 0, NULL, 0, 0, NULL, 0}};
    const lq_config_def_t *const t_unbound[] = {lq_common_settings, unbound, NULL};
    const lq_config_def_t *const t_twice[] = {lq_common_settings, twice, NULL};
    char *argv[] = {"llmq-test", "--set",          "http.port=81", "--set", "feature.enabled=true",
                    "--set",     "topic.usage=u.x"};
    lq_config_t *cfg = NULL;
    test_settings_t set;
    char errstr[256];

    CHECK_INT(lq_config_create(&cfg, tables, 7, argv, errstr, sizeof(errstr)), LQ_OK);
    if (!cfg)
        return;
    CHECK_INT(lq_config_bind(cfg, &set, sizeof(set), errstr, sizeof(errstr)), LQ_OK);
    CHECK_INT(set.port, 81);
    CHECK_STR(set.host, "0.0.0.0");
    CHECK_INT(set.enabled, 1);
    CHECK_INT(set.negative, -5);
    CHECK_STR(set.empty, "");
    CHECK_STR(set.common.topic.usage, "u.x");
    CHECK_STR(set.common.kafka.brokers, "127.0.0.1:9092");
    CHECK(set.common.source == cfg);
    /* a struct too small for the table */
    CHECK_INT(lq_config_bind(cfg, &set, offsetof(test_settings_t, empty), errstr, sizeof(errstr)),
              LQ_ERR_CONFIG);
    CHECK(strstr(errstr, "empty.default") != NULL);
    lq_config_destroy(cfg);

    CHECK_INT(lq_config_create(&cfg, t_unbound, 1, argv, errstr, sizeof(errstr)), LQ_OK);
    CHECK_INT(lq_config_bind(cfg, &set, sizeof(set), errstr, sizeof(errstr)), LQ_ERR_CONFIG);
    CHECK(strstr(errstr, "x.y") != NULL);
    lq_config_destroy(cfg);
    CHECK_INT(lq_config_create(&cfg, t_twice, 1, argv, errstr, sizeof(errstr)), LQ_OK);
    CHECK_INT(lq_config_bind(cfg, &set, sizeof(set), errstr, sizeof(errstr)), LQ_ERR_CONFIG);
    CHECK(strstr(errstr, "x.a") != NULL && strstr(errstr, "x.b") != NULL);
    lq_config_destroy(cfg);
}

/* Each daemon's tables bind into its struct: no row is forgotten or bound twice. */
static void test_daemon_tables_bind(void)
{
    char *argv[] = {"llmq-test"};
    lq_config_t *cfg = NULL;
    char errstr[256] = "";
    ingest_settings_t in;
    worker_settings_t wk;
    sink_settings_t sk;

    CHECK_INT(lq_config_create(&cfg, ingest_settings_tables, 1, argv, errstr, sizeof(errstr)),
              LQ_OK);
    CHECK_INT(lq_config_bind(cfg, &in, sizeof(in), errstr, sizeof(errstr)), LQ_OK);
    CHECK_INT(in.http.port, 8080);
    CHECK_INT(in.pg.pool_size, 2);
    lq_config_destroy(cfg);
    CHECK_INT(lq_config_create(&cfg, worker_settings_tables, 1, argv, errstr, sizeof(errstr)),
              LQ_OK);
    CHECK_INT(lq_config_bind(cfg, &wk, sizeof(wk), errstr, sizeof(errstr)), LQ_OK);
    CHECK_INT(wk.worker.max_inflight, 1024);
    CHECK_STR(wk.worker.group, "llmq-workers");
    lq_config_destroy(cfg);
    CHECK_INT(lq_config_create(&cfg, sink_settings_tables, 1, argv, errstr, sizeof(errstr)), LQ_OK);
    CHECK_INT(lq_config_bind(cfg, &sk, sizeof(sk), errstr, sizeof(errstr)), LQ_OK);
    CHECK_INT(sk.sink.batch_max, 2000);
    CHECK_STR(sk.common.pg.url, "postgresql:///llmq");
    lq_config_destroy(cfg);
    if (*errstr)
        fprintf(stderr, "  %s\n", errstr);
}

int main(void)
{
    if (!mkdtemp(tmpdir_path)) {
        perror("mkdtemp");
        return 1;
    }
    clear_llmq_env();
    test_defaults();
    test_set_flags();
    test_env();
    test_file_and_precedence();
    test_refusals();
    test_reference();
    test_bind();
    test_daemon_tables_bind();
    rmdir(tmpdir_path);
    TEST_DONE();
}

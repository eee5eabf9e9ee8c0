/* common/metrics: counters, gauges, histograms, get-or-create, Prometheus text rendering
 * (one HELP/TYPE header per family, every series of a family together, cumulative
 * histogram buckets with _sum and _count), real-valued counters, label escaping, and the
 * cap on label values from outside (tenants beyond it count as "other"). The registry is process-wide: every metric
 * here has a name no other test uses. */
#include <pthread.h>
#include <stdint.h>

#include "common/metrics.h"
#include "testutil.h"

static char *render(void)
{
    size_t len = (size_t)-1;
    char *text = lq_metrics_render(&len);

    CHECK(text != NULL);
    if (!text)
        exit(1);
    CHECK_INT(len, strlen(text));
    return text;
}

/* The value of the sample line that starts with series (name or name{labels}) followed by
 * a space; NULL when absent. Points into text. */
static const char *sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    const char *p = text;

    while (p && *p) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return p + n + 1;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

static int value_is(const char *text, const char *series, const char *value)
{
    const char *v = sample(text, series);
    size_t n = strlen(value);

    return v && strncmp(v, value, n) == 0 && (v[n] == '\n' || v[n] == '\0');
}

static int has_value(const char *text, const char *series, const char *value)
{
    const char *v = sample(text, series);

    if (!value_is(text, series, value)) {
        fprintf(stderr, "series %s: got %.*s, expected %s\n", series, v ? (int)strcspn(v, "\n") : 6,
                v ? v : "absent", value);
        return 0;
    }
    return 1;
}

static int count_lines(const char *text, const char *line)
{
    size_t n = strlen(line);
    const char *p = text;
    int c = 0;

    while (p && *p) {
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            c++;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return c;
}

static void test_counter_gauge(void)
{
    lq_metric_t *a = lq_metrics_counter("tm_requests_total", "Requests seen.",
                                        "route=\"/v1/chat/completions\",status=\"200\"");
    lq_metric_t *b = lq_metrics_counter("tm_requests_total", "Requests seen.",
                                        "route=\"/v1/jobs\",status=\"202\"");
    lq_metric_t *plain = lq_metrics_counter("tm_plain_total", "No labels.", NULL);
    lq_metric_t *g = lq_metrics_gauge("tm_in_flight", "Jobs in flight.", NULL);
    lq_metric_t *gl = lq_metrics_gauge("tm_lag", "Consumer lag.", "partition=\"3\"");
    char *text;

    CHECK(a && b && plain && g && gl);
    CHECK(a != b);
    /* get-or-create: the same name and labels give the same handle */
    CHECK(lq_metrics_counter("tm_requests_total", "Requests seen.",
                             "route=\"/v1/chat/completions\",status=\"200\"") == a);
    CHECK(lq_metrics_counter("tm_plain_total", "No labels.", NULL) == plain);
    CHECK(lq_metrics_gauge("tm_in_flight", "Jobs in flight.", NULL) == g);

    text = render();
    CHECK(has_value(text, "tm_plain_total", "0")); /* registered, never incremented */
    free(text);

    lq_metric_add(a, 1);
    lq_metric_add(a, 5);
    lq_metric_add(b, 2);
    lq_metric_add(plain, 3);
    lq_metric_set(g, 42);
    lq_metric_add(g, -2);
    lq_metric_set(gl, -7);
    lq_metric_add(NULL, 1); /* NULL-safe */
    lq_metric_set(NULL, 1);
    lq_metric_observe_us(NULL, 1);

    text = render();
    CHECK(strstr(text, "# TYPE tm_requests_total counter\n") != NULL);
    CHECK(strstr(text, "# HELP tm_requests_total Requests seen.\n") != NULL);
    CHECK(strstr(text, "# TYPE tm_in_flight gauge\n") != NULL);
    CHECK(strstr(text, "# TYPE tm_plain_total counter\n") != NULL);
    CHECK(has_value(text, "tm_requests_total{route=\"/v1/chat/completions\",status=\"200\"}", "6"));
    CHECK(has_value(text, "tm_requests_total{route=\"/v1/jobs\",status=\"202\"}", "2"));
    CHECK(has_value(text, "tm_plain_total", "3"));
    CHECK(has_value(text, "tm_in_flight", "40"));
    CHECK(has_value(text, "tm_lag{partition=\"3\"}", "-7"));
    CHECK(sample(text, "tm_plain_total{}") == NULL); /* no empty braces on a plain series */
    CHECK(text[strlen(text) - 1] == '\n');
    free(text);
}

static void test_histogram(void)
{
    static const char *const les[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
                                      "0.05",   "0.1",   "0.25",   "0.5",   "1",    "2.5",
                                      "5",      "10",    "30",     "60",    "+Inf"};
    /* observations: 400 us, 500 us (on the first bound: le is inclusive), 1.5 ms, 2 s,
     * 100 s (only +Inf), and a negative duration (counted as 0) */
    static const char *const want[] = {"3", "3", "4", "4", "4", "4", "4", "4", "4",
                                       "4", "4", "5", "5", "5", "5", "5", "6"};
    lq_metric_t *h = lq_metrics_histogram("tm_latency_seconds", "Latency.", "stage=\"provider\"");
    lq_metric_t *h2 = lq_metrics_histogram("tm_latency_seconds", "Latency.", "stage=\"queue\"");
    lq_metric_t *hp = lq_metrics_histogram("tm_plain_seconds", "Unlabelled.", NULL);
    char *text, series[128];
    size_t i;

    CHECK(h && h2 && hp && h != h2);
    CHECK(lq_metrics_histogram("tm_latency_seconds", "Latency.", "stage=\"provider\"") == h);
    lq_metric_observe_us(h, 400);
    lq_metric_observe_us(h, 500);
    lq_metric_observe_us(h, 1500);
    lq_metric_observe_us(h, 2000000);
    lq_metric_observe_us(h, 100000000);
    lq_metric_observe_us(h, -20);
    lq_metric_observe_us(h2, 30000000); /* exactly 30 s */
    lq_metric_observe_us(hp, 7000);

    text = render();
    CHECK_INT(count_lines(text, "# TYPE tm_latency_seconds histogram"), 1);
    for (i = 0; i < sizeof(les) / sizeof(les[0]); i++) {
        snprintf(series, sizeof(series), "tm_latency_seconds_bucket{stage=\"provider\",le=\"%s\"}",
                 les[i]);
        CHECK(has_value(text, series, want[i]));
        snprintf(series, sizeof(series), "tm_latency_seconds_bucket{stage=\"queue\",le=\"%s\"}",
                 les[i]);
        CHECK(has_value(text, series, i >= 14 ? "1" : "0"));
        snprintf(series, sizeof(series), "tm_plain_seconds_bucket{le=\"%s\"}", les[i]);
        CHECK(has_value(text, series, i >= 4 ? "1" : "0"));
    }
    CHECK(has_value(text, "tm_latency_seconds_count{stage=\"provider\"}", "6"));
    CHECK(has_value(text, "tm_latency_seconds_sum{stage=\"provider\"}", "102.002400"));
    CHECK(has_value(text, "tm_latency_seconds_count{stage=\"queue\"}", "1"));
    CHECK(has_value(text, "tm_latency_seconds_sum{stage=\"queue\"}", "30.000000"));
    /* an unlabelled histogram's _sum/_count: "name 1" or "name{} 1" are both valid text */
    CHECK(value_is(text, "tm_plain_seconds_count", "1") ||
          value_is(text, "tm_plain_seconds_count{}", "1"));
    CHECK(value_is(text, "tm_plain_seconds_sum", "0.007000") ||
          value_is(text, "tm_plain_seconds_sum{}", "0.007000"));
    free(text);
}

/* Families registered interleaved still render as contiguous blocks, one header each. */
static void test_grouping(void)
{
    lq_metric_t *m[7];
    char *text, *copy, *line, *save = NULL;
    const char *families[] = {"tm_grp_a_total", "tm_grp_b", "tm_grp_c_seconds"};
    char seen_block[3] = {0, 0, 0};
    int current = -1, bad = 0, samples[3] = {0, 0, 0};
    size_t f;

    m[0] = lq_metrics_counter("tm_grp_a_total", "A.", "k=\"1\"");
    m[1] = lq_metrics_gauge("tm_grp_b", "B.", "k=\"1\"");
    m[2] = lq_metrics_counter("tm_grp_a_total", "A.", "k=\"2\"");
    m[3] = lq_metrics_histogram("tm_grp_c_seconds", "C.", "k=\"1\"");
    m[4] = lq_metrics_gauge("tm_grp_b", "B.", "k=\"2\"");
    m[5] = lq_metrics_counter("tm_grp_a_total", "A.", "k=\"3\"");
    m[6] = lq_metrics_histogram("tm_grp_c_seconds", "C.", "k=\"2\"");
    for (f = 0; f < 7; f++)
        CHECK(m[f] != NULL);
    lq_metric_add(m[5], 9);

    text = render();
    for (f = 0; f < 3; f++) {
        char hdr[96];
        snprintf(hdr, sizeof(hdr), "# TYPE %s ", families[f]);
        CHECK(strstr(text, hdr) != NULL);
        CHECK(strstr(strstr(text, hdr) ? strstr(text, hdr) + 1 : text, hdr) == NULL);
        snprintf(hdr, sizeof(hdr), "# HELP %s ", families[f]);
        CHECK(strstr(text, hdr) != NULL);
        CHECK(strstr(strstr(text, hdr) ? strstr(text, hdr) + 1 : text, hdr) == NULL);
    }
    CHECK(has_value(text, "tm_grp_a_total{k=\"3\"}", "9"));

    /* walk the exposition: every sample belongs to the family of the last TYPE line, and a
     * family's block is never reopened */
    copy = strdup(text);
    if (!copy)
        abort();
    for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# HELP ", 7) == 0)
            continue;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            current = -1;
            for (f = 0; f < 3; f++) {
                size_t l = strlen(families[f]);
                if (strncmp(line + 7, families[f], l) == 0 && line[7 + l] == ' ') {
                    current = (int)f;
                    if (seen_block[f]++)
                        bad++; /* a second header for the same family */
                }
            }
            continue;
        }
        for (f = 0; f < 3; f++) {
            size_t l = strlen(families[f]);
            if (strncmp(line, families[f], l) == 0 &&
                (line[l] == '{' || line[l] == ' ' || line[l] == '_')) {
                samples[f]++;
                if (current != (int)f) {
                    bad++;
                    fprintf(stderr, "sample outside its family's block: %s\n", line);
                }
            }
        }
    }
    free(copy);
    CHECK_INT(bad, 0);
    CHECK_INT(samples[0], 3);
    CHECK_INT(samples[1], 2);
    CHECK_INT(samples[2], 2 * (16 + 1 + 2)); /* 17 buckets + _sum + _count per series */
    free(text);
}

/* The whole exposition is well formed: each line a comment or "series value". */
static void test_format(void)
{
    char *text = render(), *copy = strdup(text), *line, *save = NULL;
    int bad = 0, lines = 0;

    if (!copy)
        abort();
    for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *sp;
        char *end;
        lines++;
        if (line[0] == '#') {
            if (strncmp(line, "# HELP ", 7) && strncmp(line, "# TYPE ", 7))
                bad++;
            continue;
        }
        sp = strrchr(line, ' ');
        if (!sp || sp == line) {
            bad++;
            continue;
        }
        (void)strtod(sp + 1, &end);
        if (*end != '\0' || end == sp + 1) {
            bad++;
            fprintf(stderr, "bad sample line: %s\n", line);
        }
    }
    CHECK(lines > 50);
    CHECK_INT(bad, 0);
    free(copy);
    free(text);
}

/* A counter of real numbers (dollars) and a name registered as another kind. */
static void test_real_and_kinds(void)
{
    lq_metric_t *cost = lq_metrics_counter("tm_cost_usd_total", "Cost.", "model=\"m\"");
    lq_metric_t *g = lq_metrics_gauge("tm_real_gauge", "Real gauge.", NULL);
    char *text;
    int i;

    CHECK(cost && g);
    text = render();
    CHECK(has_value(text, "tm_cost_usd_total{model=\"m\"}", "0"));
    free(text);
    for (i = 0; i < 3; i++)
        lq_metric_add_real(cost, 0.1);
    lq_metric_add(cost, 2);
    lq_metric_add_real(g, -0.25);
    lq_metric_add_real(NULL, 1.0); /* NULL-safe */
    text = render();
    CHECK(has_value(text, "tm_cost_usd_total{model=\"m\"}", "2.3"));
    CHECK(has_value(text, "tm_real_gauge", "-0.25"));
    free(text);
    /* one name, one kind: a histogram or gauge of a counter's name is refused */
    CHECK(lq_metrics_histogram("tm_cost_usd_total", "Cost.", "model=\"m\"") == NULL);
    CHECK(lq_metrics_gauge("tm_cost_usd_total", "Cost.", "model=\"n\"") == NULL);
    CHECK(lq_metrics_counter("tm_cost_usd_total", "Cost.", "model=\"m\"") == cost);
}

static void test_label_escape(void)
{
    char out[16];

    CHECK_INT(lq_metrics_label_escape(out, sizeof(out), "plain-1"), 0);
    CHECK_STR(out, "plain-1");
    CHECK_INT(lq_metrics_label_escape(out, sizeof(out), "a\"b\\c\nd"), 0);
    CHECK_STR(out, "a\\\"b\\\\c\\nd");
    CHECK_INT(lq_metrics_label_escape(out, sizeof(out), "0123456789abcdef"), -1);
    CHECK_STR(out, "");
    CHECK_INT(lq_metrics_label_escape(out, 8, "123456\""), -1); /* the escape does not fit */
}

/* At most max_values values get series of their own; the rest count as tenant="other". */
static void test_cap(void)
{
    lq_metric_cap_t *c =
        lq_metrics_capped_counters("tm_tenant_requests_total", "By tenant.", "tenant", NULL, 0, 2);
    lq_metric_t *const *a, *const *b, *const *x, *const *y;
    char *text;

    CHECK(c != NULL);
    a = lq_metrics_capped_get(c, "acme");
    b = lq_metrics_capped_get(c, "globex");
    x = lq_metrics_capped_get(c, "initech");
    y = lq_metrics_capped_get(c, "umbrella");
    CHECK(a && b && x && y);
    if (!a || !b || !x || !y)
        return;
    CHECK(a != b && x == y && x != a && x != b);
    CHECK(lq_metrics_capped_get(c, "acme") == a); /* admitted values keep their series */
    CHECK_INT(lq_metric_cap_count(c), 2);
    lq_metric_add(a[0], 3);
    lq_metric_add(b[0], 1);
    lq_metric_add(x[0], 1);
    lq_metric_add(y[0], 1);
    lq_metric_add(lq_metrics_capped_get(c, "acme")[0], 1);
    text = render();
    CHECK(has_value(text, "tm_tenant_requests_total{tenant=\"acme\"}", "4"));
    CHECK(has_value(text, "tm_tenant_requests_total{tenant=\"globex\"}", "1"));
    CHECK(has_value(text, "tm_tenant_requests_total{tenant=\"other\"}", "2"));
    CHECK(sample(text, "tm_tenant_requests_total{tenant=\"initech\"}") == NULL);
    CHECK(sample(text, "tm_tenant_requests_total{tenant=\"umbrella\"}") == NULL);
    CHECK_INT(count_lines(text, "# TYPE tm_tenant_requests_total counter"), 1);
    free(text);
    CHECK(lq_metrics_capped_get(NULL, "acme") == NULL);
    CHECK(lq_metrics_capped_get(c, NULL) == NULL);
    lq_metric_cap_destroy(c);
    lq_metric_cap_destroy(NULL);
}

/* Variants: one series per variant for each value; values are escaped; a cap of 0 sends
 * every value to "other". */
static void test_cap_variants(void)
{
    static const char *const dirs[] = {"direction=\"prompt\"", "direction=\"completion\""};
    lq_metric_cap_t *c =
        lq_metrics_capped_counters("tm_tenant_tokens_total", "Tokens.", "tenant", dirs, 2, 1);
    lq_metric_cap_t *none =
        lq_metrics_capped_counters("tm_tenant_none_total", "Nothing of its own.", "t", NULL, 0, 0);
    lq_metric_t *const *q, *const *o;
    char *text;

    CHECK(c && none);
    q = lq_metrics_capped_get(c, "we\"ird");
    o = lq_metrics_capped_get(c, "second");
    CHECK(q && o && q != o);
    if (!q || !o)
        return;
    lq_metric_add(q[0], 11);
    lq_metric_add(q[1], 5);
    lq_metric_add(o[1], 7);
    lq_metric_add(lq_metrics_capped_get(none, "a")[0], 1);
    lq_metric_add(lq_metrics_capped_get(none, "b")[0], 1);
    CHECK_INT(lq_metric_cap_count(none), 0);
    text = render();
    CHECK(
        has_value(text, "tm_tenant_tokens_total{tenant=\"we\\\"ird\",direction=\"prompt\"}", "11"));
    CHECK(has_value(text, "tm_tenant_tokens_total{tenant=\"we\\\"ird\",direction=\"completion\"}",
                    "5"));
    CHECK(has_value(text, "tm_tenant_tokens_total{tenant=\"other\",direction=\"prompt\"}", "0"));
    CHECK(
        has_value(text, "tm_tenant_tokens_total{tenant=\"other\",direction=\"completion\"}", "7"));
    CHECK(has_value(text, "tm_tenant_none_total{t=\"other\"}", "2"));
    free(text);
    lq_metric_cap_destroy(c);
    lq_metric_cap_destroy(none);
}

/* A cap of a caller's own entries: make runs once per admitted value and once for "other". */
static int makes;

static void *make_int(void *arg, const char *value)
{
    int *e = malloc(sizeof(*e));

    (void)arg;
    if (e)
        *e = strcmp(value, LQ_METRIC_CAP_OTHER) == 0 ? -1 : makes;
    makes++;
    return e;
}

static void test_cap_entries(void)
{
    lq_metric_cap_t *c = lq_metric_cap_create(3, make_int, NULL);
    char name[16];
    int i, *e;

    CHECK(c != NULL);
    for (i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "v%d", i % 5);
        e = lq_metric_cap_get(c, name);
        CHECK(e != NULL);
        if (e)
            CHECK_INT(*e, i % 5 < 3 ? i % 5 : -1);
    }
    CHECK_INT(makes, 4);
    CHECK_INT(lq_metric_cap_count(c), 3);
    lq_metric_cap_destroy(c);
}

#define N_CAP_THREADS 4
#define N_CAP_VALUES  50
#define N_CAP_ROUNDS  200

static lq_metric_cap_t *shared_cap;

/* Every thread counts each of N_CAP_VALUES tenants N_CAP_ROUNDS times, the threads in
 * different orders: the cap still admits exactly its bound, and no count is lost. */
static void *cap_adder(void *arg)
{
    int t = (int)(intptr_t)arg, r, v;
    char name[32];

    for (r = 0; r < N_CAP_ROUNDS; r++) {
        for (v = 0; v < N_CAP_VALUES; v++) {
            lq_metric_t *const *m;
            snprintf(name, sizeof(name), "t%02d", (v * (t + 1) + r) % N_CAP_VALUES);
            m = lq_metrics_capped_get(shared_cap, name);
            if (m)
                lq_metric_add(m[0], 1);
        }
    }
    return NULL;
}

static void test_cap_threads(void)
{
    pthread_t t[N_CAP_THREADS];
    char *text, *p;
    long long total = 0;
    int i, series = 0;

    shared_cap =
        lq_metrics_capped_counters("tm_cap_mt_total", "Concurrent tenants.", "tenant", NULL, 0, 10);
    CHECK(shared_cap != NULL);
    for (i = 0; i < N_CAP_THREADS; i++)
        CHECK_INT(pthread_create(&t[i], NULL, cap_adder, (void *)(intptr_t)i), 0);
    for (i = 0; i < N_CAP_THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK_INT(lq_metric_cap_count(shared_cap), 10);
    text = render();
    for (p = strstr(text, "\ntm_cap_mt_total{"); p; p = strstr(p + 1, "\ntm_cap_mt_total{")) {
        series++;
        total += atoll(strchr(p, ' ') + 1);
    }
    CHECK_INT(series, 11); /* 10 tenants and "other" */
    CHECK_INT(total, (long long)N_CAP_THREADS * N_CAP_ROUNDS * N_CAP_VALUES);
    free(text);
    lq_metric_cap_destroy(shared_cap);
}

#define N_THREADS 4
#define N_ADDS    100000

static void *adder(void *arg)
{
    lq_metric_t *c, *h;
    int i;

    (void)arg;
    /* the first adds look the handle up each time: get-or-create under contention */
    for (i = 0; i < 1000; i++)
        lq_metric_add(lq_metrics_counter("tm_mt_total", "Concurrent adds.", NULL), 1);
    c = lq_metrics_counter("tm_mt_total", "Concurrent adds.", NULL);
    for (; i < N_ADDS; i++)
        lq_metric_add(c, 1);
    h = lq_metrics_histogram("tm_mt_seconds", "Concurrent observations.", NULL);
    for (i = 0; i < 1000; i++)
        lq_metric_observe_us(h, 1000);
    return NULL;
}

static void test_threads(void)
{
    pthread_t t[N_THREADS];
    char *text, want[32];
    int i;

    for (i = 0; i < N_THREADS; i++)
        CHECK_INT(pthread_create(&t[i], NULL, adder, NULL), 0);
    for (i = 0; i < N_THREADS; i++)
        pthread_join(t[i], NULL);
    text = render();
    snprintf(want, sizeof(want), "%d", N_THREADS * N_ADDS);
    CHECK(has_value(text, "tm_mt_total", want));
    CHECK_INT(count_lines(text, "# TYPE tm_mt_total counter"), 1);
    snprintf(want, sizeof(want), "%d", N_THREADS * 1000);
    CHECK(has_value(text, "tm_mt_seconds_bucket{le=\"0.001\"}", want));
    free(text);
}

int main(void)
{
    test_counter_gauge();
    test_histogram();
    test_grouping();
    test_threads();
    test_real_and_kinds();
    test_label_escape();
    test_cap();
    test_cap_variants();
    test_cap_entries();
    test_cap_threads();
    test_format();
    TEST_DONE();
}

#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct cfg_entry {
    const lq_config_def_t *def;
    char *value;
} cfg_entry_t;

typedef struct cfg_pass {
    char *key; /* with the "kafka." prefix removed */
    char *value;
} cfg_pass_t;

struct lq_config {
    cfg_entry_t *entries;
    size_t n_entries;
    cfg_pass_t *pass;
    size_t n_pass;
};

static cfg_entry_t *find_entry(const lq_config_t *cfg, const char *key)
{
    size_t i;

    for (i = 0; i < cfg->n_entries; i++)
        if (strcmp(cfg->entries[i].def->key, key) == 0)
            return &cfg->entries[i];
    return NULL;
}

static lq_err_t check_value(const lq_config_def_t *def, const char *value, char *errstr,
                            size_t errstr_size)
{
    char *end = NULL;
    long long v;

    if (def->type == LQ_CFG_INT) {
        errno = 0;
        v = strtoll(value, &end, 10);
        if (errno || end == value || *end) {
            snprintf(errstr, errstr_size, "setting %s: \"%s\" is not an integer", def->key, value);
            return LQ_ERR_CONFIG;
        }
        if (v < def->min || v > def->max) {
            snprintf(errstr, errstr_size, "setting %s: %lld is outside [%lld, %lld]", def->key, v,
                     def->min, def->max);
            return LQ_ERR_CONFIG;
        }
    } else if (def->type == LQ_CFG_BOOL) {
        if (strcmp(value, "true") && strcmp(value, "false") && strcmp(value, "1") &&
            strcmp(value, "0")) {
            snprintf(errstr, errstr_size, "setting %s: \"%s\" is not true or false", def->key,
                     value);
            return LQ_ERR_CONFIG;
        }
    }
    return LQ_OK;
}

lq_err_t lq_config_set(lq_config_t *cfg, const char *key, const char *value, char *errstr,
                       size_t errstr_size)
{
    cfg_entry_t *e = find_entry(cfg, key);
    char *copy;
    lq_err_t err;

    if (!e) {
        size_t plen = strlen(LQ_CONFIG_PASSTHROUGH_KAFKA);
        cfg_pass_t *np;
        size_t i;

        if (strncmp(key, LQ_CONFIG_PASSTHROUGH_KAFKA, plen) != 0 || !key[plen]) {
            snprintf(errstr, errstr_size, "unknown setting \"%s\"", key);
            return LQ_ERR_CONFIG;
        }
        for (i = 0; i < cfg->n_pass; i++) {
            if (strcmp(cfg->pass[i].key, key + plen) == 0) {
                copy = strdup(value);
                if (!copy)
                    return LQ_ERR_NOMEM;
                free(cfg->pass[i].value);
                cfg->pass[i].value = copy;
                return LQ_OK;
            }
        }
        np = realloc(cfg->pass, (cfg->n_pass + 1) * sizeof(*np));
        if (!np)
            return LQ_ERR_NOMEM;
        cfg->pass = np;
        np[cfg->n_pass].key = strdup(key + plen);
        np[cfg->n_pass].value = strdup(value);
        if (!np[cfg->n_pass].key || !np[cfg->n_pass].value) {
            free(np[cfg->n_pass].key);
            free(np[cfg->n_pass].value);
            return LQ_ERR_NOMEM;
        }
        cfg->n_pass++;
        return LQ_OK;
    }
    err = check_value(e->def, value, errstr, errstr_size);
    if (err)
        return err;
    copy = strdup(value);
    if (!copy)
        return LQ_ERR_NOMEM;
    free(e->value);
    e->value = copy;
    return LQ_OK;
}

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* "key = value" lines; '#' starts a comment line. */
static lq_err_t load_file(lq_config_t *cfg, const char *path, char *errstr, size_t errstr_size)
{
    FILE *fp = fopen(path, "r");
    char line[4096];
    int lineno = 0;
    lq_err_t err = LQ_OK;

    if (!fp) {
        snprintf(errstr, errstr_size, "config file %s: %s", path, strerror(errno));
        return LQ_ERR_CONFIG;
    }
    while (fgets(line, sizeof(line), fp)) {
        char *s = trim(line), *eq;
        lineno++;
        if (!*s || *s == '#')
            continue;
        eq = strchr(s, '=');
        if (!eq) {
            snprintf(errstr, errstr_size, "config file %s:%d: expected key = value", path, lineno);
            err = LQ_ERR_CONFIG;
            break;
        }
        *eq = '\0';
        err = lq_config_set(cfg, trim(s), trim(eq + 1), errstr, errstr_size);
        if (err)
            break;
    }
    fclose(fp);
    return err;
}

static void env_name(char *dst, size_t dst_size, const char *key)
{
    size_t o = 0;

    o += (size_t)snprintf(dst, dst_size, "LLMQ_");
    for (; *key && o + 1 < dst_size; key++)
        dst[o++] = (*key == '.' || *key == '-') ? '_' : (char)toupper((unsigned char)*key);
    dst[o] = '\0';
}

/* Every row of every table, at its default. */
static lq_err_t load_defaults(lq_config_t *cfg, const lq_config_def_t *const *tables)
{
    size_t n = 0, t, i;

    for (t = 0; tables[t]; t++)
        for (i = 0; tables[t][i].key; i++)
            n++;
    cfg->entries = calloc(n ? n : 1, sizeof(*cfg->entries));
    if (!cfg->entries)
        return LQ_ERR_NOMEM;
    for (t = 0; tables[t]; t++) {
        for (i = 0; tables[t][i].key; i++) {
            cfg_entry_t *e = &cfg->entries[cfg->n_entries++];
            e->def = &tables[t][i];
            e->value = strdup(tables[t][i].def ? tables[t][i].def : "");
            if (!e->value)
                return LQ_ERR_NOMEM;
        }
    }
    return LQ_OK;
}

/* LLMQ_<KEY> for every key that has one. */
static lq_err_t load_env(lq_config_t *cfg, char *errstr, size_t errstr_size)
{
    size_t i;

    for (i = 0; i < cfg->n_entries; i++) {
        char name[256];
        const char *v;
        lq_err_t err;
        env_name(name, sizeof(name), cfg->entries[i].def->key);
        v = getenv(name);
        err = v ? lq_config_set(cfg, cfg->entries[i].def->key, v, errstr, errstr_size) : LQ_OK;
        if (err) {
            snprintf(errstr + strlen(errstr), errstr_size - strlen(errstr), " (from %s)", name);
            return err;
        }
    }
    return LQ_OK;
}

/* One --set key=value. */
static lq_err_t set_flag(lq_config_t *cfg, const char *arg, char *errstr, size_t errstr_size)
{
    char buf[4096], *eq;

    if (snprintf(buf, sizeof(buf), "%s", arg) >= (int)sizeof(buf)) {
        snprintf(errstr, errstr_size, "--set argument too long");
        return LQ_ERR_CONFIG;
    }
    eq = strchr(buf, '=');
    if (!eq) {
        snprintf(errstr, errstr_size, "--set %s: expected key=value", buf);
        return LQ_ERR_CONFIG;
    }
    *eq = '\0';
    return lq_config_set(cfg, buf, eq + 1, errstr, errstr_size);
}

/* --set flags, in order (--config was read before); anything else is refused. */
static lq_err_t load_flags(lq_config_t *cfg, int argc, char **argv, char *errstr,
                           size_t errstr_size)
{
    int a;

    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--config") == 0) {
            a++;
        } else if (strcmp(argv[a], "--set") == 0 && a + 1 < argc) {
            if (set_flag(cfg, argv[++a], errstr, errstr_size))
                return LQ_ERR_CONFIG;
        } else {
            snprintf(errstr, errstr_size, "unknown argument \"%s\" (try --help)", argv[a]);
            return LQ_ERR_CONFIG;
        }
    }
    return LQ_OK;
}

static const char *config_file(int argc, char **argv)
{
    const char *file = getenv("LLMQ_CONFIG");
    int a;

    for (a = 1; a < argc; a++)
        if (strcmp(argv[a], "--config") == 0 && a + 1 < argc)
            file = argv[a + 1];
    return file;
}

lq_err_t lq_config_create(lq_config_t **out, const lq_config_def_t *const *tables, int argc,
                          char **argv, char *errstr, size_t errstr_size)
{
    lq_config_t *cfg = calloc(1, sizeof(*cfg));
    const char *file = config_file(argc, argv);
    lq_err_t err = LQ_ERR_NOMEM;

    *out = NULL;
    if (!cfg)
        goto fail;
    err = load_defaults(cfg, tables);
    if (!err && file && *file)
        err = load_file(cfg, file, errstr, errstr_size);
    if (!err)
        err = load_env(cfg, errstr, errstr_size);
    if (!err)
        err = load_flags(cfg, argc, argv, errstr, errstr_size);
    if (err)
        goto fail;
    *out = cfg;
    return LQ_OK;
fail:
    lq_config_destroy(cfg);
    return err;
}

void lq_config_destroy(lq_config_t *cfg)
{
    size_t i;

    if (!cfg)
        return;
    for (i = 0; cfg->entries && i < cfg->n_entries; i++)
        free(cfg->entries[i].value);
    for (i = 0; i < cfg->n_pass; i++) {
        free(cfg->pass[i].key);
        free(cfg->pass[i].value);
    }
    free(cfg->entries);
    free(cfg->pass);
    free(cfg);
}

static const cfg_entry_t *must_find(const lq_config_t *cfg, const char *key)
{
    const cfg_entry_t *e = find_entry(cfg, key);

    if (!e) {
        fprintf(stderr, "BUG: setting %s is not in the daemon's table\n", key);
        abort();
    }
    return e;
}

const char *lq_config_str(const lq_config_t *cfg, const char *key)
{
    return must_find(cfg, key)->value;
}

long long lq_config_int(const lq_config_t *cfg, const char *key)
{
    return strtoll(must_find(cfg, key)->value, NULL, 10);
}

int lq_config_bool(const lq_config_t *cfg, const char *key)
{
    const char *v = must_find(cfg, key)->value;
    return strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

static size_t field_size(lq_cfg_type_t type)
{
    if (type == LQ_CFG_STRING)
        return sizeof(const char *);
    return type == LQ_CFG_INT ? sizeof(long long) : sizeof(int);
}

static lq_err_t check_binding(const lq_config_t *cfg, size_t i, size_t out_size, char *errstr,
                              size_t errstr_size)
{
    const lq_config_def_t *d = cfg->entries[i].def;
    size_t j, end = d->offset + field_size(d->type);

    /* offsets inside `source`, the struct's first member, belong to no setting */
    if (d->offset < sizeof(((lq_common_settings_t *)0)->source) || end > out_size) {
        snprintf(errstr, errstr_size, "BUG: setting %s is bound to no field of the settings",
                 d->key);
        return LQ_ERR_CONFIG;
    }
    for (j = 0; j < i; j++) {
        const lq_config_def_t *o = cfg->entries[j].def;
        if (o->offset < end && d->offset < o->offset + field_size(o->type)) {
            snprintf(errstr, errstr_size, "BUG: settings %s and %s are bound to one field", o->key,
                     d->key);
            return LQ_ERR_CONFIG;
        }
    }
    return LQ_OK;
}

static void bind_value(const cfg_entry_t *e, char *base)
{
    const char *v = e->value;

    if (e->def->type == LQ_CFG_STRING) {
        memcpy(base + e->def->offset, &v, sizeof(v));
    } else if (e->def->type == LQ_CFG_INT) {
        long long n = strtoll(v, NULL, 10);
        memcpy(base + e->def->offset, &n, sizeof(n));
    } else {
        int b = strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
        memcpy(base + e->def->offset, &b, sizeof(b));
    }
}

lq_err_t lq_config_bind(const lq_config_t *cfg, void *out, size_t out_size, char *errstr,
                        size_t errstr_size)
{
    lq_common_settings_t *common = out;
    size_t i;

    if (out_size < sizeof(*common)) {
        snprintf(errstr, errstr_size, "BUG: settings struct smaller than the common settings");
        return LQ_ERR_CONFIG;
    }
    for (i = 0; i < cfg->n_entries; i++)
        if (check_binding(cfg, i, out_size, errstr, errstr_size))
            return LQ_ERR_CONFIG;
    memset(out, 0, out_size);
    common->source = cfg;
    for (i = 0; i < cfg->n_entries; i++)
        bind_value(&cfg->entries[i], out);
    return LQ_OK;
}

size_t lq_config_passthrough_count(const lq_config_t *cfg)
{
    return cfg->n_pass;
}

void lq_config_passthrough_get(const lq_config_t *cfg, size_t i, const char **key,
                               const char **value)
{
    *key = cfg->pass[i].key;
    *value = cfg->pass[i].value;
}

void lq_config_print_reference(const lq_config_def_t *const *tables, FILE *fp)
{
    static const char *const type_names[] = {"string", "int", "bool"};
    size_t t, i;

    fprintf(fp, "| key | environment | type | default | range | description |\n");
    fprintf(fp, "|---|---|---|---|---|---|\n");
    for (t = 0; tables[t]; t++) {
        for (i = 0; tables[t][i].key; i++) {
            const lq_config_def_t *d = &tables[t][i];
            char env[256], range[64] = "";
            env_name(env, sizeof(env), d->key);
            if (d->type == LQ_CFG_INT)
                snprintf(range, sizeof(range), "%lld – %lld", d->min, d->max);
            fprintf(fp, "| `%s` | `%s` | %s | `%s` | %s | %s |\n", d->key, env, type_names[d->type],
                    d->def && *d->def ? d->def : "", range, d->doc);
        }
    }
}

int lq_config_handle_info_flags(const lq_config_def_t *const *tables, const char *daemon, int argc,
                                char **argv)
{
    int a;

    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            printf("usage: %s [--config FILE] [--set key=value]...\n"
                   "       %s --config-reference   (settings as a Markdown table)\n"
                   "Settings also come from LLMQ_* environment variables; see "
                   "docs/configuration.md.\n",
                   daemon, daemon);
            return 1;
        }
        if (strcmp(argv[a], "--config-reference") == 0) {
            lq_config_print_reference(tables, stdout);
            return 1;
        }
    }
    return 0;
}

const lq_config_def_t lq_common_settings[] = {
    {"log.level", LQ_CFG_STRING, "info", 0, 0, "error, warn, info or debug",
     LQ_CFG_AT(lq_common_settings_t, log.level)},
    {"log.json", LQ_CFG_BOOL, "false", 0, 0, "write logs as one JSON object per line",
     LQ_CFG_AT(lq_common_settings_t, log.json)},
    {"kafka.brokers", LQ_CFG_STRING, "127.0.0.1:9092", 0, 0,
     "Kafka bootstrap servers (host:port,...); other kafka.* keys in the config file go to "
     "librdkafka verbatim",
     LQ_CFG_AT(lq_common_settings_t, kafka.brokers)},
    {"kafka.compression", LQ_CFG_STRING, "none", 0, 0,
     "compression of produced batches: none, lz4, zstd, gzip or snappy (none is cheapest in "
     "CPU for llmq's small batches; lz4 stretches the embedded cluster's memory)",
     LQ_CFG_AT(lq_common_settings_t, kafka.compression)},
    {"secrets.master_key_file", LQ_CFG_STRING, "", 0, 0,
     "file holding the master key that encrypts tenants' provider keys (32 bytes: 64 hex "
     "digits or base64); empty = the environment variable LLMQ_MASTER_KEY, or no provider "
     "keys of tenants",
     LQ_CFG_AT(lq_common_settings_t, secrets.master_key_file)},
    {"pg.url", LQ_CFG_STRING, "postgresql:///llmq", 0, 0,
     "PostgreSQL connection string (libpq URI or key=value)",
     LQ_CFG_AT(lq_common_settings_t, pg.url)},
    {"limits.enforce", LQ_CFG_BOOL, "true", 0, 0,
     "enforce the limits of tiers, tenants, projects, users, keys and the installation "
     "(docs/limits.md); false: they are stored and shown, never enforced",
     LQ_CFG_AT(lq_common_settings_t, limits.enforce)},
    {"limits.lease_ms", LQ_CFG_INT, "1000", 100, 60000,
     "how long a node may admit from one grant of the limit ledger; longer: fewer exchanges, "
     "a window up to this much longer at its edges",
     LQ_CFG_AT(lq_common_settings_t, limits.lease_ms)},
    {"limits.slot_lease_ms", LQ_CFG_INT, "5000", 1000, 600000,
     "how long a node's concurrency slots live without renewal: the longest that a stopped "
     "node's slots stay taken",
     LQ_CFG_AT(lq_common_settings_t, limits.slot_lease_ms)},
    {"limits.default_max_tokens", LQ_CFG_INT, "1024", 1, 10000000,
     "the completion tokens a request without max_tokens reserves against token limits and "
     "budgets (settled to what it used when it ends)",
     LQ_CFG_AT(lq_common_settings_t, limits.default_max_tokens)},
    {"metrics.max_tenants", LQ_CFG_INT, "100", 0, 100000,
     "distinct tenants with series of their own in a process's per-tenant metrics (ingest "
     "nodes and workers, docs/observability.md); the others are counted as tenant=\"other\"",
     LQ_CFG_AT(lq_common_settings_t, metrics.max_tenants)},
    {"tracing.otlp_endpoint", LQ_CFG_STRING, "", 0, 0,
     "OTLP/HTTP trace endpoint of an OpenTelemetry collector, e.g. "
     "http://collector:4318/v1/traces; empty: no spans are exported (the W3C trace context is "
     "still carried to the providers; docs/observability.md)",
     LQ_CFG_AT(lq_common_settings_t, tracing.otlp_endpoint)},
    {"tracing.otlp_headers", LQ_CFG_STRING, "", 0, 0,
     "HTTP headers sent with every export, as Name=Value pairs separated by commas (e.g. a "
     "collector's credentials: Authorization=Bearer ...); like OTEL_EXPORTER_OTLP_HEADERS",
     LQ_CFG_AT(lq_common_settings_t, tracing.otlp_headers)},
    {"tracing.sample_percent", LQ_CFG_INT, "100", 0, 100,
     "share of the traces an ingest node starts (requests without a traceparent) that are "
     "sampled; a caller's traceparent keeps its own sampled flag",
     LQ_CFG_AT(lq_common_settings_t, tracing.sample_percent)},
    {"tracing.max_queue_spans", LQ_CFG_INT, "8192", 1, 1000000,
     "spans waiting for the collector at most; beyond, new spans are dropped and counted "
     "(llmq_otlp_spans_dropped_total)",
     LQ_CFG_AT(lq_common_settings_t, tracing.max_queue_spans)},
    {"tracing.provider_headers", LQ_CFG_BOOL, "true", 0, 0,
     "send traceparent (and the caller's tracestate) on provider calls (workers); false keeps "
     "trace ids inside llmq",
     LQ_CFG_AT(lq_common_settings_t, tracing.provider_headers)},
    {"topic.requests", LQ_CFG_STRING, "llmq.requests", 0, 0,
     "topic of accepted chat requests (key = tenant)",
     LQ_CFG_AT(lq_common_settings_t, topic.requests)},
    {"topic.responses", LQ_CFG_STRING, "llmq.responses", 0, 0,
     "topic of job status changes and results", LQ_CFG_AT(lq_common_settings_t, topic.responses)},
    {"topic.usage", LQ_CFG_STRING, "llmq.usage", 0, 0, "topic of usage events",
     LQ_CFG_AT(lq_common_settings_t, topic.usage)},
    {"topic.traces", LQ_CFG_STRING, "llmq.traces", 0, 0, "topic of trace events",
     LQ_CFG_AT(lq_common_settings_t, topic.traces)},
    {"topic.dlq", LQ_CFG_STRING, "llmq.requests.dlq", 0, 0,
     "dead-letter topic for requests that cannot be processed",
     LQ_CFG_AT(lq_common_settings_t, topic.dlq)},
    {"topic.cancels", LQ_CFG_STRING, "llmq.cancels", 0, 0,
     "topic of job cancellations (key = tenant; same partition count as topic.requests)",
     LQ_CFG_AT(lq_common_settings_t, topic.cancels)},
    {"topic.batch", LQ_CFG_STRING, "llmq.requests.batch", 0, 0,
     "topic of batch jobs, one record per line of a batch (key = tenant; same partition count "
     "as topic.requests); workers read it when interactive work leaves room",
     LQ_CFG_AT(lq_common_settings_t, topic.batch)},
    {"topic.replies_prefix", LQ_CFG_STRING, "llmq.replies.", 0, 0,
     "prefix of each ingest node's reply topic (the node id follows)",
     LQ_CFG_AT(lq_common_settings_t, topic.replies_prefix)},
    {NULL, 0, NULL, 0, 0, NULL, 0}};

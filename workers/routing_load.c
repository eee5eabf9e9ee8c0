/* Routing tables: loading them from JSON or from the settings, and freeing them. The
 * decisions are in routing.c. See workers/routing.h and docs/routing.md. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "workers/routing_table.h"

/* ---------- small helpers ---------- */

static char *dup_s(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void free_strv(char **v, size_t n)
{
    size_t i;

    for (i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* A JSON string or array of strings into a vector (lower-cased when lower). */
static int strv_from_json(json_t *j, char ***out, size_t *n, int lower)
{
    size_t i, cnt = json_is_array(j) ? json_array_size(j) : (json_is_string(j) ? 1 : 0);
    char **v;

    *out = NULL;
    *n = 0;
    if (!j)
        return 0;
    if (!cnt && !json_is_array(j))
        return -1;
    v = calloc(cnt ? cnt : 1, sizeof(*v));
    if (!v)
        return -1;
    for (i = 0; i < cnt; i++) {
        json_t *e = json_is_array(j) ? json_array_get(j, i) : j;
        char *p;
        if (!json_is_string(e) || !(v[i] = strdup(json_string_value(e)))) {
            free_strv(v, i);
            return -1;
        }
        for (p = v[i]; lower && *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    *out = v;
    *n = cnt;
    return 0;
}

static void endpoint_clear(route_endpoint_t *e)
{
    free(e->name);
    free(e->base_url);
    free_strv(e->keys, e->n_keys);
    free_strv(e->headers, e->n_headers);
    memset(e, 0, sizeof(*e));
}

void routing_free(routing_t *r)
{
    size_t i, k;

    if (!r)
        return;
    for (i = 0; i < r->n_endpoints; i++)
        endpoint_clear(&r->endpoints[i]);
    free(r->endpoints);
    for (i = 0; i < r->n_aliases; i++) {
        free(r->aliases[i].name);
        free_strv(r->aliases[i].targets, r->aliases[i].n);
    }
    free(r->aliases);
    for (i = 0; i < r->n_prefixes; i++) {
        free(r->prefixes[i].prefix);
        free(r->prefixes[i].endpoint);
    }
    free(r->prefixes);
    for (i = 0; i < r->n_sets; i++) {
        for (k = 0; k < r->sets[i].n; k++) {
            route_rule_t *ru = &r->sets[i].rules[k];
            free(ru->name);
            free_strv(ru->words, ru->n_words);
            free_strv(ru->models, ru->n_models);
            free_strv(ru->targets, ru->n_targets);
        }
        free(r->sets[i].rules);
        free(r->sets[i].scope);
    }
    free(r->sets);
    free(r->slash_endpoint);
    free(r->default_endpoint);
    free(r);
}

static route_endpoint_t *add_endpoint(routing_t *r, const char *name)
{
    route_endpoint_t *n = realloc(r->endpoints, (r->n_endpoints + 1) * sizeof(*n));

    if (!n)
        return NULL;
    r->endpoints = n;
    n = &r->endpoints[r->n_endpoints];
    memset(n, 0, sizeof(*n));
    if (!(n->name = strdup(name)))
        return NULL;
    r->n_endpoints++;
    return n;
}

static int add_key(route_endpoint_t *e, const char *key)
{
    char **n;

    if (!key || !*key)
        return 0;
    n = realloc(e->keys, (e->n_keys + 1) * sizeof(*n));
    if (!n)
        return -1;
    e->keys = n;
    if (!(e->keys[e->n_keys] = strdup(key)))
        return -1;
    e->n_keys++;
    return 0;
}

static int add_header(route_endpoint_t *e, const char *name, const char *value)
{
    char **n = realloc(e->headers, (e->n_headers + 1) * sizeof(*n));
    size_t len = strlen(name) + strlen(value) + 3;

    if (!n)
        return -1;
    e->headers = n;
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return -1; /* no header injection through the routing table */
    if (!(e->headers[e->n_headers] = malloc(len)))
        return -1;
    snprintf(e->headers[e->n_headers], len, "%s: %s", name, value);
    e->n_headers++;
    return 0;
}

static int add_prefix(routing_t *r, const char *prefix, const char *endpoint)
{
    prefix_map_t *n = realloc(r->prefixes, (r->n_prefixes + 1) * sizeof(*n));

    if (!n)
        return -1;
    r->prefixes = n;
    n[r->n_prefixes].prefix = strdup(prefix);
    n[r->n_prefixes].endpoint = strdup(endpoint);
    if (!n[r->n_prefixes].prefix || !n[r->n_prefixes].endpoint) {
        free(n[r->n_prefixes].prefix);
        free(n[r->n_prefixes].endpoint);
        return -1;
    }
    r->n_prefixes++;
    return 0;
}

/* "endpoint NAME: unknown wire (openai, ..., mock)", the wires named from their table. */
static void unknown_wire(const char *name, char *errstr, size_t errstr_size)
{
    char wires[200];
    size_t o = 0;
    int i;

    wires[0] = '\0';
    for (i = 0; worker_wire_parse(worker_wire_name((worker_wire_t)i)) == i && o < sizeof(wires);
         i++)
        o += (size_t)snprintf(wires + o, sizeof(wires) - o, "%s, ",
                              worker_wire_name((worker_wire_t)i));
    snprintf(errstr, errstr_size, "endpoint %s: unknown wire (%smock)", name, wires);
}

static int load_endpoint(routing_t *r, const char *name, json_t *j, char *errstr,
                         size_t errstr_size)
{
    route_endpoint_t *e;
    json_t *v;
    const char *k, *wire_name;
    int wire;

    if (!json_is_object(j)) {
        snprintf(errstr, errstr_size, "endpoint %s: not an object", name);
        return -1;
    }
    if (routing_find_endpoint(r, name) >= 0) {
        snprintf(errstr, errstr_size, "endpoint %s: defined twice", name);
        return -1;
    }
    if (!(e = add_endpoint(r, name)))
        return -1;
    wire_name = json_string_value(json_object_get(j, "wire"));
    if (!wire_name)
        wire_name = "openai";
    if (strcmp(wire_name, "mock") == 0) {
        e->is_mock = 1;
        return 0;
    }
    wire = worker_wire_parse(wire_name);
    if (wire < 0) {
        unknown_wire(name, errstr, errstr_size);
        return -1;
    }
    e->wire = (worker_wire_t)wire;
    v = json_object_get(j, "base_url");
    if (!json_is_string(v) || !*json_string_value(v)) {
        snprintf(errstr, errstr_size, "endpoint %s: base_url missing", name);
        return -1;
    }
    e->base_url = strdup(json_string_value(v));
    if (!e->base_url)
        return -1;
    while (*e->base_url && e->base_url[strlen(e->base_url) - 1] == '/')
        e->base_url[strlen(e->base_url) - 1] = '\0';
    v = json_object_get(j, "api_key_env");
    if (v) {
        char **names = NULL;
        size_t n = 0, i;
        if (strv_from_json(v, &names, &n, 0)) {
            snprintf(errstr, errstr_size, "endpoint %s: api_key_env must be a name or a list",
                     name);
            return -1;
        }
        for (i = 0; i < n; i++) {
            const char *val = getenv(names[i]);
            if (add_key(e, val)) {
                free_strv(names, n);
                return -1;
            }
        }
        free_strv(names, n);
    }
    v = json_object_get(j, "api_key");
    if (json_is_string(v) && add_key(e, json_string_value(v)))
        return -1;
    json_object_foreach(json_object_get(j, "headers"), k, v)
    {
        if (!json_is_string(v) || add_header(e, k, json_string_value(v))) {
            snprintf(errstr, errstr_size, "endpoint %s: bad header %s", name, k);
            return -1;
        }
    }
    v = json_object_get(j, "default_max_tokens");
    e->default_max_tokens = json_is_integer(v) ? (int32_t)json_integer_value(v) : 4096;
    return 0;
}

static int load_rules(routing_t *r, const char *scope, json_t *arr, char *errstr,
                      size_t errstr_size)
{
    rule_set_t *ns, *set;
    size_t i;

    if (!arr)
        return 0;
    if (!json_is_array(arr)) {
        snprintf(errstr, errstr_size, "rules of %s: not a list", scope);
        return -1;
    }
    ns = realloc(r->sets, (r->n_sets + 1) * sizeof(*ns));
    if (!ns)
        return -1;
    r->sets = ns;
    set = &r->sets[r->n_sets++];
    memset(set, 0, sizeof(*set));
    set->scope = strdup(scope);
    set->rules = calloc(json_array_size(arr) + 1, sizeof(*set->rules));
    if (!set->scope || !set->rules)
        return -1;
    for (i = 0; i < json_array_size(arr); i++) {
        json_t *j = json_array_get(arr, i), *cond = json_object_get(j, "if"), *v;
        route_rule_t *ru = &set->rules[set->n++];
        char name[32];
        snprintf(name, sizeof(name), "rule%zu", i + 1);
        v = json_object_get(j, "name");
        ru->name = strdup(json_is_string(v) ? json_string_value(v) : name);
        if (!ru->name)
            return -1;
        if (cond && !json_is_object(cond)) {
            snprintf(errstr, errstr_size, "rule %s (%s): \"if\" must be an object", ru->name,
                     scope);
            return -1;
        }
        if (strv_from_json(json_object_get(cond, "words"), &ru->words, &ru->n_words, 1) ||
            strv_from_json(json_object_get(cond, "models"), &ru->models, &ru->n_models, 0) ||
            strv_from_json(json_object_get(j, "then"), &ru->targets, &ru->n_targets, 0) ||
            ru->n_targets == 0) {
            snprintf(errstr, errstr_size,
                     "rule %s (%s): \"then\" must list targets; words/models "
                     "must be strings",
                     ru->name, scope);
            return -1;
        }
        ru->spread = json_is_true(json_object_get(j, "spread"));
        ru->json = json_is_true(json_object_get(cond, "json"));
        ru->code = json_is_true(json_object_get(cond, "code"));
        v = json_object_get(cond, "min_messages");
        ru->min_messages = json_is_integer(v) ? json_integer_value(v) : 0;
        v = json_object_get(cond, "min_prompt_tokens");
        ru->min_prompt_tokens = json_is_integer(v) ? json_integer_value(v) : 0;
    }
    return 0;
}

/* The model name prefixes that pick an endpoint when a table names none; 0 or -1. */
static int default_prefixes(routing_t *r)
{
    return add_prefix(r, "claude-", "anthropic") || add_prefix(r, "gemini-", "gemini") ||
                   add_prefix(r, "sonar", "perplexity") || add_prefix(r, "mock", "mock")
               ? -1
               : 0;
}

/* The endpoints a deployment without a routing file gets, from the settings. */
static int builtin_endpoints(routing_t *r, const worker_settings_t *set)
{
    const struct {
        const char *name, *wire, *key, *url;
    } providers[] = {{"openai", "openai", set->openai.api_key, set->openai.base_url},
                     {"anthropic", "anthropic", set->anthropic.api_key, set->anthropic.base_url},
                     {"gemini", "gemini", set->gemini.api_key, set->gemini.base_url},
                     {"openrouter", "openai", set->openrouter.api_key, set->openrouter.base_url},
                     {"perplexity", "openai", set->perplexity.api_key, set->perplexity.base_url}};
    size_t i;

    for (i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
        const char *key = providers[i].key;
        route_endpoint_t *e;
        if (!key || !*key)
            continue;
        if (!(e = add_endpoint(r, providers[i].name)))
            return -1;
        e->wire = (worker_wire_t)worker_wire_parse(providers[i].wire);
        e->base_url = strdup(providers[i].url);
        e->default_max_tokens = 4096;
        if (!e->base_url || add_key(e, key))
            return -1;
        while (*e->base_url && e->base_url[strlen(e->base_url) - 1] == '/')
            e->base_url[strlen(e->base_url) - 1] = '\0';
        if (strcmp(providers[i].name, "openrouter") == 0) {
            const char *ref = set->openrouter.referer, *title = set->openrouter.title;
            if ((*ref && add_header(e, "HTTP-Referer", ref)) ||
                (*title && add_header(e, "X-Title", title)))
                return -1;
        }
    }
    if (default_prefixes(r))
        return -1;
    r->slash_endpoint = strdup("openrouter");
    r->default_endpoint = strdup("openai");
    return r->slash_endpoint && r->default_endpoint ? 0 : -1;
}

/* The table's aliases: a target, a list of targets, or {"targets": [...], "spread": true};
 * 0 or -1 (errstr says which, or stays "out of memory"). */
static int load_aliases(routing_t *r, json_t *aliases, char *errstr, size_t errstr_size)
{
    const char *k;
    json_t *v;

    json_object_foreach(aliases, k, v)
    {
        alias_t *na = realloc(r->aliases, (r->n_aliases + 1) * sizeof(*na));
        if (!na)
            return -1;
        r->aliases = na;
        memset(&na[r->n_aliases], 0, sizeof(*na));
        if (!(na[r->n_aliases].name = strdup(k)))
            return -1;
        r->n_aliases++;
        if (json_is_object(v)) { /* {"targets": [...], "spread": true} */
            na[r->n_aliases - 1].spread = json_is_true(json_object_get(v, "spread"));
            v = json_object_get(v, "targets");
        }
        if (!v || strv_from_json(v, &na[r->n_aliases - 1].targets, &na[r->n_aliases - 1].n, 0)) {
            snprintf(errstr, errstr_size,
                     "alias %s: a target, a list of targets, or "
                     "{\"targets\": [...], \"spread\": true}",
                     k);
            return -1;
        }
    }
    return 0;
}

/* The table's model_prefixes (prefix -> endpoint), or the default ones; 0 or -1. */
static int load_prefixes(routing_t *r, json_t *prefixes, char *errstr, size_t errstr_size)
{
    const char *k;
    json_t *e;

    if (!prefixes)
        return default_prefixes(r);
    json_object_foreach(prefixes, k, e)
    {
        if (!json_is_string(e) || add_prefix(r, k, json_string_value(e))) {
            snprintf(errstr, errstr_size, "model_prefixes: %s must name an endpoint", k);
            return -1;
        }
    }
    return 0;
}

/* The global rules, then each project's and each tenant's; 0 or -1. */
static int load_all_rules(routing_t *r, json_t *root, char *errstr, size_t errstr_size)
{
    static const char *const scopes[] = {"project", "tenant"};
    char key[16], scope[200];
    const char *k;
    json_t *m;
    size_t s;

    if (load_rules(r, "global", json_object_get(root, "rules"), errstr, errstr_size))
        return -1;
    for (s = 0; s < 2; s++) {
        snprintf(key, sizeof(key), "%ss", scopes[s]);
        json_object_foreach(json_object_get(root, key), k, m)
        {
            snprintf(scope, sizeof(scope), "%s:%s", scopes[s], k);
            if (load_rules(r, scope, json_object_get(m, "rules"), errstr, errstr_size))
                return -1;
        }
    }
    return 0;
}

/* A routing table's JSON into r; 0 or -1. */
static int load_table(routing_t *r, json_t *root, char *errstr, size_t errstr_size)
{
    const char *k;
    json_t *v;

    json_object_foreach(json_object_get(root, "endpoints"), k, v)
    {
        if (strcmp(k, "mock") == 0)
            continue; /* always there */
        if (load_endpoint(r, k, v, errstr, errstr_size))
            return -1;
    }
    if (load_aliases(r, json_object_get(root, "aliases"), errstr, errstr_size) ||
        load_prefixes(r, json_object_get(root, "model_prefixes"), errstr, errstr_size))
        return -1;
    r->slash_endpoint = dup_s(json_string_value(json_object_get(root, "slash_models")));
    r->default_endpoint = dup_s(json_string_value(json_object_get(root, "default_endpoint")));
    return load_all_rules(r, root, errstr, errstr_size);
}

routing_t *routing_load(const char *json_text, const worker_settings_t *set, char *errstr,
                        size_t errstr_size)
{
    routing_t *r = calloc(1, sizeof(*r));
    json_t *root = NULL;
    json_error_t jerr;
    route_endpoint_t *mock;

    snprintf(errstr, errstr_size, "out of memory");
    if (!r || !(mock = add_endpoint(r, "mock")))
        goto fail;
    mock->is_mock = 1;
    if (!json_text) {
        if (builtin_endpoints(r, set) || load_rules(r, "global", NULL, errstr, errstr_size))
            goto fail;
        return r;
    }
    root = json_loads(json_text, 0, &jerr);
    if (!json_is_object(root)) {
        snprintf(errstr, errstr_size, "routing table: line %d: %s", jerr.line,
                 root ? "not a JSON object" : jerr.text);
        goto fail;
    }
    if (load_table(r, root, errstr, errstr_size))
        goto fail;
    json_decref(root);
    errstr[0] = '\0';
    return r;
fail:
    json_decref(root);
    routing_free(r);
    return NULL;
}

/* ---------- decisions ---------- */

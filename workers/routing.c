/* Routing decisions: which endpoints and models may serve a request, in order. The
 * tables are loaded by routing_load.c. See workers/routing.h and docs/routing.md. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret_scan.h"
#include "workers/routing_table.h"

size_t routing_endpoint_count(const routing_t *r)
{
    return r->n_endpoints;
}

const route_endpoint_t *routing_endpoint(const routing_t *r, int i)
{
    return i >= 0 && (size_t)i < r->n_endpoints ? &r->endpoints[i] : NULL;
}

int routing_find_endpoint(const routing_t *r, const char *name)
{
    size_t i;

    for (i = 0; name && i < r->n_endpoints; i++)
        if (strcmp(r->endpoints[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* ---------- loading ---------- */

static const alias_t *find_alias(const routing_t *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->n_aliases; i++)
        if (strcmp(r->aliases[i].name, name) == 0)
            return &r->aliases[i];
    return NULL;
}

static int has_real_endpoint(const routing_t *r)
{
    size_t i;

    for (i = 0; i < r->n_endpoints; i++)
        if (!r->endpoints[i].is_mock)
            return 1;
    return 0;
}

static void add_candidate(route_decision_t *d, int ep, const char *model)
{
    size_t i;

    for (i = 0; i < d->n; i++)
        if (d->candidates[i].endpoint == ep && strcmp(d->candidates[i].model, model) == 0)
            return; /* listed already */
    if (d->n >= ROUTE_MAX_CANDIDATES)
        return;
    d->candidates[d->n].endpoint = ep;
    snprintf(d->candidates[d->n].model, sizeof(d->candidates[d->n].model), "%s", model);
    d->n++;
}

/* One model name (no alias) to its endpoint. */
static int resolve_model(const routing_t *r, const char *model, route_decision_t *d)
{
    const char *colon = strchr(model, ':');
    size_t i, best = 0;
    const char *ep_name = NULL;
    int ep;

    if (colon) {
        char name[64];
        size_t n = (size_t)(colon - model);
        if (n < sizeof(name)) {
            memcpy(name, model, n);
            name[n] = '\0';
            if ((ep = routing_find_endpoint(r, name)) >= 0) {
                add_candidate(d, ep, colon + 1);
                return 0;
            }
        }
    }
    for (i = 0; i < r->n_prefixes; i++) {
        size_t n = strlen(r->prefixes[i].prefix);
        if (n > best && strncmp(model, r->prefixes[i].prefix, n) == 0) {
            best = n;
            ep_name = r->prefixes[i].endpoint;
        }
    }
    if (!ep_name && strchr(model, '/') && r->slash_endpoint &&
        routing_find_endpoint(r, r->slash_endpoint) >= 0)
        ep_name = r->slash_endpoint;
    if (!ep_name)
        ep_name = r->default_endpoint;
    ep = routing_find_endpoint(r, ep_name);
    if (ep < 0 && !has_real_endpoint(r))
        ep = 0; /* no provider configured at all: the mock serves every model (demos) */
    if (ep < 0) {
        snprintf(d->error, sizeof(d->error), "no provider is configured for model %s%s%s", model,
                 ep_name ? " (it needs endpoint " : "", ep_name ? ep_name : "");
        if (ep_name)
            strncat(d->error, ")", sizeof(d->error) - strlen(d->error) - 1);
        return -1;
    }
    add_candidate(d, ep, model);
    return 0;
}

/* Spread load: rotate candidates [from, d->n) by seq (each request starts elsewhere;
 * the others stay behind it as fallbacks). */
static void rotate(route_decision_t *d, size_t from, uint64_t seq)
{
    size_t n = d->n - from, k, i;
    route_candidate_t tmp[ROUTE_MAX_CANDIDATES];

    if (n < 2 || !(k = (size_t)(seq % n)))
        return;
    for (i = 0; i < n; i++)
        tmp[i] = d->candidates[from + (i + k) % n];
    memcpy(&d->candidates[from], tmp, n * sizeof(tmp[0]));
}

static int resolve_target(const routing_t *r, const char *target, const char *client_model,
                          route_decision_t *d, int depth, uint64_t seq)
{
    const alias_t *a;
    size_t i, from = d->n;
    int ok = 0;

    if (strcmp(target, "$model") == 0)
        target = client_model;
    a = depth < 4 ? find_alias(r, target) : NULL;
    if (!a)
        return resolve_model(r, target, d);
    for (i = 0; i < a->n; i++)
        if (resolve_target(r, a->targets[i], client_model, d, depth + 1, seq) == 0)
            ok = 1;
    if (a->spread)
        rotate(d, from, seq);
    return ok ? 0 : -1;
}

static int has_word(const char *text, const char *w)
{
    return lq_contains_word(text, strlen(text), w);
}

static const char *last_user_text(const lq_chat_request_t *req)
{
    size_t i = req->n_messages;

    while (i-- > 0)
        if (strcmp(req->messages[i].role, "user") == 0)
            return req->messages[i].content;
    return "";
}

static int wants_json(const lq_chat_request_t *req, const char *text)
{
    if (req->extra_json && strstr(req->extra_json, "\"response_format\"") &&
        (strstr(req->extra_json, "json_object") || strstr(req->extra_json, "json_schema")))
        return 1;
    return has_word(text, "json");
}

static int looks_like_code(const char *text)
{
    static const char *const words[] = {"code",  "function", "python", "javascript", "sql",
                                        "regex", "compile",  "bug",    "refactor",   NULL};
    size_t i;

    if (strstr(text, "```"))
        return 1;
    for (i = 0; words[i]; i++)
        if (has_word(text, words[i]))
            return 1;
    return 0;
}

static int64_t prompt_tokens_estimate(const lq_chat_request_t *req)
{
    int64_t bytes = 0;
    size_t i;

    for (i = 0; i < req->n_messages; i++)
        bytes += (int64_t)strlen(req->messages[i].content) + 12;
    return bytes / 4;
}

static int rule_matches(const route_rule_t *ru, const lq_chat_request_t *req, const char *text)
{
    size_t i;

    if (ru->n_words) {
        int any = 0;
        for (i = 0; i < ru->n_words && !any; i++)
            any = has_word(text, ru->words[i]);
        if (!any)
            return 0;
    }
    if (ru->n_models) {
        int any = 0;
        for (i = 0; i < ru->n_models && !any; i++)
            any = strcmp(req->model, ru->models[i]) == 0;
        if (!any)
            return 0;
    }
    if (ru->json && !wants_json(req, text))
        return 0;
    if (ru->code && !looks_like_code(text))
        return 0;
    if (ru->min_messages && (int64_t)req->n_messages < ru->min_messages)
        return 0;
    if (ru->min_prompt_tokens && prompt_tokens_estimate(req) < ru->min_prompt_tokens)
        return 0;
    return 1;
}

int routing_decide(const routing_t *r, const lq_chat_request_t *req, uint64_t seq,
                   route_decision_t *out)
{
    const char *text = last_user_text(req);
    char scopes[3][200];
    size_t s, i, k;

    memset(out, 0, sizeof(*out));
    snprintf(scopes[0], sizeof(scopes[0]), "project:%s", req->project_id ? req->project_id : "");
    snprintf(scopes[1], sizeof(scopes[1]), "tenant:%s", req->tenant_id ? req->tenant_id : "");
    snprintf(scopes[2], sizeof(scopes[2]), "global");
    for (s = 0; s < 3; s++) {
        for (i = 0; i < r->n_sets; i++) {
            const rule_set_t *set = &r->sets[i];
            if (strcmp(set->scope, scopes[s]) != 0)
                continue;
            for (k = 0; k < set->n; k++) {
                const route_rule_t *ru = &set->rules[k];
                size_t t;
                if (!rule_matches(ru, req, text))
                    continue;
                snprintf(out->rule, sizeof(out->rule), "%s", ru->name);
                snprintf(out->scope, sizeof(out->scope), "%s", set->scope);
                for (t = 0; t < ru->n_targets; t++)
                    resolve_target(r, ru->targets[t], req->model, out, 0, seq);
                if (ru->spread)
                    rotate(out, 0, seq);
                if (out->n) {
                    out->error[0] = '\0';
                    return 0;
                }
                return -1; /* the matching rule names nothing that can serve it */
            }
        }
    }
    snprintf(out->rule, sizeof(out->rule), "default");
    snprintf(out->scope, sizeof(out->scope), "global");
    if (resolve_target(r, "$model", req->model, out, 0, seq) == 0 && out->n)
        return 0;
    if (!out->error[0])
        snprintf(out->error, sizeof(out->error), "no provider can serve model %s", req->model);
    return -1;
}

void routing_describe(const routing_t *r, const route_decision_t *d, char *buf, size_t size)
{
    size_t i, o;

    o = (size_t)snprintf(buf, size, "rule %s (%s):", d->rule, d->scope);
    for (i = 0; i < d->n && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s %s:%s", i ? "," : "",
                              r->endpoints[d->candidates[i].endpoint].name, d->candidates[i].model);
    if (!d->n && o < size)
        snprintf(buf + o, size - o, " %s", d->error);
}

size_t routing_alias_count(const routing_t *r)
{
    return r->n_aliases;
}

const char *routing_alias_name(const routing_t *r, size_t i)
{
    return i < r->n_aliases ? r->aliases[i].name : NULL;
}

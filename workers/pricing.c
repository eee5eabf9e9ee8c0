#include "workers/pricing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Generated at build time from workers/prices.json (cmake/embed.cmake). */
extern const char *const lq_embedded_prices[];

struct pricing {
    json_t *models; /* name -> {input, output, context} */
    char version[64];
};

static int merge(pricing_t *p, const char *text, const char *what, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr), *models, *v;
    const char *k;

    if (!json_is_object(root) || !json_is_object(models = json_object_get(root, "models"))) {
        snprintf(errstr, errstr_size, "%s: %s", what,
                 root ? "needs an object \"models\"" : jerr.text);
        json_decref(root);
        return -1;
    }
    json_object_foreach(models, k, v)
    {
        json_t *in = json_object_get(v, "input"), *out = json_object_get(v, "output");
        if (!json_is_number(in) || !json_is_number(out) || json_number_value(in) < 0 ||
            json_number_value(out) < 0) {
            snprintf(errstr, errstr_size, "%s: model %s needs input and output prices >= 0", what,
                     k);
            json_decref(root);
            return -1;
        }
        json_object_set(p->models, k, v);
    }
    v = json_object_get(root, "version");
    if (json_is_string(v))
        snprintf(p->version, sizeof(p->version), "%s", json_string_value(v));
    json_decref(root);
    return 0;
}

pricing_t *pricing_load(const char *override_json, char *errstr, size_t errstr_size)
{
    pricing_t *p = calloc(1, sizeof(*p));

    if (!p || !(p->models = json_object())) {
        free(p);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (merge(p, lq_embedded_prices[0], "built-in price table", errstr, errstr_size) ||
        (override_json && merge(p, override_json, "pricing.file", errstr, errstr_size))) {
        pricing_free(p);
        return NULL;
    }
    return p;
}

void pricing_free(pricing_t *p)
{
    if (!p)
        return;
    json_decref(p->models);
    free(p);
}

const char *pricing_version(const pricing_t *p)
{
    return p->version;
}

static json_t *lookup(const pricing_t *p, const char *model)
{
    const char *k, *slash;
    json_t *v, *best = NULL;
    size_t best_len = 0;

    if (!model)
        return NULL;
    if ((v = json_object_get(p->models, model)))
        return v;
    slash = strrchr(model, '/'); /* openrouter's vendor/model */
    if (slash && (v = json_object_get(p->models, slash + 1)))
        return v;
    if (slash)
        model = slash + 1;
    json_object_foreach(p->models, k, v)
    {
        size_t n = strlen(k);
        if (n > best_len && strncmp(model, k, n) == 0 && model[n] == '-') {
            best = v;
            best_len = n;
        }
    }
    return best;
}

int pricing_cost(const pricing_t *p, const char *model, int64_t prompt_tokens,
                 int64_t completion_tokens, double *usd)
{
    json_t *e = lookup(p, model);

    if (!e)
        return 0;
    *usd = ((double)prompt_tokens * json_number_value(json_object_get(e, "input")) +
            (double)completion_tokens * json_number_value(json_object_get(e, "output"))) /
           1e6;
    return 1;
}

int64_t pricing_context(const pricing_t *p, const char *model)
{
    json_t *e = lookup(p, model);

    return e ? (int64_t)json_integer_value(json_object_get(e, "context")) : 0;
}

void pricing_foreach(const pricing_t *p, void (*fn)(const char *model, void *arg), void *arg)
{
    const char *k;
    json_t *v;

    json_object_foreach(p->models, k, v)
    {
        fn(k, arg);
    }
}

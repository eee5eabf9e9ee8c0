#include "ingest/path_match.h"

#include <stdio.h>
#include <string.h>

static int capture(ingest_path_params_t *p, const char *name, size_t name_len, const char *value,
                   size_t value_len)
{
    if (p->n == INGEST_PATH_MAX_PARAMS || name_len >= sizeof(p->name[0]) ||
        value_len >= sizeof(p->value[0]))
        return 0;
    snprintf(p->name[p->n], sizeof(p->name[0]), "%.*s", (int)name_len, name);
    snprintf(p->value[p->n], sizeof(p->value[0]), "%.*s", (int)value_len, value);
    p->n++;
    return 1;
}

/* One segment of each (without their '/'); 0 when they do not match. */
static int match_segment(const char *pat, size_t pat_len, const char *seg, size_t seg_len,
                         ingest_path_params_t *p)
{
    if (pat_len >= 2 && pat[0] == '{' && pat[pat_len - 1] == '}')
        return seg_len > 0 && capture(p, pat + 1, pat_len - 2, seg, seg_len);
    return pat_len == seg_len && memcmp(pat, seg, seg_len) == 0;
}

static int match(const char *pattern, const char *path, ingest_path_params_t *p)
{
    p->n = 0;
    for (;;) {
        size_t pat_len, seg_len;

        if (!*pattern)
            return !*path;
        if (*pattern != '/' || *path != '/')
            return 0;
        pattern++;
        path++;
        if (!strcmp(pattern, "{*}"))
            return capture(p, "*", 1, path, strlen(path));
        pat_len = strcspn(pattern, "/");
        seg_len = strcspn(path, "/");
        if (!match_segment(pattern, pat_len, path, seg_len, p))
            return 0;
        pattern += pat_len;
        path += seg_len;
    }
}

static void allow_add(char *allow, size_t size, const char *method)
{
    size_t len = strlen(allow), n = strlen(method);
    const char *at = strstr(allow, method);

    if (at && (at == allow || at[-1] == ' ') && (at[n] == '\0' || at[n] == ','))
        return; /* listed already */
    snprintf(allow + len, size - len, "%s%s", len ? ", " : "", method);
}

int ingest_route_find(const void *rows, size_t n, size_t stride, const char *method,
                      const char *path, ingest_path_params_t *params, char *allow,
                      size_t allow_size)
{
    ingest_path_params_t scratch, *first = NULL;
    size_t i;

    if (allow_size)
        allow[0] = '\0';
    params->n = 0;
    for (i = 0; i < n; i++) {
        const ingest_route_key_t *k = (const void *)((const char *)rows + i * stride);
        ingest_path_params_t *p = first ? &scratch : params;
        if (!match(k->pattern, path, p))
            continue;
        if (!strcmp(k->method, "*") || !strcmp(k->method, method)) {
            if (p != params)
                *params = *p;
            return (int)i;
        }
        first = params;
        if (allow_size)
            allow_add(allow, allow_size, k->method);
    }
    if (first)
        return INGEST_ROUTE_BAD_METHOD;
    params->n = 0; /* what a failed match left */
    return INGEST_ROUTE_NOT_FOUND;
}

const char *ingest_path_param(const ingest_path_params_t *p, const char *name)
{
    int i;

    for (i = 0; i < p->n; i++)
        if (!strcmp(p->name[i], name))
            return p->value[i];
    return NULL;
}

int ingest_path_is_clean(const char *path)
{
    const unsigned char *s;

    for (s = (const unsigned char *)path; *s; s++)
        if (*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

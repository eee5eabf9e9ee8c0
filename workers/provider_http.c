/* A provider's HTTP request put together: URL, header lines, the credentials. */
#include <stdlib.h>
#include <string.h>

#include "workers/provider_http.h"

void worker_http_request_clear(worker_http_request_t *r)
{
    size_t i;

    if (!r)
        return;
    free(r->url);
    free(r->body);
    for (i = 0; i < r->n_headers; i++)
        free(r->headers[i]);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

/* Append line (malloc'ed; freed here on failure); 0 or -1. */
static int push_header(worker_http_request_t *r, char *line)
{
    char **h = realloc(r->headers, (r->n_headers + 1) * sizeof(*h));

    if (!h) {
        free(line);
        return -1;
    }
    r->headers = h;
    r->headers[r->n_headers++] = line;
    return 0;
}

int worker_http_request_add_header(worker_http_request_t *r, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    char *line;

    line = malloc(nl + vl + 3);
    if (!line)
        return -1;
    memcpy(line, name, nl);
    memcpy(line + nl, ": ", 2);
    memcpy(line + nl + 2, value, vl + 1);
    return push_header(r, line);
}

int worker_http_request_add_target_headers(worker_http_request_t *r, const worker_target_t *t)
{
    size_t i;
    char *line;

    for (i = 0; i < t->n_headers; i++) {
        if (!t->headers[i] || !strchr(t->headers[i], ':'))
            continue; /* not a header line */
        line = strdup(t->headers[i]);
        if (!line || push_header(r, line))
            return -1;
    }
    return 0;
}

/* "name: prefix value"; 0 or -1. */
static int add_prefixed(worker_http_request_t *r, const char *name, const char *prefix,
                        const char *value)
{
    size_t pl = strlen(prefix), vl = strlen(value);
    char *v = malloc(pl + vl + 1);
    int rc;

    if (!v)
        return -1;
    memcpy(v, prefix, pl);
    memcpy(v + pl, value, vl + 1);
    rc = worker_http_request_add_header(r, name, v);
    free(v);
    return rc;
}

int worker_http_request_add_rest(worker_http_request_t *r, const worker_target_t *t, int stream,
                                 const char *key_header, const char *key_prefix)
{
    if (t->api_key && *t->api_key && add_prefixed(r, key_header, key_prefix, t->api_key))
        return -1;
    if (stream && worker_http_request_add_header(r, "Accept", "text/event-stream"))
        return -1;
    return worker_http_request_add_target_headers(r, t);
}

int worker_http_request_set_url(worker_http_request_t *r, const char *base, const char *path1,
                                const char *path2)
{
    size_t bl = strlen(base), l1 = strlen(path1), l2 = path2 ? strlen(path2) : 0;
    char *u = malloc(bl + l1 + l2 + 1);

    if (!u)
        return -1;
    memcpy(u, base, bl);
    memcpy(u + bl, path1, l1);
    if (l2)
        memcpy(u + bl + l1, path2, l2);
    u[bl + l1 + l2] = '\0';
    free(r->url);
    r->url = u;
    return 0;
}

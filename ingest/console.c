#include "ingest/console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The files of the folder ingest/console, embedded by cmake/embed.cmake: text, names, count. */
extern const char *const lq_embedded_console[];
extern const char *const lq_embedded_console_names[];
extern const unsigned lq_embedded_console_count;

/* Only this node's files, scripts and styles; no inline script or style, no frames, no
 * form posts, nothing from another origin. */
#define CONSOLE_CSP                                                                   \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
    "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; "  \
    "form-action 'none'"

static const struct {
    const char *ext, *type;
} types[] = {{".html", "text/html; charset=utf-8"},
             {".js", "text/javascript; charset=utf-8"},
             {".css", "text/css; charset=utf-8"},
             {".svg", "image/svg+xml"}};

static const char *type_of(const char *name)
{
    size_t i, n = strlen(name);

    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        size_t e = strlen(types[i].ext);
        if (n > e && strcmp(name + n - e, types[i].ext) == 0)
            return types[i].type;
    }
    return NULL;
}

void ingest_console_add_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "Content-Security-Policy", CONSOLE_CSP);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
}

ingest_step_t ingest_console_redirect(req_ctx_t *c)
{
    snprintf(c->location, sizeof(c->location), "/console/");
    c->console = 1;
    ingest_ctx_set_text(c, 301, strdup(""), 0);
    return INGEST_STEP_ANSWER;
}

ingest_step_t ingest_console_file(req_ctx_t *c)
{
    const char *name = ingest_path_param(&c->params, "*");
    unsigned i;

    if (!name || !*name)
        name = "index.html";
    c->console = 1;
    for (i = 0; i < lq_embedded_console_count; i++) {
        const char *type = type_of(lq_embedded_console_names[i]);
        size_t len;
        char *copy;
        if (strcmp(lq_embedded_console_names[i], name) != 0 || !type)
            continue;
        len = strlen(lq_embedded_console[i]);
        copy = malloc(len + 1);
        if (!copy)
            break;
        memcpy(copy, lq_embedded_console[i], len + 1);
        c->content_type = type;
        ingest_ctx_set_text(c, 200, copy, len);
        return INGEST_STEP_ANSWER;
    }
    ingest_ctx_set_error(c, 404, "Unknown path.", "invalid_request_error", NULL, "not_found");
    return INGEST_STEP_ANSWER;
}

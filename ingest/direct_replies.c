#include "ingest/direct_replies.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"

#define SECRET_BYTES 16

struct ingest_direct {
    struct MHD_Daemon *d;
    ingest_replies_t *replies;
    char path[16 + 2 * SECRET_BYTES]; /* "/replies/<secret in hex>" */
    char url[384];
    size_t max_body;
    struct MHD_Response *empty; /* every answer is a status without a body */
    lq_metric_t *m_taken, *m_refused;
};

/* A reply being posted. */
typedef struct upload {
    char *buf;
    size_t len, cap;
    int too_big;
} upload_t;

/* The same bytes, in a time that does not depend on where they first differ. */
static int same_secret(const char *a, const char *b)
{
    size_t n = strlen(b), i;
    unsigned char diff = 0;

    if (strlen(a) != n)
        return 0;
    for (i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static enum MHD_Result answer(ingest_direct_t *d, struct MHD_Connection *c, unsigned status)
{
    if (status >= 400)
        lq_metric_add(d->m_refused, 1);
    return MHD_queue_response(c, status, d->empty);
}

static int append(ingest_direct_t *d, upload_t *u, const char *data, size_t n)
{
    if (u->too_big || u->len + n > d->max_body) {
        u->too_big = 1;
        return 0;
    }
    if (u->len + n > u->cap) {
        size_t cap = u->cap ? u->cap : 4096;
        char *p;
        while (cap < u->len + n)
            cap *= 2;
        p = realloc(u->buf, cap);
        if (!p)
            return -1;
        u->buf = p;
        u->cap = cap;
    }
    memcpy(u->buf + u->len, data, n);
    u->len += n;
    return 0;
}

/* The request's first call: refused at once (wrong path or method, declared too large), or an
 * upload to fill. */
static enum MHD_Result begin(ingest_direct_t *d, struct MHD_Connection *c, const char *url,
                             const char *method, void **con_cls)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");

    if (strcmp(method, "POST") != 0 || !same_secret(url, d->path))
        return answer(d, c, MHD_HTTP_NOT_FOUND);
    if (cl && strtoull(cl, NULL, 10) > d->max_body)
        return answer(d, c, MHD_HTTP_CONTENT_TOO_LARGE);
    *con_cls = calloc(1, sizeof(upload_t));
    return *con_cls ? MHD_YES : MHD_NO;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **con_cls)
{
    ingest_direct_t *d = cls;
    upload_t *u = *con_cls;

    (void)version;
    if (!u)
        return begin(d, c, url, method, con_cls);
    if (*size) {
        if (append(d, u, data, *size))
            return MHD_NO;
        *size = 0;
        return MHD_YES;
    }
    if (u->too_big)
        return answer(d, c, MHD_HTTP_CONTENT_TOO_LARGE);
    if (ingest_replies_deliver(d->replies, u->buf, u->len))
        return answer(d, c, MHD_HTTP_BAD_REQUEST);
    lq_metric_add(d->m_taken, 1);
    return answer(d, c, MHD_HTTP_NO_CONTENT);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode why)
{
    upload_t *u = *con_cls;

    (void)cls;
    (void)c;
    (void)why;
    if (u) {
        free(u->buf);
        free(u);
        *con_cls = NULL;
    }
}

/* The secret path, and the URL that names it. */
static lq_err_t name_listener(ingest_direct_t *d, const char *bind, int port, const char *host)
{
    unsigned char secret[SECRET_BYTES];
    char hex[2 * SECRET_BYTES + 1], name[256];

    if (lq_random_bytes(secret, sizeof(secret)))
        return LQ_ERR_IO;
    lq_hex(hex, secret, sizeof(secret));
    snprintf(d->path, sizeof(d->path), "/replies/%s", hex);
    if (!*host) {
        host = bind;
        if (strcmp(bind, "0.0.0.0") == 0 && gethostname(name, sizeof(name) - 1) == 0) {
            name[sizeof(name) - 1] = '\0';
            host = name;
        }
    }
    snprintf(d->url, sizeof(d->url), "http://%s:%d%s", host, port, d->path);
    return LQ_OK;
}

lq_err_t ingest_direct_start(ingest_direct_t **out, ingest_replies_t *replies, const char *bind,
                             int port, const char *host, size_t max_body, char *errstr,
                             size_t errstr_size)
{
    ingest_direct_t *d = calloc(1, sizeof(*d));
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;

    *out = NULL;
    if (!d)
        return LQ_ERR_NOMEM;
    d->replies = replies;
    d->max_body = max_body;
    d->m_taken = lq_metrics_counter("llmq_ingest_direct_replies_total",
                                    "results workers handed to this node directly", NULL);
    d->m_refused = lq_metrics_counter("llmq_ingest_direct_replies_refused_total",
                                      "posts to the direct-reply listener refused", NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind, &sa.sin_addr) != 1) {
        snprintf(errstr, errstr_size, "setting direct_replies.bind: \"%s\" is not an IPv4 address",
                 bind);
        free(d);
        return LQ_ERR_CONFIG;
    }
    d->empty = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    d->d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO, 0, NULL, NULL, handle, d,
                            MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                            MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_NOTIFY_COMPLETED,
                            completed, d, MHD_OPTION_END);
    if (!d->d || !d->empty) {
        snprintf(errstr, errstr_size, "direct replies: cannot listen on %s:%d", bind, port);
        ingest_direct_stop(d);
        return LQ_ERR_IO;
    }
    info = MHD_get_daemon_info(d->d, MHD_DAEMON_INFO_BIND_PORT);
    if (name_listener(d, bind, info ? info->port : port, host)) {
        snprintf(errstr, errstr_size, "direct replies: no random bytes for the secret");
        ingest_direct_stop(d);
        return LQ_ERR_IO;
    }
    *out = d;
    return LQ_OK;
}

void ingest_direct_stop(ingest_direct_t *d)
{
    if (!d)
        return;
    if (d->d)
        MHD_stop_daemon(d->d);
    if (d->empty)
        MHD_destroy_response(d->empty);
    free(d);
}

const char *ingest_direct_url(const ingest_direct_t *d)
{
    return d->url;
}

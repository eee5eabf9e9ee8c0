#include "common/http_admin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "common/log.h"
#include "common/metrics.h"

struct lq_http_admin {
    struct MHD_Daemon *d;
    lq_ready_fn ready;
    void *ready_arg;
    int port;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
                             char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;

    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    lq_http_admin_t *a = cls;
    char *body;

    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    if (strcmp(method, "GET") != 0) {
        body = strdup("method not allowed\n");
        return body ? reply(conn, 405, "text/plain", body, strlen(body)) : MHD_NO;
    }
    if (strcmp(url, "/healthz") == 0) {
        body = strdup("{\"status\":\"ok\"}\n");
        return body ? reply(conn, 200, "application/json", body, strlen(body)) : MHD_NO;
    }
    if (strcmp(url, "/readyz") == 0) {
        char why[256] = "", *out = malloc(400);
        int ok = a->ready ? a->ready(a->ready_arg, why, sizeof(why)) : 1;
        if (!out)
            return MHD_NO;
        snprintf(out, 400, "{\"status\":\"%s\",\"detail\":\"%s\"}\n", ok ? "ready" : "not ready",
                 why);
        return reply(conn, ok ? 200 : 503, "application/json", out, strlen(out));
    }
    if (strcmp(url, "/metrics") == 0) {
        size_t len = 0;
        body = lq_metrics_render(&len);
        return body ? reply(conn, 200, "text/plain; version=0.0.4", body, len) : MHD_NO;
    }
    body = strdup("not found\n");
    return body ? reply(conn, 404, "text/plain", body, strlen(body)) : MHD_NO;
}

static struct MHD_Daemon *listen_on(lq_http_admin_t *a, const struct sockaddr_in *sa)
{
    return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, handler,
                            a, MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                            MHD_OPTION_END);
}

lq_err_t lq_http_admin_start(lq_http_admin_t **out, const char *bind_addr, int port,
                             lq_ready_fn ready, void *ready_arg, char *errstr, size_t errstr_size)
{
    const char *addr = bind_addr && *bind_addr ? bind_addr : "127.0.0.1";
    const union MHD_DaemonInfo *info;
    lq_http_admin_t *a;
    struct sockaddr_in sa;

    *out = NULL;
    if (port < 0)
        return LQ_OK;
    a = calloc(1, sizeof(*a));
    if (!a)
        return LQ_ERR_NOMEM;
    a->ready = ready;
    a->ready_arg = ready_arg;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        snprintf(errstr, errstr_size, "admin http: bad bind address %s", addr);
        free(a);
        return LQ_ERR_CONFIG;
    }
    a->d = listen_on(a, &sa);
    if (!a->d && port > 0) {
        /* another daemon of this host has the port (two workers on one machine): serve
         * health anyway, on a port the log names */
        sa.sin_port = 0;
        a->d = listen_on(a, &sa);
    }
    if (!a->d) {
        snprintf(errstr, errstr_size, "admin http: cannot listen on %s:%d", addr, port);
        free(a);
        return LQ_ERR_IO;
    }
    info = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
    a->port = info ? info->port : port;
    if (port > 0 && a->port != port)
        LQ_WARN("admin http: port %d is taken; /healthz, /readyz and /metrics are on %s:%d", port,
                addr, a->port);
    else
        LQ_INFO("admin http: /healthz, /readyz and /metrics on %s:%d", addr, a->port);
    *out = a;
    return LQ_OK;
}

int lq_http_admin_port(const lq_http_admin_t *a)
{
    return a ? a->port : -1;
}

void lq_http_admin_stop(lq_http_admin_t *a)
{
    if (!a)
        return;
    if (a->d)
        MHD_stop_daemon(a->d);
    free(a);
}

/* llmq-loadgen: an open-loop HTTP/1.1 load generator for the benchmark.
 *
 * Sends requests at a fixed rate over keep-alive connections, whatever the server's
 * latency: a request that finds no free connection waits, and its latency counts from
 * when it was due (no coordinated omission). Prints one JSON object with the figures.
 * Streamed (chunked) answers are read to their end; with --ttft-marker TEXT the time to
 * the first received bytes holding TEXT (e.g. "delta") is measured too (ttft_* figures).
 *
 *   llmq-loadgen --port P --path /v1/chat/completions --rate 1000 --duration 20
 *                --connections 64 --body FILE --header "Authorization: Bearer KEY"
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
    int fd;
    int busy;
    int64_t due_us; /* when the request in flight was due */
    int first_seen; /* the --ttft-marker arrived for the request in flight */
    char buf[65536];
    size_t len;
} conn_t;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int open_conn(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* Returns the status when buf holds a whole response (and drops it from buf), 0 if not. */
static int take_response(conn_t *c)
{
    char *end, *cl;
    size_t head, body = 0, total;
    int status;

    c->buf[c->len < sizeof(c->buf) ? c->len : sizeof(c->buf) - 1] = '\0';
    end = strstr(c->buf, "\r\n\r\n");
    if (!end)
        return 0;
    head = (size_t)(end - c->buf) + 4;
    cl = strcasestr(c->buf, "\r\nContent-Length:");
    if (cl && cl < end) {
        body = (size_t)strtoul(cl + 17, NULL, 10);
    } else if ((cl = strcasestr(c->buf, "\r\nTransfer-Encoding: chunked")) && cl < end) {
        /* a streamed answer: complete at the last (zero-length) chunk */
        char *last = strstr(c->buf + head - 2, "\r\n0\r\n\r\n");
        if (!last)
            return 0;
        body = (size_t)(last + 7 - (c->buf + head));
    }
    total = head + body;
    if (c->len < total)
        return 0;
    status = atoi(c->buf + 9);
    memmove(c->buf, c->buf + total, c->len - total);
    c->len -= total;
    return status ? status : -1;
}

int main(int argc, char **argv)
{
    int port = 8080, conns = 64, i, ep;
    double rate = 1000, duration = 10;
    const char *path = "/", *body_file = NULL, *ttft_marker = NULL;
    int64_t *ttft = NULL, n_ttft = 0;
    char headers[4096] = "", *body = NULL, *req = NULL;
    size_t body_len = 0, req_len;
    conn_t *cs;
    int64_t *lat, start, end_at, sent = 0, done = 0, errors = 0, non2xx = 0, pending = 0;
    int64_t reconnects = 0;
    int64_t *queue_due;
    size_t qhead = 0, qtail = 0, qcap;

    for (i = 1; i < argc - 1; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--path"))
            path = argv[i + 1];
        else if (!strcmp(argv[i], "--rate"))
            rate = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--duration"))
            duration = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--connections"))
            conns = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--body"))
            body_file = argv[i + 1];
        else if (!strcmp(argv[i], "--ttft-marker"))
            ttft_marker = argv[i + 1];
        else if (!strcmp(argv[i], "--header")) {
            size_t n = strlen(headers);
            snprintf(headers + n, sizeof(headers) - n, "%s\r\n", argv[i + 1]);
        } else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (body_file) {
        FILE *fp = fopen(body_file, "rb");
        if (!fp) {
            perror(body_file);
            return 2;
        }
        fseek(fp, 0, SEEK_END);
        body_len = (size_t)ftell(fp);
        fseek(fp, 0, SEEK_SET);
        body = malloc(body_len + 1);
        if (!body || fread(body, 1, body_len, fp) != body_len)
            return 2;
        fclose(fp);
    }
    req = malloc(body_len + 8192);
    req_len = (size_t)snprintf(req, 8192,
                               "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Content-Type: application/json\r\n%s"
                               "Content-Length: %zu\r\n\r\n",
                               path, headers, body_len);
    memcpy(req + req_len, body, body_len);
    req_len += body_len;

    qcap = (size_t)(rate * duration) + 16;
    lat = calloc(qcap, sizeof(int64_t));
    ttft = calloc(qcap, sizeof(int64_t));
    queue_due = calloc(qcap, sizeof(int64_t));
    cs = calloc((size_t)conns, sizeof(conn_t));
    ep = epoll_create1(0);
    for (i = 0; i < conns; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        cs[i].fd = open_conn(port);
        if (cs[i].fd < 0) {
            perror("connect");
            return 1;
        }
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    start = now_us();
    end_at = start + (int64_t)(duration * 1e6);
    for (;;) {
        struct epoll_event evs[256];
        int64_t t = now_us(), due_total;
        int n, k;

        /* schedule what is due: request k is due at start + k / rate */
        due_total = t < end_at ? (int64_t)((double)(t - start) * rate / 1e6) + 1
                               : (int64_t)(rate * duration);
        if (due_total > (int64_t)(rate * duration))
            due_total = (int64_t)(rate * duration);
        while (sent < due_total && qtail < qcap) {
            queue_due[qtail++] = start + (int64_t)((double)sent * 1e6 / rate);
            sent++;
        }
        /* hand queued requests to free connections */
        for (i = 0; i < conns && qhead < qtail; i++) {
            if (cs[i].busy)
                continue;
            if (write(cs[i].fd, req, req_len) != (ssize_t)req_len) {
                errors++;
                qhead++;
                continue;
            }
            cs[i].busy = 1;
            cs[i].first_seen = 0;
            cs[i].due_us = queue_due[qhead++];
            pending++;
        }
        if (t >= end_at && qhead == qtail && pending == 0)
            break;
        if (t > end_at + 30000000) /* 30 s grace for stragglers */
            break;
        n = epoll_wait(ep, evs, 256, 1);
        for (k = 0; k < n; k++) {
            conn_t *c = &cs[evs[k].data.u32];
            ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len - 1);
            int status;
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                if (c->busy) { /* a request in flight lost its connection */
                    errors++;
                    c->busy = 0;
                    pending--;
                } else { /* the server closed an idle keep-alive connection */
                    reconnects++;
                }
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = open_conn(port);
                c->len = 0;
                if (c->fd >= 0) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[k].data.u32};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
                }
                continue;
            }
            c->len += (size_t)r;
            if (ttft_marker && c->busy && !c->first_seen) {
                c->buf[c->len] = '\0';
                if (strstr(c->buf, ttft_marker)) {
                    ttft[n_ttft++] = now_us() - c->due_us;
                    c->first_seen = 1;
                }
            }
            while ((status = take_response(c)) != 0) {
                if (c->busy) {
                    lat[done++] = now_us() - c->due_us;
                    c->busy = 0;
                    pending--;
                }
                if (status < 200 || status >= 300)
                    non2xx++;
            }
        }
    }
    qsort(lat, (size_t)done, sizeof(int64_t), cmp_i64);
    qsort(ttft, (size_t)n_ttft, sizeof(int64_t), cmp_i64);
    {
        double secs = (double)(now_us() - start) / 1e6;
#define PCT(p) (done ? (double)lat[(size_t)((double)(done - 1) * (p))] / 1000.0 : 0.0)
        printf("{\"target_rps\": %.0f, \"sent\": %lld, \"completed\": %lld, \"errors\": %lld, "
               "\"reconnects\": %lld, "
               "\"non_2xx\": %lld, \"achieved_rps\": %.1f, \"p50_ms\": %.3f, \"p95_ms\": %.3f, "
               "\"p99_ms\": %.3f, \"max_ms\": %.3f",
               rate, (long long)sent, (long long)done, (long long)errors, (long long)reconnects,
               (long long)non2xx, (double)done / secs, PCT(0.50), PCT(0.95), PCT(0.99), PCT(1.0));
#define TPCT(p) (n_ttft ? (double)ttft[(size_t)((double)(n_ttft - 1) * (p))] / 1000.0 : 0.0)
        if (ttft_marker)
            printf(", \"ttft_count\": %lld, \"ttft_p50_ms\": %.3f, \"ttft_p95_ms\": %.3f, "
                   "\"ttft_p99_ms\": %.3f",
                   (long long)n_ttft, TPCT(0.50), TPCT(0.95), TPCT(0.99));
        printf("}\n");
    }
    return 0;
}

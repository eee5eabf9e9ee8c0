/* workers/reply_conns: the worker's own keep-alive connections for direct replies, against a
 * small HTTP server on loopback that answers as a node does (204), or closes, refuses, says
 * something else or says nothing. Real sockets. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "testutil.h"
#include "workers/reply_conns.h"

typedef enum {
    ANSWER_204,      /* 204, the connection kept */
    ANSWER_404,      /* 404 with a body */
    ANSWER_CLOSE,    /* 204 with "Connection: close" */
    CLOSE_AFTER_ONE, /* 204, then the connection closed (the node's idle timeout) */
    DROP_SECOND,     /* the second request on a connection read, then closed unanswered */
    SILENT           /* the request read, no answer ever */
} server_mode_t;

typedef struct server {
    int lfd, port;
    atomic_int mode, accepted, requests, stop;
    size_t last_len;
    char last_head[512];
    unsigned char last_first, last_final; /* the body's first and last bytes */
    pthread_t th;
} server_t;

typedef struct ended {
    int n, status[16];
    void *post[16];
} ended_t;

static void on_done(void *arg, void *post, int status, const char *why)
{
    ended_t *e = arg;

    (void)why;
    if (e->n < 16) {
        e->status[e->n] = status;
        e->post[e->n] = post;
    }
    e->n++;
}

/* One request from fd into s (head kept, body counted): 0, or -1 when the peer is gone. */
static int read_request(server_t *s, int fd)
{
    char head[4096];
    size_t len = 0, want, got = 0;
    char *end, *cl;
    unsigned char buf[65536];

    for (;;) {
        ssize_t r = recv(fd, head + len, sizeof(head) - 1 - len, 0);
        if (r <= 0)
            return -1;
        len += (size_t)r;
        head[len] = '\0';
        if ((end = strstr(head, "\r\n\r\n")))
            break;
    }
    cl = strstr(head, "Content-Length: ");
    want = cl ? strtoul(cl + 16, NULL, 10) : 0;
    got = len - (size_t)(end + 4 - head);
    if (got)
        s->last_first = (unsigned char)end[4];
    snprintf(s->last_head, sizeof(s->last_head), "%.*s", (int)(end - head), head);
    while (got < want) {
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r <= 0)
            return -1;
        if (got == 0)
            s->last_first = buf[0];
        got += (size_t)r;
        s->last_final = buf[r - 1];
    }
    if (want && got == len - (size_t)(end + 4 - head))
        s->last_final = (unsigned char)head[len - 1];
    s->last_len = want;
    atomic_fetch_add(&s->requests, 1);
    return 0;
}

static void send_text(int fd, const char *t)
{
    (void)!send(fd, t, strlen(t), MSG_NOSIGNAL);
}

static void *serve(void *arg)
{
    server_t *s = arg;

    while (!atomic_load(&s->stop)) {
        int fd = accept(s->lfd, NULL, NULL), on_conn = 0;
        if (fd < 0)
            continue;
        atomic_fetch_add(&s->accepted, 1);
        while (!atomic_load(&s->stop) && read_request(s, fd) == 0) {
            int mode = atomic_load(&s->mode);
            on_conn++;
            if (mode == SILENT) {
                nanosleep(&(struct timespec){0, 600 * 1000000}, NULL);
                break;
            }
            if (mode == DROP_SECOND && on_conn == 2)
                break;
            if (mode == ANSWER_404) {
                send_text(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot here\n");
                break;
            }
            if (mode == ANSWER_CLOSE) {
                send_text(fd, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
                break;
            }
            send_text(fd, "HTTP/1.1 204 No Content\r\nDate: now\r\n\r\n");
            if (mode == CLOSE_AFTER_ONE)
                break;
        }
        close(fd);
    }
    return NULL;
}

static int server_start(server_t *s)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int one = 1;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) || listen(s->lfd, 16) ||
        getsockname(s->lfd, (struct sockaddr *)&a, &len))
        return -1;
    s->port = ntohs(a.sin_port);
    return pthread_create(&s->th, NULL, serve, s);
}

static void server_stop(server_t *s)
{
    atomic_store(&s->stop, 1);
    shutdown(s->lfd, SHUT_RDWR);
    close(s->lfd);
    pthread_join(s->th, NULL);
}

/* The worker's loop in small: wait on the posts' sockets, move them along, until want posts
 * have ended or ms passed. */
static void run(reply_conns_t *rc, ended_t *e, int want, int ms)
{
    struct pollfd fds[8];
    int64_t until = lq_mono_ms() + ms;

    while (e->n < want && lq_mono_ms() < until) {
        int n = reply_conns_poll_fds(rc, fds, 8);
        poll(fds, (nfds_t)n, 20);
        reply_conns_service(rc, fds, n, lq_mono_us());
    }
}

/* The worker's loop in small until socket fd (the node's end) is readable: 1, or 0 after ms. */
static int pump_until_readable(reply_conns_t *rc, int fd, int ms)
{
    struct pollfd fds[9];
    int64_t until = lq_mono_ms() + ms;

    while (lq_mono_ms() < until) {
        int n = reply_conns_poll_fds(rc, fds, 8);
        fds[n].fd = fd;
        fds[n].events = POLLIN;
        fds[n].revents = 0;
        poll(fds, (nfds_t)n + 1, 20);
        reply_conns_service(rc, fds, n, lq_mono_us());
        if (fds[n].revents)
            return 1;
    }
    return 0;
}

/* An address nothing listens on: a port bound and closed a moment ago. */
static int closed_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &len);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int main(void)
{
    static server_t s;
    static char big[3 << 20];
    ended_t e = {0};
    reply_conns_t *rc = reply_conns_create(8, 500, 300, on_done, &e);
    char url[128];
    int p1, p2, p3, r, i;
    int64_t t0;

    CHECK(rc != NULL);
    CHECK_INT(server_start(&s), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/replies/0123abcd", s.port);

    /* URLs it leaves to libcurl */
    CHECK_INT(reply_conns_post(rc, "http://localhost:80/replies/x", "a", 1, &p1, 0), 0);
    CHECK_INT(reply_conns_post(rc, "https://127.0.0.1:443/replies/x", "a", 1, &p1, 0), 0);
    CHECK_INT(reply_conns_post(rc, "http://127.0.0.1/replies/x", "a", 1, &p1, 0), 0);
    CHECK_INT(reply_conns_post(rc, "http://127.0.0.1:0/replies/x", "a", 1, &p1, 0), 0);
    CHECK_INT(reply_conns_post(rc, "http://127.0.0.1:99999/replies/x", "a", 1, &p1, 0), 0);
    CHECK_INT(reply_conns_post(rc, "http://u@127.0.0.1:80/replies/x", "a", 1, &p1, 0), 0);
    CHECK_INT(reply_conns_post(rc, "http://[::1]:80/replies/x", "a", 1, &p1, 0), 0);
    CHECK_INT(reply_conns_post(rc, "http://127.0.0.1:80/a b", "a", 1, &p1, 0), 0);
    CHECK_INT(reply_conns_open(rc), 0);

    /* three posts, one connection; the node gets each whole */
    for (i = 0; i < 3; i++) {
        CHECK_INT(reply_conns_post(rc, url, "avro-bytes", 10, &p1, lq_mono_us()), 1);
        run(rc, &e, i + 1, 2000);
        CHECK_INT(e.n, i + 1);
        CHECK_INT(e.status[i], 204);
        CHECK(e.post[i] == &p1);
    }
    CHECK_INT(atomic_load(&s.accepted), 1);
    CHECK_INT(atomic_load(&s.requests), 3);
    CHECK_INT(reply_conns_open(rc), 1);
    CHECK(strstr(s.last_head, "POST /replies/0123abcd HTTP/1.1\r\n") == s.last_head);
    CHECK(strstr(s.last_head, "\r\nContent-Type: application/avro") != NULL);
    CHECK(strstr(s.last_head, "\r\nContent-Length: 10") != NULL);
    CHECK_INT(s.last_len, 10);

    /* an answer nothing waits behind is not waited for on the poll (no wake-up of its own)
     * but read at the next turn; once a post has something behind it, its socket is polled */
    {
        struct pollfd fds[8];
        e.n = 0;
        CHECK_INT(reply_conns_post(rc, url, "f", 1, &p1, lq_mono_us()), 1);
        CHECK_INT(reply_conns_poll_fds(rc, fds, 8), 0); /* sent at once on the kept connection */
        usleep(50 * 1000);                              /* its 204 has come */
        reply_conns_service(rc, fds, 0, lq_mono_us());
        CHECK_INT(e.n, 1);
        CHECK_INT(e.status[0], 204);
        CHECK_INT(reply_conns_post(rc, url, "g", 1, &p2, lq_mono_us()), 1);
        reply_conns_await(rc, &p1); /* not on its way: nothing changes */
        CHECK_INT(reply_conns_poll_fds(rc, fds, 8), 0);
        reply_conns_await(rc, &p2);
        CHECK_INT(reply_conns_poll_fds(rc, fds, 8), 1);
        CHECK_INT(fds[0].events, POLLIN);
        run(rc, &e, 2, 2000);
        CHECK_INT(e.n, 2);
        CHECK_INT(e.status[1], 204);
        CHECK(e.post[1] == &p2);
        CHECK_INT(atomic_load(&s.accepted), 1);
    }

    /* a body larger than the socket's buffers goes out in pieces */
    memset(big, 'x', sizeof(big));
    big[0] = 'F';
    big[sizeof(big) - 1] = 'L';
    e.n = 0;
    CHECK_INT(reply_conns_post(rc, url, big, sizeof(big), &p2, lq_mono_us()), 1);
    run(rc, &e, 1, 3000);
    CHECK_INT(e.n, 1);
    CHECK_INT(e.status[0], 204);
    CHECK_INT(s.last_len, sizeof(big));
    CHECK_INT(s.last_first, 'F');
    CHECK_INT(s.last_final, 'L');

    /* the node closed the kept connection after its answer: the next post opens another */
    atomic_store(&s.mode, CLOSE_AFTER_ONE);
    e.n = 0;
    CHECK_INT(reply_conns_post(rc, url, "a", 1, &p1, lq_mono_us()), 1);
    run(rc, &e, 1, 2000);
    usleep(50 * 1000); /* its close reaches us */
    atomic_store(&s.mode, ANSWER_204);
    CHECK_INT(reply_conns_post(rc, url, "b", 1, &p2, lq_mono_us()), 1);
    run(rc, &e, 2, 2000);
    CHECK_INT(e.n, 2);
    CHECK_INT(e.status[0], 204);
    CHECK_INT(e.status[1], 204);
    CHECK_INT(atomic_load(&s.accepted), 2);
    CHECK_INT(reply_conns_open(rc), 1);

    /* the node reads a post on the kept connection and closes it unanswered: sent once more on
     * a new connection */
    atomic_store(&s.mode, DROP_SECOND);
    e.n = 0;
    r = atomic_load(&s.requests);
    CHECK_INT(reply_conns_post(rc, url, "c", 1, &p3, lq_mono_us()), 1);
    run(rc, &e, 1, 2000);
    CHECK_INT(e.n, 1);
    CHECK_INT(e.status[0], 204);
    CHECK_INT(atomic_load(&s.requests), r + 2);
    CHECK_INT(atomic_load(&s.accepted), 3);
    atomic_store(&s.mode, ANSWER_204);

    /* "Connection: close" after a 204: taken, the connection not kept */
    atomic_store(&s.mode, ANSWER_CLOSE);
    e.n = 0;
    CHECK_INT(reply_conns_post(rc, url, "d", 1, &p1, lq_mono_us()), 1);
    run(rc, &e, 1, 2000);
    CHECK_INT(e.status[0], 204);
    CHECK_INT(reply_conns_open(rc), 0);

    /* another status: not taken */
    atomic_store(&s.mode, ANSWER_404);
    e.n = 0;
    CHECK_INT(reply_conns_post(rc, url, "e", 1, &p1, lq_mono_us()), 1);
    run(rc, &e, 1, 2000);
    CHECK_INT(e.n, 1);
    CHECK_INT(e.status[0], 404);
    CHECK_INT(reply_conns_open(rc), 0);

    /* no answer: ended at the timeout (300 ms), not before */
    atomic_store(&s.mode, SILENT);
    e.n = 0;
    t0 = lq_mono_ms();
    CHECK_INT(reply_conns_post(rc, url, "f", 1, &p1, lq_mono_us()), 1);
    run(rc, &e, 1, 3000);
    CHECK_INT(e.n, 1);
    CHECK_INT(e.status[0], 0);
    CHECK(lq_mono_ms() - t0 >= 300);
    CHECK_INT(reply_conns_open(rc), 0);

    /* nothing listening: refused at once, or ended long before the connect timeout */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/replies/0123abcd", closed_port());
    e.n = 0;
    t0 = lq_mono_ms();
    r = reply_conns_post(rc, url, "g", 1, &p1, lq_mono_us());
    CHECK(r == -1 || r == 1);
    if (r == 1) {
        run(rc, &e, 1, 2000);
        CHECK_INT(e.n, 1);
        CHECK_INT(e.status[0], 0);
    }
    CHECK(lq_mono_ms() - t0 < 400);
    CHECK_INT(reply_conns_open(rc), 0);

    /* the node reads a post on the kept connection, closes it unanswered and is gone: the
     * post sent once more finds nothing listening, and ends (its caller's post, not lost) */
    {
        struct sockaddr_in a;
        socklen_t alen = sizeof(a);
        char buf[4096];
        int lfd = socket(AF_INET, SOCK_STREAM, 0), cfd;
        memset(&a, 0, sizeof(a));
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        CHECK(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(lfd, 4) == 0);
        getsockname(lfd, (struct sockaddr *)&a, &alen);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/replies/x", ntohs(a.sin_port));
        e.n = 0;
        CHECK_INT(reply_conns_post(rc, url, "i", 1, &p1, lq_mono_us()), 1);
        cfd = accept(lfd, NULL, NULL);
        CHECK(pump_until_readable(rc, cfd, 2000) && recv(cfd, buf, sizeof(buf), 0) > 0);
        send_text(cfd, "HTTP/1.1 204 No Content\r\n\r\n");
        run(rc, &e, 1, 2000);
        CHECK_INT(e.n, 1);
        CHECK_INT(e.status[0], 204);
        CHECK_INT(reply_conns_post(rc, url, "j", 1, &p2, lq_mono_us()), 1);
        CHECK(pump_until_readable(rc, cfd, 2000) && recv(cfd, buf, sizeof(buf), 0) > 0);
        close(cfd);
        close(lfd);
        run(rc, &e, 2, 2000);
        CHECK_INT(e.n, 2);
        CHECK_INT(e.status[1], 0);
        CHECK(e.post[1] == &p2);
        CHECK_INT(reply_conns_open(rc), 0);
    }
    CHECK_INT(reply_conns_post(rc, "http://127.0.0.1: 80/replies/x", "a", 1, &p1, 0), 0);
    CHECK_INT(reply_conns_post(rc, "http://127.0.0.1:+80/replies/x", "a", 1, &p1, 0), 0);

    /* a connection for each post on its way, up to the bound; then left to libcurl */
    atomic_store(&s.mode, SILENT);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/replies/0123abcd", s.port);
    for (i = 0; i < 8; i++)
        CHECK_INT(reply_conns_post(rc, url, "h", 1, &p1, lq_mono_us()), 1);
    CHECK_INT(reply_conns_post(rc, url, "h", 1, &p1, lq_mono_us()), 0);
    CHECK_INT(reply_conns_open(rc), 8);

    reply_conns_destroy(rc);
    reply_conns_destroy(NULL);
    server_stop(&s);
    TEST_DONE();
}

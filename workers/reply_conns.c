#include "workers/reply_conns.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define HEAD_MAX   512  /* a request's head: the reply path is short (/replies/<secret>) */
#define ANSWER_MAX 1024 /* a node's answer is a status line and a few headers, no body */

typedef enum { C_FREE, C_IDLE, C_CONNECTING, C_SENDING, C_READING } conn_state_t;

typedef struct conn {
    int fd;
    conn_state_t state;
    struct sockaddr_in to;
    int reused;  /* the post in hand went on a connection kept from an earlier post */
    int awaited; /* more waits behind the post: its answer is waited for on the poll */
    void *post;
    const char *body;
    size_t body_len, sent; /* sent: of head_len + body_len */
    size_t head_len, answer_len;
    int64_t deadline_us, connect_deadline_us, idle_since_us;
    char head[HEAD_MAX];
    char answer[ANSWER_MAX + 1];
} conn_t;

struct reply_conns {
    conn_t *conns;
    int *polled; /* the connection of each fd reply_conns_poll_fds gave, in its order */
    int max_conns, n_open;
    int64_t connect_timeout_us, timeout_us;
    reply_conns_done_fn done;
    void *arg;
};

reply_conns_t *reply_conns_create(int max_conns, int connect_timeout_ms, int timeout_ms,
                                  reply_conns_done_fn done, void *arg)
{
    reply_conns_t *rc = calloc(1, sizeof(*rc));
    int i;

    if (!rc)
        return NULL;
    rc->conns = calloc((size_t)max_conns, sizeof(conn_t));
    rc->polled = calloc((size_t)max_conns, sizeof(int));
    if (!rc->conns || !rc->polled) {
        reply_conns_destroy(rc);
        return NULL;
    }
    for (i = 0; i < max_conns; i++)
        rc->conns[i].fd = -1;
    rc->max_conns = max_conns;
    rc->connect_timeout_us = (int64_t)connect_timeout_ms * 1000;
    rc->timeout_us = (int64_t)timeout_ms * 1000;
    rc->done = done;
    rc->arg = arg;
    return rc;
}

static void conn_close(reply_conns_t *rc, conn_t *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        rc->n_open--;
    }
    c->fd = -1;
    c->state = C_FREE;
    c->post = NULL;
}

void reply_conns_destroy(reply_conns_t *rc)
{
    int i;

    if (!rc)
        return;
    for (i = 0; rc->conns && i < rc->max_conns; i++)
        conn_close(rc, &rc->conns[i]);
    free(rc->conns);
    free(rc->polled);
    free(rc);
}

int reply_conns_open(const reply_conns_t *rc)
{
    return rc ? rc->n_open : 0;
}

/* url as "http://A.B.C.D:PORT/PATH": its address into *to, "A.B.C.D:PORT" into host and
 * PATH (with its '/') into path. 0, or -1 for any other URL (a name, IPv6, no port, https,
 * user info, bytes that would need escaping). */
static int parse_url(const char *url, struct sockaddr_in *to, char *host, size_t host_size,
                     const char **path)
{
    const char *a = url + 7, *colon, *slash, *p;
    char ip[16];
    char *end;
    unsigned long port;

    if (strncmp(url, "http://", 7) != 0)
        return -1;
    colon = strchr(a, ':');
    slash = strchr(a, '/');
    if (!colon || !slash || colon > slash || (size_t)(colon - a) >= sizeof(ip) ||
        (size_t)(slash - a) >= host_size)
        return -1;
    memcpy(ip, a, (size_t)(colon - a));
    ip[colon - a] = '\0';
    if (!isdigit((unsigned char)colon[1])) /* strtoul would take spaces and signs */
        return -1;
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (end != slash || colon + 1 == slash || errno || port == 0 || port > 65535)
        return -1;
    memset(to, 0, sizeof(*to));
    to->sin_family = AF_INET;
    to->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, ip, &to->sin_addr) != 1)
        return -1;
    for (p = slash; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return -1;
    memcpy(host, a, (size_t)(slash - a));
    host[slash - a] = '\0';
    *path = slash;
    return 0;
}

static int same_peer(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
    return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
}

/* Whether kept connection c is still open and quiet: the node has not closed it and has sent
 * nothing since its last answer. */
static int still_usable(const conn_t *c)
{
    char b;
    ssize_t r = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* A new connection to c->to, started (connected or connecting). 0, or -1 when refused at once. */
static int conn_open(reply_conns_t *rc, conn_t *c, int64_t now_us)
{
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    rc->n_open++;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->reused = 0;
    c->connect_deadline_us = now_us + rc->connect_timeout_us;
    if (connect(c->fd, (const struct sockaddr *)&c->to, sizeof(c->to)) == 0) {
        c->state = C_SENDING;
        return 0;
    }
    if (errno != EINPROGRESS) {
        conn_close(rc, c);
        return -1;
    }
    c->state = C_CONNECTING;
    return 0;
}

/* Send what is left of c's request. 0 when all of it went (or the socket is full: wait for
 * it), -1 when the connection failed. */
static int conn_send(conn_t *c)
{
    struct iovec iov[2];
    struct msghdr msg;
    int n = 0;
    ssize_t w;

    while (c->sent < c->head_len + c->body_len) {
        n = 0;
        if (c->sent < c->head_len) {
            iov[n].iov_base = c->head + c->sent;
            iov[n++].iov_len = c->head_len - c->sent;
            iov[n].iov_base = (void *)c->body;
            iov[n++].iov_len = c->body_len;
        } else {
            iov[n].iov_base = (void *)(c->body + (c->sent - c->head_len));
            iov[n++].iov_len = c->body_len - (c->sent - c->head_len);
        }
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t)n;
        w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        c->sent += (size_t)w;
    }
    c->state = C_READING;
    c->answer_len = 0;
    return 0;
}

/* The post on c ended: the connection is kept (keep) or closed, then the caller is told. */
static void conn_finish(reply_conns_t *rc, conn_t *c, int keep, int status, const char *why,
                        int64_t now_us)
{
    void *post = c->post;

    c->post = NULL;
    if (keep) {
        c->state = C_IDLE;
        c->idle_since_us = now_us;
    } else {
        conn_close(rc, c);
    }
    rc->done(rc->arg, post, status, why);
}

/* Begin sending c's post (its head and body set) on its connection. 0, or -1 on failure. */
static int conn_begin(conn_t *c)
{
    c->sent = 0;
    c->answer_len = 0;
    if (c->state == C_CONNECTING)
        return 0;
    c->state = C_SENDING;
    return conn_send(c);
}

/* The kept connection c failed under its post before any answer: once, the same post on a
 * new connection. 0 when on its way again. */
static int conn_retry(reply_conns_t *rc, conn_t *c, int64_t now_us)
{
    void *post = c->post;

    if (!c->reused || c->answer_len)
        return -1;
    close(c->fd);
    rc->n_open--;
    c->fd = -1;
    if (conn_open(rc, c, now_us)) {
        c->post = post; /* (conn_open closed the slot) still the caller's to end */
        return -1;
    }
    c->post = post;
    return conn_begin(c);
}

int reply_conns_post(reply_conns_t *rc, const char *url, const void *body, size_t len, void *post,
                     int64_t now_us)
{
    struct sockaddr_in to;
    char host[64];
    const char *path;
    conn_t *c = NULL, *spare = NULL;
    int i, n;

    if (!rc || parse_url(url, &to, host, sizeof(host), &path))
        return 0;
    for (i = 0; i < rc->max_conns && !c; i++) {
        conn_t *k = &rc->conns[i];
        if (k->state == C_FREE) {
            if (!spare)
                spare = k;
        } else if (k->state == C_IDLE && same_peer(&k->to, &to)) {
            if (still_usable(k))
                c = k;
            else
                conn_close(rc, k); /* closed by the node meanwhile */
            if (!c && !spare)
                spare = k;
        }
    }
    if (!c && !spare)
        return 0; /* every connection busy */
    n = snprintf((c ? c : spare)->head, HEAD_MAX,
                 "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/avro\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 path, host, len);
    if (n < 0 || n >= HEAD_MAX)
        return 0;
    if (c) {
        c->reused = 1;
    } else {
        c = spare;
        c->to = to;
        if (conn_open(rc, c, now_us))
            return -1;
    }
    c->awaited = 0;
    c->head_len = (size_t)n;
    c->body = body;
    c->body_len = len;
    c->post = post;
    c->deadline_us = now_us + rc->timeout_us;
    if (conn_begin(c) == 0)
        return 1;
    if (conn_retry(rc, c, now_us) == 0)
        return 1;
    conn_close(rc, c);
    return -1;
}

void reply_conns_await(reply_conns_t *rc, const void *post)
{
    int i;

    for (i = 0; rc && post && i < rc->max_conns; i++)
        if (rc->conns[i].post == post) {
            rc->conns[i].awaited = 1;
            return;
        }
}

int reply_conns_poll_fds(reply_conns_t *rc, struct pollfd *fds, int cap)
{
    int i, n = 0;

    for (i = 0; rc && i < rc->max_conns && n < cap; i++) {
        conn_t *c = &rc->conns[i];
        if (c->state != C_CONNECTING && c->state != C_SENDING &&
            (c->state != C_READING || !c->awaited))
            continue;
        fds[n].fd = c->fd;
        /* a connection refused or reset shows as readable (curl's wait reports no POLLERR) */
        fds[n].events = c->state == C_READING      ? POLLIN
                        : c->state == C_CONNECTING ? (short)(POLLIN | POLLOUT)
                                                   : POLLOUT;
        fds[n].revents = 0;
        rc->polled[n++] = i;
    }
    return n;
}

/* c's answer so far: 1 when whole (the status into *status, whether the node keeps the
 * connection into *keep), 0 when more is to come, -1 when it is not an HTTP answer. */
static int parse_answer(conn_t *c, int *status, int *keep)
{
    char *end, *line;

    c->answer[c->answer_len] = '\0';
    end = strstr(c->answer, "\r\n\r\n");
    if (!end)
        return c->answer_len >= ANSWER_MAX ? -1 : 0;
    if (strncmp(c->answer, "HTTP/1.", 7) != 0 || c->answer_len < 12 || c->answer[8] != ' ')
        return -1;
    *status = atoi(c->answer + 9);
    /* a 204 has no body; after any other answer the connection is closed, body or not */
    *keep = *status == 204 && c->answer[7] == '1';
    for (line = strstr(c->answer, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n"))
        if (strncasecmp(line + 2, "connection:", 11) == 0 &&
            strncasecmp(line + 2 + 11 + strspn(line + 2 + 11, " \t"), "close", 5) == 0)
            *keep = 0;
    if (end + 4 != c->answer + c->answer_len)
        *keep = 0; /* more than an answer came */
    return 1;
}

/* Read what the node sent on c. */
static void conn_read(reply_conns_t *rc, conn_t *c, int64_t now_us)
{
    int status = 0, keep = 0, r;
    ssize_t got;

    for (;;) {
        got = recv(c->fd, c->answer + c->answer_len, ANSWER_MAX - c->answer_len, 0);
        if (got > 0) {
            c->answer_len += (size_t)got;
            r = parse_answer(c, &status, &keep);
            if (r > 0) {
                conn_finish(rc, c, keep, status, status == 204 ? NULL : "answered", now_us);
                return;
            }
            if (r < 0) {
                conn_finish(rc, c, 0, 0, "not an HTTP answer", now_us);
                return;
            }
            continue;
        }
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        break; /* closed, or reset */
    }
    if (conn_retry(rc, c, now_us) == 0)
        return;
    conn_finish(rc, c, 0, 0, "connection closed", now_us);
}

/* The socket of c said revents. */
static void conn_ready(reply_conns_t *rc, conn_t *c, short revents, int64_t now_us)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (c->state == C_CONNECTING) {
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
            conn_finish(rc, c, 0, 0, "cannot connect", now_us);
            return;
        }
        c->state = C_SENDING;
    }
    if (c->state == C_SENDING) {
        if (conn_send(c) == 0)
            return; /* its answer comes on a later wait */
        if (conn_retry(rc, c, now_us) == 0)
            return;
        conn_finish(rc, c, 0, 0, "cannot send", now_us);
        return;
    }
    if (c->state == C_READING && (revents & (POLLIN | POLLHUP | POLLERR)))
        conn_read(rc, c, now_us);
}

void reply_conns_service(reply_conns_t *rc, const struct pollfd *fds, int n, int64_t now_us)
{
    int i;

    if (!rc)
        return;
    for (i = 0; i < n; i++) {
        conn_t *c = &rc->conns[rc->polled[i]];
        if (fds[i].revents && c->fd == fds[i].fd && c->post)
            conn_ready(rc, c, fds[i].revents, now_us);
    }
    for (i = 0; i < rc->max_conns; i++) {
        conn_t *c = &rc->conns[i];
        if (c->state == C_READING && !c->awaited)
            conn_read(rc, c, now_us); /* an answer nothing waited for: read if it came */
        if (c->state == C_IDLE) {
            if (now_us - c->idle_since_us > (int64_t)REPLY_CONNS_IDLE_MS * 1000)
                conn_close(rc, c);
        } else if (c->state != C_FREE) {
            if (c->state == C_CONNECTING && now_us > c->connect_deadline_us)
                conn_finish(rc, c, 0, 0, "connect timed out", now_us);
            else if (now_us > c->deadline_us)
                conn_finish(rc, c, 0, 0, "timed out", now_us);
        }
    }
}

/* The worker's poll loop: Kafka, libcurl and the timers on one thread. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/daemon.h"
#include "common/kafka_lag.h"
#include "workers/status.h"
#include "workers/attempts.h"
#include "workers/consumer.h"
#include "workers/event_loop.h"
#include "workers/limits_gate.h"
#include "workers/mock_call.h"
#include "workers/direct_reply.h"
#include "workers/host_slots.h"
#include "workers/http_call.h"
#include "workers/provider_metrics.h"
#include "workers/queueing.h"
#include "workers/reply_conns.h"
#include "workers/timers.h"

#define POLL_MAX_MS     100 /* the longest wait: the stop flag is looked at this often */
#define REPLY_CONNS_MAX 256 /* direct replies on their way at once on the worker's own */
#define CURL_EVENTS_MAX 256 /* libcurl's ready sockets handed to it in one turn */

/* libcurl's socket callback: s is to be watched for what (or no longer, CURL_POLL_REMOVE).
 * socketp is NULL until the socket is in the epoll set. */
static int curl_socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    worker_t *w = userp;
    struct epoll_event ev;

    (void)e;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(w->curl_epfd, EPOLL_CTL_DEL, s, NULL); /* fails when closed already: fine */
        return 0;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    ev.data.fd = s;
    /* the other operation when the set disagrees: a number closed and reused unannounced */
    if (epoll_ctl(w->curl_epfd, socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev) != 0)
        epoll_ctl(w->curl_epfd, socketp ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s, &ev);
    if (!socketp)
        curl_multi_assign(w->multi, s, w);
    return 0;
}

/* libcurl's timer callback: its timeouts are to be looked at in timeout_ms (-1: none). */
static int curl_timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    worker_t *w = userp;

    (void)m;
    w->curl_due_us = timeout_ms < 0 ? -1 : lq_mono_us() + (int64_t)timeout_ms * 1000;
    return 0;
}

lq_err_t event_loop_init(worker_t *w, char *errstr, size_t errstr_size)
{
    if (pipe2(w->wake_fds, O_NONBLOCK | O_CLOEXEC) != 0 ||
        (w->curl_epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        snprintf(errstr, errstr_size, "cannot make the wake-up pipe or the epoll set");
        return LQ_ERR_IO;
    }
    w->multi = curl_multi_init();
    if (!w->multi) {
        snprintf(errstr, errstr_size, "out of memory");
        return LQ_ERR_NOMEM;
    }
    /* libcurl's sockets and timeouts on this loop: each wait looks at the sockets that are
     * ready, not at every transfer (curl_multi_perform and curl_multi_poll walk them all) */
    w->curl_due_us = -1;
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
    w->reply_conns = reply_conns_create(REPLY_CONNS_MAX, 500, 2000, direct_reply_ended, w);
    w->wait_fds = calloc(REPLY_CONNS_MAX + 2, sizeof(struct pollfd));
    if (!w->reply_conns || !w->wait_fds) {
        snprintf(errstr, errstr_size, "out of memory");
        return LQ_ERR_NOMEM;
    }
    return LQ_OK;
}

void event_loop_watch_queues(worker_t *w)
{
    w->consumer_q = rd_kafka_queue_get_consumer(w->consumer);
    w->producer_q = rd_kafka_queue_get_main(w->producer);
    rd_kafka_queue_io_event_enable(w->consumer_q, w->wake_fds[1], "c", 1);
    rd_kafka_queue_io_event_enable(w->producer_q, w->wake_fds[1], "p", 1);
}

/* ---- timers: what each kind does when due ---- */

static void mock_answer_due(worker_t *w, job_t *j)
{
    attempt_done(w, j);
}

static void mock_word_due(worker_t *w, job_t *j)
{
    if (mock_call_step(w, j))
        attempt_done(w, j);
}

static void first_byte_due(worker_t *w, job_t *j)
{
    if (http_call_first_byte_timeout(w, j))
        attempt_done(w, j);
}

static void (*const on_timer[T_KINDS])(worker_t *w, job_t *j) = {
    [T_MOCK_DONE] = mock_answer_due,
    [T_MOCK_TOKEN] = mock_word_due,
    [T_RETRY] = attempt_start,
    [T_FIRST_BYTE] = first_byte_due,
};

static void run_timers(worker_t *w)
{
    int64_t now = lq_mono_us();
    job_t *j;

    while ((j = timer_pop_due(w, now))) {
        timer_kind_t kind = j->timer;
        j->timer = T_NONE;
        if (kind > T_NONE && kind < T_KINDS)
            on_timer[kind](w, j);
    }
}

/* ---- the turn ---- */

/* Hand libcurl the sockets the last wait found ready (at most CURL_EVENTS_MAX a turn; the
 * rest stay ready for the next), then its timeouts when due. */
static void curl_act(worker_t *w)
{
    struct epoll_event ev[CURL_EVENTS_MAX];
    int running = 0, n = 0, i;

    if (w->curl_ready)
        n = epoll_wait(w->curl_epfd, ev, CURL_EVENTS_MAX, 0);
    w->curl_ready = 0;
    for (i = 0; i < n; i++) {
        int mask = ((ev[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                   ((ev[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                   ((ev[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(w->multi, ev[i].data.fd, mask, &running);
    }
    if (w->curl_due_us >= 0 && lq_mono_us() >= w->curl_due_us) {
        w->curl_due_us = -1; /* the timer callback sets the next one */
        curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
}

static void run_transfers(worker_t *w)
{
    int running = 0;
    CURLMsg *msg;

    /* the direct replies on the worker's own connections, after the last wait */
    reply_conns_service(w->reply_conns, w->wait_fds + 2, w->n_reply_pfds, lq_mono_us());
    w->n_reply_pfds = 0;
    direct_reply_start_later(w);
    curl_act(w);
    while ((msg = curl_multi_info_read(w->multi, &running))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        if (direct_reply_owns(msg->easy_handle))
            direct_reply_done(w, msg->easy_handle, msg->data.result);
        else
            attempt_done(w, http_call_done(w, msg->easy_handle, msg->data.result));
    }
}

static void drain_wake_pipe(worker_t *w)
{
    char buf[256];

    while (read(w->wake_fds[0], buf, sizeof(buf)) > 0)
        ;
}

static void wait_for_work(worker_t *w, int more_waiting)
{
    struct pollfd *pfd = w->wait_fds;
    int64_t now = lq_mono_us();
    int64_t timeout_ms = more_waiting ? 0 : timer_wait_ms(w, now, POLL_MAX_MS);
    int64_t held_ms = limits_gate_wait_ms(w);
    int n;

    if (held_ms >= 0 && held_ms < timeout_ms)
        timeout_ms = held_ms; /* a paced tenant may go again */
    if (w->n_reply_later)
        timeout_ms = 0; /* posts to start */
    if (w->curl_due_us >= 0 && (w->curl_due_us - now + 999) / 1000 < timeout_ms)
        timeout_ms = w->curl_due_us <= now ? 0 : (w->curl_due_us - now + 999) / 1000;

    pfd[0].fd = w->wake_fds[0];
    pfd[1].fd = w->curl_epfd;
    pfd[0].events = pfd[1].events = POLLIN;
    pfd[0].revents = pfd[1].revents = 0;
    n = reply_conns_poll_fds(w->reply_conns, pfd + 2, REPLY_CONNS_MAX);
    if (poll(pfd, (nfds_t)n + 2, (int)timeout_ms) <= 0)
        n = 0;
    w->n_reply_pfds = n; /* their revents are read at the next turn, in wait_fds + 2 */
    w->curl_ready = pfd[1].revents != 0;
    if (pfd[0].revents)
        drain_wake_pipe(w);
}

void event_loop_turn(worker_t *w, int stopping)
{
    int more_waiting;

    if (!stopping)
        consumer_throttle(w);
    more_waiting = consumer_poll(w, stopping);
    rd_kafka_poll(w->producer, 0);
    run_transfers(w);
    run_timers(w);
    limits_gate_drain(w); /* the limit ledger's decisions: start, hold or fail */
    if (!stopping)
        queueing_dispatch(w); /* slots freed this turn go to the fairly picked next jobs */
    host_slots_run(w); /* calls that ended freed their hosts' connections: waiting calls go */
    worker_status_tick(w);
    provider_metrics_tick(w, lq_mono_ms());
    lq_kafka_lag_tick(w->lag, lq_mono_ms());
    lq_daemon_release_memory(lq_mono_ms());
    wait_for_work(w, more_waiting);
}

void event_loop_unwatch_queues(worker_t *w)
{
    if (w->consumer_q)
        rd_kafka_queue_destroy(w->consumer_q);
    if (w->producer_q)
        rd_kafka_queue_destroy(w->producer_q);
    w->consumer_q = w->producer_q = NULL;
}

void event_loop_free(worker_t *w)
{
    if (w->multi)
        curl_multi_cleanup(w->multi); /* (its sockets leave the epoll set first) */
    w->multi = NULL;
    if (w->curl_epfd >= 0)
        close(w->curl_epfd);
    w->curl_epfd = -1;
    direct_reply_free(w);
    reply_conns_destroy(w->reply_conns);
    w->reply_conns = NULL;
    free(w->wait_fds);
    w->wait_fds = NULL;
    if (w->wake_fds[0] >= 0)
        close(w->wake_fds[0]);
    if (w->wake_fds[1] >= 0)
        close(w->wake_fds[1]);
    w->wake_fds[0] = w->wake_fds[1] = -1;
}

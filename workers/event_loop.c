/* The worker's poll loop: Kafka, libcurl and the timers on one thread. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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
#include "workers/http_call.h"
#include "workers/provider_metrics.h"
#include "workers/queueing.h"
#include "workers/reply_conns.h"
#include "workers/timers.h"

#define POLL_MAX_MS     100 /* the longest wait: the stop flag is looked at this often */
#define REPLY_CONNS_MAX 256 /* direct replies on their way at once, as libcurl's per node */

lq_err_t event_loop_init(worker_t *w, char *errstr, size_t errstr_size)
{
    if (pipe2(w->wake_fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(errstr, errstr_size, "cannot make the wake-up pipe");
        return LQ_ERR_IO;
    }
    w->multi = curl_multi_init();
    if (!w->multi) {
        snprintf(errstr, errstr_size, "out of memory");
        return LQ_ERR_NOMEM;
    }
    curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)REPLY_CONNS_MAX);
    w->reply_conns = reply_conns_create(REPLY_CONNS_MAX, 500, 2000, direct_reply_ended, w);
    w->reply_pfds = calloc(REPLY_CONNS_MAX, sizeof(struct pollfd));
    w->wait_fds = calloc(REPLY_CONNS_MAX + 1, sizeof(struct curl_waitfd));
    if (!w->reply_conns || !w->reply_pfds || !w->wait_fds) {
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

static void run_transfers(worker_t *w)
{
    int running = 0;
    CURLMsg *msg;

    /* the direct replies on the worker's own connections, after the last wait */
    reply_conns_service(w->reply_conns, w->reply_pfds, w->n_reply_pfds, lq_mono_us());
    w->n_reply_pfds = 0;
    curl_multi_perform(w->multi, &running);
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
    struct curl_waitfd *wfd = w->wait_fds;
    int64_t timeout_ms = more_waiting ? 0 : timer_wait_ms(w, lq_mono_us(), POLL_MAX_MS);
    int64_t held_ms = limits_gate_wait_ms(w);
    int i, n;

    if (held_ms >= 0 && held_ms < timeout_ms)
        timeout_ms = held_ms; /* a paced tenant may go again */

    n = reply_conns_poll_fds(w->reply_conns, w->reply_pfds, REPLY_CONNS_MAX);
    wfd[0].fd = w->wake_fds[0];
    wfd[0].events = CURL_WAIT_POLLIN;
    wfd[0].revents = 0;
    for (i = 0; i < n; i++) {
        wfd[i + 1].fd = w->reply_pfds[i].fd;
        wfd[i + 1].events = (short)(((w->reply_pfds[i].events & POLLIN) ? CURL_WAIT_POLLIN : 0) |
                                    ((w->reply_pfds[i].events & POLLOUT) ? CURL_WAIT_POLLOUT : 0));
        wfd[i + 1].revents = 0;
    }
    curl_multi_poll(w->multi, wfd, (unsigned)n + 1, (int)timeout_ms, NULL);
    for (i = 0; i < n; i++)
        w->reply_pfds[i].revents =
            (short)(((wfd[i + 1].revents & CURL_WAIT_POLLIN) ? POLLIN : 0) |
                    ((wfd[i + 1].revents & CURL_WAIT_POLLOUT) ? POLLOUT : 0));
    w->n_reply_pfds = n;
    if (wfd[0].revents)
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
        curl_multi_cleanup(w->multi);
    w->multi = NULL;
    direct_reply_free(w);
    reply_conns_destroy(w->reply_conns);
    w->reply_conns = NULL;
    free(w->reply_pfds);
    free(w->wait_fds);
    w->reply_pfds = NULL;
    w->wait_fds = NULL;
    if (w->wake_fds[0] >= 0)
        close(w->wake_fds[0]);
    if (w->wake_fds[1] >= 0)
        close(w->wake_fds[1]);
    w->wake_fds[0] = w->wake_fds[1] = -1;
}

/* workers/event_loop.h — the worker's one thread: each turn reads Kafka, serves delivery
 * reports, moves the direct replies and libcurl's ready transfers along, runs the due timers,
 * then waits in one poll that the next timer, librdkafka's queues (through a pipe), the
 * direct replies' sockets and libcurl's (through an epoll set its socket callback keeps) all
 * wake. A turn's work for libcurl is that of its sockets found ready, however many transfers
 * are in flight. */
#ifndef LQ_WORKER_EVENT_LOOP_H
#define LQ_WORKER_EVENT_LOOP_H

#include "workers/worker_internal.h"

/** The wake-up pipe, the epoll set and the curl multi handle; LQ_ERR_IO or LQ_ERR_NOMEM with
 * errstr. */
lq_err_t event_loop_init(worker_t *w, char *errstr, size_t errstr_size);

/** Let the consumer's and the producer's queues wake the poll (both clients exist). */
void event_loop_watch_queues(worker_t *w);

/** One turn; stopping = draining (nothing new is taken). */
void event_loop_turn(worker_t *w, int stopping);

/** Free what event_loop_init and event_loop_watch_queues made (the queues before the Kafka
 * clients go, the rest after). */
void event_loop_unwatch_queues(worker_t *w);
void event_loop_free(worker_t *w);

#endif

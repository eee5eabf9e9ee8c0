/* workers/event_loop.h — the worker's one thread: each turn reads Kafka, serves delivery
 * reports, drives libcurl's transfers and the due timers, then waits in one poll that
 * libcurl's sockets, the next timer and librdkafka's queues (through a pipe) all wake. */
#ifndef LQ_WORKER_EVENT_LOOP_H
#define LQ_WORKER_EVENT_LOOP_H

#include "workers/worker_internal.h"

/** The wake-up pipe and the curl multi handle; LQ_ERR_IO or LQ_ERR_NOMEM with errstr. */
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

/* workers/sse.h — an incremental parser for server-sent events (text/event-stream), after
 * the WHATWG HTML "event stream interpretation" rules: lines end in \n, \r\n or \r (also
 * when the \r and the \n arrive in different feeds), "field: value" lines (one space after
 * the colon dropped), comment lines starting with ':', "data" lines joined by \n, and a
 * blank line dispatching the event. Bytes may be fed split anywhere. Memory is bounded:
 * an event (or a line) longer than the cap is an error, not a bigger buffer. */
#ifndef LQ_WORKER_SSE_H
#define LQ_WORKER_SSE_H

#include <stddef.h>

typedef struct worker_sse worker_sse_t; /* opaque */

#define WORKER_SSE_DEFAULT_MAX_EVENT (1024 * 1024)

/** Called for each dispatched event. event is the "event:" field ("message" when none was
 * given); data is the joined data lines, NUL-terminated, data_len bytes (an event without
 * any data line is not dispatched). Both are borrowed for the call. Return 0 to go on,
 * non-zero to stop: worker_sse_feed then returns at once. */
typedef int (*worker_sse_event_cb)(void *arg, const char *event, const char *data, size_t data_len);

/** A parser that refuses events (and lines) above max_event bytes (0: the default, 1 MiB).
 * NULL when out of memory; free it with worker_sse_free. */
worker_sse_t *worker_sse_new(size_t max_event);
void worker_sse_free(worker_sse_t *p); /* NULL-safe */

#define WORKER_SSE_OK        0  /* go on */
#define WORKER_SSE_STOPPED   1  /* the callback asked to stop */
#define WORKER_SSE_TOO_LARGE -1 /* an event or line over the cap */
#define WORKER_SSE_NOMEM     -2 /* out of memory */

/** Parse len bytes. Returns WORKER_SSE_OK or the first non-OK outcome, which sticks: later
 * calls return it again without parsing. At the end of the stream an event without its
 * blank line is dropped, as the rules say (nothing to call). */
int worker_sse_feed(worker_sse_t *p, const char *buf, size_t len, worker_sse_event_cb cb,
                    void *arg);

#endif

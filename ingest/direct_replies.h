/* ingest/direct_replies.h — where workers hand a request's reply straight to the node that
 * waits for it: HTTP POSTs of the framed ChatChunks and ChatResponse to the request's
 * reply_url, instead of records on the node's reply topic (one produce and one fetch fewer
 * per piece). The reply topic stays: a worker that cannot reach the node falls back to it.
 *
 * The listener has an address of its own (direct_replies.bind / .port), apart from the API.
 * Its one path holds a secret made at start, which travels only inside requests on Kafka:
 * whoever can answer a request directly could have written to the reply topic anyway. */
#ifndef LQ_INGEST_DIRECT_REPLIES_H
#define LQ_INGEST_DIRECT_REPLIES_H

#include <stddef.h>

#include "common/err.h"
#include "ingest/replies.h"

typedef struct ingest_direct ingest_direct_t;

/** Listen on bind:port (0 = a free port) and hand what is posted to replies. host names the
 * node in the URL workers are given (empty: bind, or the host name when bind is 0.0.0.0).
 * max_body bounds a posted reply. */
lq_err_t ingest_direct_start(ingest_direct_t **out, ingest_replies_t *replies, const char *bind,
                             int port, const char *host, size_t max_body, char *errstr,
                             size_t errstr_size);
/** NULL-safe. */
void ingest_direct_stop(ingest_direct_t *d);

/** The URL a SYNC or STREAM request carries (reply_url): http://host:port/replies/<secret>. */
const char *ingest_direct_url(const ingest_direct_t *d);

#endif

/* ingest/routes.h — the HTTP API as a table: each route's method and path pattern, the
 * scope a key must have for it, the least role, its handler and its label in the metrics.
 * The dispatcher (http.c) answers from the table, the same way for every row: 404 for a
 * path no row has, 405 with Allow for a method the path does not have, 401 without a valid
 * key, 403 for a scope or role the key lacks. */
#ifndef LQ_INGEST_ROUTES_H
#define LQ_INGEST_ROUTES_H

#include <stddef.h>

#include "ingest/auth.h"
#include "ingest/path_match.h"
#include "ingest/request_ctx.h"

/* Runs once the caller may use the route. Returns INGEST_STEP_ANSWER or
 * INGEST_STEP_SUSPENDED. */
typedef ingest_step_t (*ingest_handler_fn)(req_ctx_t *c);

/* Takes a piece of the body of a route that streams its body (an upload) once the caller may
 * use the route: consumes what it can (*size: what is left), and may suspend the connection
 * or set an answer. The handler runs when the whole body was given. */
typedef void (*ingest_body_fn)(req_ctx_t *c, const char *data, size_t *size);

typedef struct ingest_route {
    ingest_route_key_t key;   /* method and pattern: first, for ingest_route_find */
    unsigned scope;           /* the INGEST_SCOPE_* a narrowed key needs; 0: none */
    ingest_role_t least_role; /* ROLE_NONE: no key needed */
    ingest_handler_fn handler;
    const char *label;   /* llmq_ingest_requests_total{route=...} */
    ingest_body_fn body; /* NULL: the body is read whole first, up to http.max_body_bytes */
} ingest_route_t;

extern const ingest_route_t ingest_routes[];
extern const size_t ingest_routes_count;

/* The metrics label of requests that match no route. */
#define INGEST_ROUTE_LABEL_OTHER "other"

#endif

/* workers/provider_http.h — putting a provider's HTTP request together (URL, headers); the
 * wires' build_request functions use these. */
#ifndef LQ_WORKER_PROVIDER_HTTP_H
#define LQ_WORKER_PROVIDER_HTTP_H

#include "workers/provider.h"

/** Append "name: value" to r->headers; 0 or -1 (out of memory). */
int worker_http_request_add_header(worker_http_request_t *r, const char *name, const char *value);

/** Set r->url to base + path1 + path2 (path2 may be NULL); 0 or -1. */
int worker_http_request_set_url(worker_http_request_t *r, const char *base, const char *path1,
                                const char *path2);

/** Append the target's extra header lines; 0 or -1. */
int worker_http_request_add_target_headers(worker_http_request_t *r, const worker_target_t *t);

/** Append to r, after the body, URL and content headers of a wire: key_header with
 * key_prefix and the target's API key (when it has one), Accept: text/event-stream when
 * stream, and the target's extra headers; 0 or -1. */
int worker_http_request_add_rest(worker_http_request_t *r, const worker_target_t *t, int stream,
                                 const char *key_header, const char *key_prefix);

#endif

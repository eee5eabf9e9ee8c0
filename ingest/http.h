/* ingest/http.h — the dispatcher: libmicrohttpd's callbacks for the API. It collects the
 * body, finds the route in the table (routes.c), authenticates and authorizes the caller as
 * the route's row says, runs the route's handler and sends the answer; it counts every
 * request by route and status. */
#ifndef LQ_INGEST_HTTP_H
#define LQ_INGEST_HTTP_H

#include <stddef.h>

#include <microhttpd.h>

#include "ingest/node.h"

typedef struct ingest_http ingest_http_t;

/** node is borrowed for the dispatcher's lifetime. NULL without memory. */
ingest_http_t *ingest_http_create(ingest_node_t *node);
void ingest_http_destroy(ingest_http_t *h); /* NULL-safe */

/** MHD's access handler; cls is the ingest_http_t. */
enum MHD_Result ingest_http_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version, const char *upload,
                                    size_t *upload_size, void **con_cls);
/** MHD's completion notice (MHD_OPTION_NOTIFY_COMPLETED); cls is the ingest_http_t. */
void ingest_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe);
/** MHD's unescaper (MHD_OPTION_UNESCAPE_CALLBACK): %XX decoded as MHD does, except that a
 * decoded NUL becomes DEL, so "/healthz%00x" keeps its length instead of shrinking to
 * "/healthz", and the dispatcher refuses it like any path with a control byte. */
size_t ingest_http_unescape(void *cls, struct MHD_Connection *conn, char *s);

#endif

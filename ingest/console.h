/* ingest/console.h — the web console (docs/console.md): the files of ingest/console/,
 * compiled into the binary, served at /console/ with a strict Content-Security-Policy. The
 * pages call the API with the key the user signs in with; serving them needs no key. */
#ifndef LQ_INGEST_CONSOLE_H
#define LQ_INGEST_CONSOLE_H

#include <microhttpd.h>

#include "ingest/request_ctx.h"

ingest_step_t ingest_console_redirect(req_ctx_t *c); /* GET /console → /console/ */
ingest_step_t ingest_console_file(req_ctx_t *c);     /* GET /console/{file} */

/** The headers every console answer carries (CSP, no sniffing, no referrer, no framing). */
void ingest_console_add_headers(struct MHD_Response *r);

#endif

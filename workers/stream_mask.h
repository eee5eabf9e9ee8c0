/* workers/stream_mask.h — masking credentials in a streamed answer before it leaves the worker.
 *
 * The text is held back from the earliest position where a credential could still be starting
 * or growing (lq_secret_open_from), and what comes before it is released masked. The released
 * text, chunk boundaries aside, is what lq_secret_redact makes of the whole answer, as long as
 * no held part exceeds STREAM_MASK_HOLD_MAX bytes (then it is released as a cut-off credential
 * and the rest of that credential is masked as it arrives). */
#ifndef LQ_WORKER_STREAM_MASK_H
#define LQ_WORKER_STREAM_MASK_H

#include <stddef.h>

#include "workers/provider.h"

enum { STREAM_MASK_HOLD_MAX = 4096 };

typedef struct stream_mask {
    char *buf;  /* the last released bytes (ctx of them, context for the scan), then held text */
    size_t ctx; /* 0..2 */
    size_t len; /* ctx + held */
    size_t cap;
    int swallow;     /* after a forced release: 1 = a token goes on, 2 = a private key block does */
    size_t end_seen; /* swallow 2: bytes of "-----END" matched; 8 = to the end of the line */
} stream_mask_t;

/** Take len more bytes of answer; release what can no longer be part of a credential,
 * masked, through out(arg, text, n). LQ_OK, or LQ_ERR_NOMEM (nothing is released then). */
int stream_mask_feed(stream_mask_t *m, const char *text, size_t len, worker_delta_cb out,
                     void *arg);

/** The answer is over: release what is held, masked. */
void stream_mask_flush(stream_mask_t *m, worker_delta_cb out, void *arg);

/** Free the buffer (m can be fed again afterwards). */
void stream_mask_clear(stream_mask_t *m);

#endif

/* Server-sent events, incrementally (see sse.h). */
#include "workers/sse.h"

#include "workers/provider_json.h" /* worker_buf_t */

#include <stdlib.h>
#include <string.h>

struct worker_sse {
    size_t max;
    worker_buf_t line;  /* the line being read */
    worker_buf_t data;  /* data lines so far, each followed by \n */
    worker_buf_t event; /* the event type */
    int after_cr;       /* the last byte was a \r: a \n first in the next feed ends nothing */
    int bom;            /* bytes of a leading byte order mark matched; 3 = past the start */
    int state;          /* WORKER_SSE_OK or the sticky outcome */
};

static const unsigned char bom_bytes[3] = {0xEF, 0xBB, 0xBF};

/* Append n bytes to b, keeping a NUL after them; WORKER_SSE_TOO_LARGE above max bytes. */
static int buf_add(worker_buf_t *b, const char *s, size_t n, size_t max)
{
    if (n > max || b->len > max - n)
        return WORKER_SSE_TOO_LARGE;
    return worker_buf_add(b, s, n) ? WORKER_SSE_NOMEM : WORKER_SSE_OK;
}

worker_sse_t *worker_sse_new(size_t max_event)
{
    worker_sse_t *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->max = max_event ? max_event : WORKER_SSE_DEFAULT_MAX_EVENT;
    return p;
}

void worker_sse_free(worker_sse_t *p)
{
    if (!p)
        return;
    free(p->line.p);
    free(p->data.p);
    free(p->event.p);
    free(p);
}

static int dispatch(worker_sse_t *p, worker_sse_event_cb cb, void *arg)
{
    int rc = 0;

    if (p->data.len) {
        p->data.p[--p->data.len] = '\0'; /* the last line's \n */
        rc = cb(arg, p->event.len ? p->event.p : "message", p->data.p, p->data.len);
    }
    p->data.len = 0;
    p->event.len = 0;
    return rc ? WORKER_SSE_STOPPED : WORKER_SSE_OK;
}

/* One complete line (without its end). */
static int line(worker_sse_t *p, const char *s, size_t n, worker_sse_event_cb cb, void *arg)
{
    const char *colon, *value;
    size_t flen, vlen;
    int rc;

    if (n == 0)
        return dispatch(p, cb, arg);
    if (s[0] == ':')
        return WORKER_SSE_OK; /* a comment (keep-alives, ": OPENROUTER PROCESSING") */
    colon = memchr(s, ':', n);
    if (colon) {
        flen = (size_t)(colon - s);
        value = colon + 1;
        vlen = n - flen - 1;
        if (vlen && *value == ' ') {
            value++;
            vlen--;
        }
    } else {
        flen = n;
        value = s + n;
        vlen = 0;
    }
    if (flen == 4 && memcmp(s, "data", 4) == 0) {
        rc = buf_add(&p->data, value, vlen, p->max);
        return rc ? rc : buf_add(&p->data, "\n", 1, p->max);
    }
    if (flen == 5 && memcmp(s, "event", 5) == 0) {
        p->event.len = 0;
        return buf_add(&p->event, value, vlen, p->max);
    }
    return WORKER_SSE_OK; /* id, retry and unknown fields: nothing llmq uses */
}

int worker_sse_feed(worker_sse_t *p, const char *s, size_t len, worker_sse_event_cb cb, void *arg)
{
    size_t i = 0, j;

    if (p->state != WORKER_SSE_OK)
        return p->state;
    while (p->bom < 3 && i < len) { /* one leading U+FEFF is dropped */
        if ((unsigned char)s[i] == bom_bytes[p->bom]) {
            p->bom++;
            i++;
            continue;
        }
        if (p->bom > 0) { /* a false start: those bytes belong to the first line */
            p->state = buf_add(&p->line, (const char *)bom_bytes, (size_t)p->bom, p->max);
            if (p->state)
                return p->state;
        }
        p->bom = 3;
    }
    while (i < len) {
        if (p->after_cr) {
            p->after_cr = 0;
            if (s[i] == '\n') {
                i++;
                continue;
            }
        }
        for (j = i; j < len && s[j] != '\n' && s[j] != '\r'; j++)
            ;
        if (j == len) { /* no line end in this feed: keep the piece */
            p->state = buf_add(&p->line, s + i, j - i, p->max);
            return p->state;
        }
        if (p->line.len) {
            p->state = buf_add(&p->line, s + i, j - i, p->max);
            if (!p->state)
                p->state = line(p, p->line.p, p->line.len, cb, arg);
            p->line.len = 0;
        } else {
            p->state = j - i > p->max ? WORKER_SSE_TOO_LARGE : line(p, s + i, j - i, cb, arg);
        }
        p->after_cr = s[j] == '\r';
        i = j + 1;
        if (p->state)
            return p->state;
    }
    return WORKER_SSE_OK;
}

/* Masking a streamed answer with a hold-back. See workers/stream_mask.h.
 *
 * Why a hold-back and not masking each piece: a credential can arrive split across pieces
 * ("sk-proj-Ab" then "Cd…"), and masking is decided by the whole shape (its length, what ends
 * it). So each new piece is added to what is held, and the scanner says from where a
 * credential could still be starting or growing: a candidate start (the scanner's first-byte
 * and two-byte filter) whose possible extent reaches the end of the text so far. Everything
 * before that position scans the same whatever follows, so it is released, masked where a
 * finding lies; the rest waits for more text or the end of the answer. Ordinary prose is held
 * at most to the end of the current word, and most words never start a candidate. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret_scan.h"
#include "workers/stream_mask.h"

static int reserve(stream_mask_t *m, size_t more)
{
    size_t need = m->len + more + 1, ncap;
    char *nb;

    if (need <= m->cap)
        return LQ_OK;
    ncap = need < 256 ? 256 : need * 2;
    nb = realloc(m->buf, ncap);
    if (!nb)
        return LQ_ERR_NOMEM;
    m->buf = nb;
    m->cap = ncap;
    return LQ_OK;
}

/* Keep the last (up to 2) bytes of released text rel[0..cut) as context, and the held bytes
 * m->buf[cut..len). rel may be m->buf. */
static void keep_from(stream_mask_t *m, const char *rel, size_t cut)
{
    size_t k = cut < 2 ? cut : 2;
    char ctx[2];

    memcpy(ctx, rel + cut - k, k);
    memmove(m->buf + k, m->buf + cut, m->len - cut);
    memcpy(m->buf, ctx, k);
    m->len = k + m->len - cut;
    m->ctx = k;
}

/* What mask_upto's sweeps know: the cut, and how the last finding before it ended. */
typedef struct upto {
    size_t cut, n;
    int cut_off, moved;
} upto_t;

/* Findings before the cut are masked; one past it ends the sweep; one over it moves the
 * cut back to its start and the masking starts again. */
static lq_sweep_action_t upto_visit(void *arg, const lq_secret_finding_t *f)
{
    upto_t *u = arg;

    if (f->start >= u->cut)
        return LQ_SWEEP_END;
    if (f->start + f->len > u->cut) {
        u->cut = f->start;
        u->moved = 1;
        return LQ_SWEEP_STOP;
    }
    if (f->start + f->len == u->n)
        u->cut_off = f->kind == LQ_SECRET_PRIVATE_KEY ? 2 : 1;
    return LQ_SWEEP_MASK;
}

/* Mask b[c0..*cut) in w (a copy of b[0..n)) as lq_secret_redact would (lq_secret_sweep). A
 * finding that would run over the cut moves the cut back to its start (it is held whole).
 * Returns 0, or when a finding ends at n (cut off by the end) 2 for a private key block, 1
 * for another credential. */
static int mask_upto(const char *b, char *w, size_t n, size_t c0, size_t *cut)
{
    upto_t u = {*cut, n, 0, 0};

    do {
        memcpy(w, b, n);
        w[n] = '\0';
        u.cut_off = u.moved = 0;
        lq_secret_sweep(w, n, c0, upto_visit, &u);
    } while (u.moved);
    *cut = u.cut;
    return u.cut_off;
}

/* A credential cut off by the bound: its last bytes are masked too, and what follows of it
 * (the rest of the token, or of the private key block) is masked as it arrives. */
static void cut_off_credential(stream_mask_t *m, char *w, size_t n, int kind)
{
    size_t i, c = m->ctx;

    for (i = n >= c + 2 ? n - 2 : c; i < n; i++)
        if (w[i] != '\n')
            w[i] = '*';
    m->swallow = kind;
    m->end_seen = 0;
}

/* Release what can be released (everything when final). */
static int release(stream_mask_t *m, int final, worker_delta_cb out, void *arg)
{
    size_t c0 = m->ctx, n = m->len, cut;
    int forced = 0, cut_off;
    char *w;

    cut = final ? n : lq_secret_open_from(m->buf, n, c0);
    if (!final && n - cut > STREAM_MASK_HOLD_MAX) {
        cut = n;
        forced = 1;
    }
    if (cut == c0)
        return LQ_OK;
    w = malloc(n + 1);
    if (!w)
        return LQ_ERR_NOMEM;
    cut_off = mask_upto(m->buf, w, n, c0, &cut);
    if (forced && cut_off)
        cut_off_credential(m, w, n, cut_off);
    if (cut > c0)
        out(arg, w + c0, cut - c0);
    keep_from(m, w, cut);
    free(w);
    return LQ_OK;
}

static int token_byte(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.';
}

/* After a cut-off credential: how many of the held bytes still belong to it. */
static size_t swallow_len(stream_mask_t *m)
{
    static const char end[] = "-----END";
    const char *p = m->buf + m->ctx;
    size_t n = m->len - m->ctx, i;

    for (i = 0; i < n && m->swallow; i++) {
        if (m->swallow == 1 && !token_byte((unsigned char)p[i]))
            m->swallow = 0;
        else if (m->swallow == 2 && m->end_seen == 8 && p[i] == '\n')
            m->swallow = 0;
        else if (m->swallow == 2 && m->end_seen < 8)
            m->end_seen = p[i] == end[m->end_seen] ? m->end_seen + 1 : p[i] == '-';
        if (!m->swallow)
            return i;
    }
    return i;
}

/* Mask and release the held bytes that still belong to a cut-off credential. */
static void swallow(stream_mask_t *m, worker_delta_cb out, void *arg)
{
    size_t k = swallow_len(m), i;
    char *p = m->buf + m->ctx;

    if (!k)
        return;
    for (i = 0; i < k; i++)
        if (p[i] != '\n')
            p[i] = '*';
    out(arg, p, k);
    keep_from(m, m->buf, m->ctx + k);
}

int stream_mask_feed(stream_mask_t *m, const char *text, size_t len, worker_delta_cb out, void *arg)
{
    if (!len)
        return LQ_OK;
    if (reserve(m, len))
        return LQ_ERR_NOMEM;
    memcpy(m->buf + m->len, text, len);
    m->len += len;
    if (m->swallow)
        swallow(m, out, arg);
    return release(m, 0, out, arg);
}

void stream_mask_flush(stream_mask_t *m, worker_delta_cb out, void *arg)
{
    if (m->len > m->ctx && release(m, 1, out, arg) == LQ_OK)
        m->len = m->ctx;
}

void stream_mask_clear(stream_mask_t *m)
{
    free(m->buf);
    memset(m, 0, sizeof(*m));
}

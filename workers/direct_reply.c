#include "workers/direct_reply.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "workers/job.h"
#include "workers/produce.h"
#include "workers/reply_conns.h"

/* One piece of a reply, waiting or being posted. While posted, it is its transfer's owner:
 * the multi handle's transfers carry a pointer to a job (whose first member is its worker,
 * never NULL) or to a piece (whose first member is NULL). */
typedef struct reply_piece {
    struct worker *none; /* NULL: tells a piece from a job */
    job_t *j;
    struct reply_piece *next;
    size_t len;
    char body[];
} reply_piece_t;

_Static_assert(offsetof(job_t, w) == 0, "a job's worker is its first member");

/* A 204 has no body; anything else a node says is not kept. */
static size_t discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

static struct curl_slist *headers(worker_t *w)
{
    if (!w->reply_headers) {
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/avro");
        /* the body is sent at once: no round trip for "100 Continue" */
        struct curl_slist *h2 = h ? curl_slist_append(h, "Expect:") : NULL;
        if (!h2)
            curl_slist_free_all(h);
        w->reply_headers = h2;
    }
    return w->reply_headers;
}

/* Start posting piece: on the worker's own connections when the URL is an address they
 * take (workers/reply_conns.h), else through libcurl. -1 when it cannot start (the piece is
 * still the caller's). */
static int start_later(worker_t *w, CURL *e)
{
    if (w->n_reply_later == w->cap_reply_later) {
        size_t cap = w->cap_reply_later ? w->cap_reply_later * 2 : 16;
        CURL **p = realloc(w->reply_later, cap * sizeof(*p));
        if (!p)
            return -1;
        w->reply_later = p;
        w->cap_reply_later = cap;
    }
    w->reply_later[w->n_reply_later++] = e;
    return 0;
}

static int post(worker_t *w, job_t *j, reply_piece_t *piece)
{
    CURLMcode mc;
    CURL *e;
    int r = reply_conns_post(w->reply_conns, j->req.reply_url, piece->body, piece->len, piece,
                             lq_mono_us());

    if (r != 0) {
        if (r < 0)
            return -1;
        j->direct_posting = piece;
        if (j->direct_head) /* more pieces wait for this one's end */
            reply_conns_await(w->reply_conns, piece);
        return 0;
    }
    if (!headers(w) || !(e = curl_easy_init()))
        return -1;
    curl_easy_setopt(e, CURLOPT_URL, j->req.reply_url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->reply_headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, &piece->body[0]);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)piece->len);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_PRIVATE, piece);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 500L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* a node is reached directly, as on reply_conns */
    mc = curl_multi_add_handle(w->multi, e);
    /* a streamed chunk is posted from inside libcurl's callback of the provider's body, where
     * libcurl takes no new transfer: it starts at the loop's next turn */
    if (mc == CURLM_RECURSIVE_API_CALL && start_later(w, e) == 0)
        mc = CURLM_OK;
    if (mc != CURLM_OK) {
        curl_easy_cleanup(e);
        return -1;
    }
    j->direct_posting = piece;
    return 0;
}

/* first (the piece whose post failed or could not start) and every piece waiting behind it
 * to the reply topic, in order; the job's pieces go there from now on. */
static void to_topic(worker_t *w, job_t *j, reply_piece_t *first)
{
    reply_piece_t *piece = first;

    j->direct_failed = 1;
    lq_metric_add(w->m_direct_fallback, 1);
    while (piece) {
        reply_piece_t *next = piece == first ? j->direct_head : piece->next;
        produce(w, j, j->req.reply_topic, j->req.job_id, piece->body, piece->len);
        free(piece);
        piece = next;
    }
    j->direct_head = j->direct_tail = NULL;
}

void direct_reply_send(worker_t *w, job_t *j, const void *buf, size_t len)
{
    reply_piece_t *piece;

    if (!j->req.reply_topic)
        return;
    if (!j->req.reply_url || j->direct_failed || !(piece = malloc(sizeof(*piece) + len))) {
        produce(w, j, j->req.reply_topic, j->req.job_id, buf, len);
        return;
    }
    piece->none = NULL;
    piece->j = j;
    piece->next = NULL;
    piece->len = len;
    memcpy(piece->body, buf, len);
    if (j->direct_posting) { /* behind the one on its way */
        if (!j->direct_head) /* (a no-op when that one went through libcurl) */
            reply_conns_await(w->reply_conns, j->direct_posting);
        if (j->direct_tail)
            j->direct_tail->next = piece;
        else
            j->direct_head = piece;
        j->direct_tail = piece;
        return;
    }
    j->pending++; /* until the node or the reply topic has every piece */
    if (post(w, j, piece)) {
        to_topic(w, j, piece);
        job_release(j);
    }
}

int direct_reply_owns(CURL *e)
{
    struct worker **owner = NULL;

    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&owner);
    return owner && *owner == NULL;
}

/* The post of piece ended: taken (ok), or not, why says how. The job's next piece goes, or
 * after a failure this one and the rest go to the reply topic. */
static void piece_ended(worker_t *w, reply_piece_t *piece, int ok, const char *why)
{
    reply_piece_t *next;
    job_t *j = piece->j;

    j->direct_posting = NULL;
    if (!ok) {
        /* the node is gone, restarted (a new secret) or unreachable from here */
        LQ_DEBUG("job %s: direct reply not taken (%s): sent to %s", j->req.job_id, why,
                 j->req.reply_topic);
        to_topic(w, j, piece);
        job_release(j);
        return;
    }
    lq_metric_add(w->m_direct, 1);
    free(piece);
    next = j->direct_head;
    if (next) {
        j->direct_head = next->next;
        if (!j->direct_head)
            j->direct_tail = NULL;
        if (post(w, j, next) == 0)
            return;
        to_topic(w, j, next);
    }
    job_release(j);
}

void direct_reply_done(worker_t *w, CURL *e, CURLcode code)
{
    reply_piece_t *piece = NULL;
    long status = 0;
    char why[96];

    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&piece);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(w->multi, e);
    curl_easy_cleanup(e);
    snprintf(why, sizeof(why), "%s, HTTP %ld",
             code == CURLE_OK ? "answered" : curl_easy_strerror(code), status);
    piece_ended(w, piece, code == CURLE_OK && status == 204, why);
}

void direct_reply_ended(void *arg, void *post, int status, const char *why)
{
    char text[96];

    snprintf(text, sizeof(text), "%s, HTTP %d", why ? why : "answered", status);
    piece_ended(arg, post, status == 204, text);
}

void direct_reply_start_later(worker_t *w)
{
    CURL **later = w->reply_later;
    size_t n = w->n_reply_later, i;

    if (!n)
        return;
    w->reply_later = NULL; /* (a post that fails here may add to a new list) */
    w->n_reply_later = w->cap_reply_later = 0;
    for (i = 0; i < n; i++) {
        reply_piece_t *piece = NULL;
        if (curl_multi_add_handle(w->multi, later[i]) == CURLM_OK)
            continue;
        curl_easy_getinfo(later[i], CURLINFO_PRIVATE, (char **)&piece);
        curl_easy_cleanup(later[i]);
        piece_ended(w, piece, 0, "cannot start");
    }
    free(later);
}

void direct_reply_free(worker_t *w)
{
    size_t i;

    for (i = 0; i < w->n_reply_later; i++)
        curl_easy_cleanup(w->reply_later[i]);
    free(w->reply_later);
    w->reply_later = NULL;
    w->n_reply_later = w->cap_reply_later = 0;
    curl_slist_free_all(w->reply_headers);
    w->reply_headers = NULL;
}

#include "workers/direct_reply.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "workers/job.h"
#include "workers/produce.h"

/* A direct reply on its way. The multi handle's transfers carry a pointer to their owner: a
 * job (whose first member is its worker, never NULL) or this (whose first member is NULL). */
typedef struct reply_post {
    struct worker *none; /* NULL: tells a post from a job */
    job_t *j;
    size_t len;
    char body[];
} reply_post_t;

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

int direct_reply_start(worker_t *w, job_t *j, const void *buf, size_t len)
{
    reply_post_t *p;
    CURL *e;

    if (!j->req.reply_url || !headers(w) || !(p = malloc(sizeof(*p) + len)))
        return -1;
    if (!(e = curl_easy_init())) {
        free(p);
        return -1;
    }
    p->none = NULL;
    p->j = j;
    p->len = len;
    memcpy(p->body, buf, len);
    curl_easy_setopt(e, CURLOPT_URL, j->req.reply_url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->reply_headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, &p->body[0]);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_PRIVATE, p);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 500L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
    j->pending++; /* until the node or the reply topic has it */
    if (curl_multi_add_handle(w->multi, e) != CURLM_OK) {
        j->pending--;
        curl_easy_cleanup(e);
        free(p);
        return -1;
    }
    return 0;
}

int direct_reply_owns(CURL *e)
{
    struct worker **owner = NULL;

    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&owner);
    return owner && *owner == NULL;
}

void direct_reply_done(worker_t *w, CURL *e, CURLcode code)
{
    reply_post_t *p = NULL;
    long status = 0;
    job_t *j;

    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&p);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(w->multi, e);
    curl_easy_cleanup(e);
    j = p->j;
    if (code == CURLE_OK && status == 204) {
        lq_metric_add(w->m_direct, 1);
    } else {
        /* the node is gone, restarted (a new secret) or unreachable from here */
        LQ_DEBUG("job %s: direct reply not taken (%s, HTTP %ld): sent to %s", j->req.job_id,
                 code == CURLE_OK ? "answered" : curl_easy_strerror(code), status,
                 j->req.reply_topic);
        lq_metric_add(w->m_direct_fallback, 1);
        if (j->req.reply_topic)
            produce(w, j, j->req.reply_topic, j->req.job_id, p->body, p->len);
    }
    free(p);
    job_release(j);
}

void direct_reply_free(worker_t *w)
{
    curl_slist_free_all(w->reply_headers);
    w->reply_headers = NULL;
}

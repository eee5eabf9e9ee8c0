/* workers/host_slots.c — see host_slots.h. */
#include "workers/host_slots.h"

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "workers/attempts.h"

typedef struct host_slot {
    long in_flight;
    job_t *head, *tail; /* waiting, oldest first */
} host_slot_t;

struct host_slots {
    int *host_of; /* per endpoint: its host's index, -1 = unbounded (the mock) */
    host_slot_t *hosts;
    size_t n_hosts;
    size_t waiting;
    job_t *granted;   /* the waiting job being started: it goes before the others ... */
    int granted_host; /* ... of this host (not of another its route may take it to) */
    lq_metric_t *m_waiting;
};

/* "scheme://host:port" of a URL, lower case, the scheme's own port when none is written, into
 * out[size] (libcurl's URL parser: user information, path and query aside); -1 when it does
 * not parse. */
static int origin_of(const char *url, char *out, size_t size)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = -1;

    if (u && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
        snprintf(out, size, "%s://%s:%s", scheme, host, port) < (int)size) {
        for (char *p = out; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        rc = 0;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

int host_slots_same_host(const char *a, const char *b)
{
    char x[512], y[512];

    if (origin_of(a, x, sizeof(x)) || origin_of(b, y, sizeof(y)))
        return strcmp(a, b) == 0;
    return strcmp(x, y) == 0;
}

/* The index of endpoint ep's host (origin[ep]) among endpoints 0..ep-1, or a new one. */
static int host_index(char *const *origin, const int *host_of, size_t ep, size_t *n_hosts)
{
    size_t i;

    for (i = 0; i < ep; i++)
        if (host_of[i] >= 0 && strcmp(origin[i], origin[ep]) == 0)
            return host_of[i];
    return (int)(*n_hosts)++;
}

/* Each endpoint's origin (its base URL as written when it does not parse), parsed once; NULL
 * for the mock and endpoints without a URL, and for all when out of memory (*ok 0). */
static char **origins(const routing_t *r, size_t n, int *ok)
{
    char **o = calloc(n ? n : 1, sizeof(char *)), buf[512];
    size_t i;

    *ok = o != NULL;
    for (i = 0; o && i < n; i++) {
        const route_endpoint_t *ep = routing_endpoint(r, (int)i);
        if (ep->is_mock || !ep->base_url)
            continue;
        o[i] = strdup(origin_of(ep->base_url, buf, sizeof(buf)) ? ep->base_url : buf);
        *ok = *ok && o[i];
    }
    return o;
}

static void origins_free(char **o, size_t n)
{
    size_t i;

    for (i = 0; o && i < n; i++)
        free(o[i]);
    free(o);
}

int host_slots_init(worker_t *w)
{
    size_t n = routing_endpoint_count(w->routing), i;
    struct host_slots *h = calloc(1, sizeof(*h));
    int ok;
    char **origin = origins(w->routing, n, &ok);

    if (!ok || !h || !(h->host_of = calloc(n ? n : 1, sizeof(int))) ||
        !(h->hosts = calloc(n ? n : 1, sizeof(host_slot_t)))) {
        if (h)
            free(h->host_of);
        free(h);
        origins_free(origin, n);
        return LQ_ERR_NOMEM;
    }
    for (i = 0; i < n; i++)
        h->host_of[i] = origin[i] ? host_index(origin, h->host_of, i, &h->n_hosts) : -1;
    origins_free(origin, n);
    h->m_waiting = lq_metrics_gauge("llmq_worker_provider_calls_waiting",
                                    "provider calls waiting for a connection to their host "
                                    "(provider.max_host_connections)",
                                    NULL);
    w->hosts = h;
    return LQ_OK;
}

void host_slots_free(worker_t *w)
{
    if (!w->hosts)
        return;
    free(w->hosts->host_of);
    free(w->hosts->hosts);
    free(w->hosts);
    w->hosts = NULL;
}

int host_slots_take(worker_t *w, job_t *j, int ep)
{
    struct host_slots *h = w->hosts;
    long max = w->set.provider.max_host_connections;
    host_slot_t *s;

    if (max <= 0 || h->host_of[ep] < 0)
        return 1;
    s = &h->hosts[h->host_of[ep]];
    if (s->in_flight < max &&
        (!s->head || (j == h->granted && h->granted_host == h->host_of[ep]))) {
        s->in_flight++;
        j->host_held = h->host_of[ep] + 1;
        return 1;
    }
    j->host_waiting = h->host_of[ep] + 1;
    j->host_wait_since_us = lq_mono_us();
    j->host_prev = s->tail;
    j->host_next = NULL;
    if (s->tail)
        s->tail->host_next = j;
    else
        s->head = j;
    s->tail = j;
    lq_metric_set(h->m_waiting, (int64_t)++h->waiting);
    return 0;
}

void host_slots_release(worker_t *w, job_t *j)
{
    if (!j->host_held)
        return;
    w->hosts->hosts[j->host_held - 1].in_flight--;
    j->host_held = 0;
}

void host_slots_unwait(worker_t *w, job_t *j)
{
    struct host_slots *h = w->hosts;
    host_slot_t *s;

    if (!j->host_waiting)
        return;
    s = &h->hosts[j->host_waiting - 1];
    if (j->host_prev)
        j->host_prev->host_next = j->host_next;
    else
        s->head = j->host_next;
    if (j->host_next)
        j->host_next->host_prev = j->host_prev;
    else
        s->tail = j->host_prev;
    j->host_prev = j->host_next = NULL;
    j->host_waiting = 0;
    j->host_wait_us += lq_mono_us() - j->host_wait_since_us;
    lq_metric_set(h->m_waiting, (int64_t)--h->waiting);
}

void host_slots_run(worker_t *w)
{
    struct host_slots *h = w->hosts;
    size_t i;

    for (i = 0; h->waiting && i < h->n_hosts; i++) {
        host_slot_t *s = &h->hosts[i];
        while (s->head && s->in_flight < w->set.provider.max_host_connections) {
            job_t *j = s->head;
            host_slots_unwait(w, j);
            h->granted = j;
            h->granted_host = (int)i;
            attempt_start(w, j); /* the slot is its (or it waits for another host's) */
            h->granted = NULL;
        }
    }
}

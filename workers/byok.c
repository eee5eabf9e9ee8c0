#include "workers/byok.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "common/clock.h"
#include "common/hashmap.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/secretbox.h"

struct worker_byok {
    lq_master_key_t master;
    char *conninfo;
    pthread_t thread;
    atomic_int stopping;
    pthread_mutex_t mu;
    lq_hashmap_t *keys; /* "tenant|endpoint" -> decrypted key */
};

static void wipe_entry(const char *k, void *v, void *arg)
{
    (void)k;
    (void)arg;
    OPENSSL_cleanse(v, strlen(v));
    free(v);
}

static void free_map(lq_hashmap_t *m)
{
    if (!m)
        return;
    lq_hashmap_foreach(m, wipe_entry, NULL);
    lq_hashmap_destroy(m);
}

/* The tenant has a key for this endpoint that cannot be used: remember that (an empty
 * value), so its requests fail instead of going out on the installation's key. */
static void unusable(lq_hashmap_t *m, const char *name)
{
    char *empty = strdup("");
    void *old = lq_hashmap_get(m, name);

    if (empty && lq_hashmap_put(m, name, empty) == LQ_OK) {
        if (old)
            wipe_entry(name, old, NULL);
    } else {
        free(empty);
    }
}

static int load(worker_byok_t *b, PGconn *conn)
{
    PGresult *res =
        PQexec(conn, "SELECT tenant_id, endpoint, id::text, master_key_id,"
                     " encode(nonce, 'hex'), encode(ciphertext, 'hex'), encode(tag, 'hex')"
                     " FROM provider_keys WHERE revoked_at IS NULL");
    lq_hashmap_t *m, *old;
    int r, loaded = 0;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return -1;
    }
    m = lq_hashmap_create(64);
    for (r = 0; m && r < PQntuples(res); r++) {
        const char *t = PQgetvalue(res, r, 0), *ep = PQgetvalue(res, r, 1),
                   *id = PQgetvalue(res, r, 2);
        unsigned char nonce[LQ_BOX_NONCE_LEN], tag[LQ_BOX_TAG_LEN], ct[512];
        char aad[256], name[200], *plain;
        int n;
        snprintf(name, sizeof(name), "%s|%s", t, ep);
        if (strcmp(PQgetvalue(res, r, 3), b->master.id) != 0) {
            LQ_WARN("provider key %s (tenant %s) is encrypted under master key %s, not this "
                    "worker's %s: the tenant's requests to %s fail until it is fixed",
                    id, t, PQgetvalue(res, r, 3), b->master.id, ep);
            unusable(m, name);
            continue;
        }
        if (lq_unhex(PQgetvalue(res, r, 4), nonce, sizeof(nonce)) != LQ_BOX_NONCE_LEN ||
            lq_unhex(PQgetvalue(res, r, 6), tag, sizeof(tag)) != LQ_BOX_TAG_LEN ||
            (n = lq_unhex(PQgetvalue(res, r, 5), ct, sizeof(ct))) <= 0 ||
            !(plain = calloc(1, (size_t)n + 1)))
            continue;
        snprintf(aad, sizeof(aad), "%s|%s|%s", t, ep, id);
        if (lq_box_open(&b->master, aad, ct, (size_t)n, nonce, tag, plain) != LQ_OK ||
            !lq_printable_token(plain)) {
            LQ_WARN("provider key %s (tenant %s) does not decrypt (altered, or moved from another "
                    "row): the tenant's requests to %s fail until it is fixed",
                    id, t, ep);
            free(plain);
            unusable(m, name);
            continue;
        }
        old = lq_hashmap_get(m, name);
        if (lq_hashmap_put(m, name, plain) == LQ_OK) {
            if (old)
                wipe_entry(name, old, NULL);
            loaded++;
        } else {
            wipe_entry(name, plain, NULL);
        }
    }
    PQclear(res);
    if (!m)
        return -1;
    pthread_mutex_lock(&b->mu);
    old = b->keys;
    b->keys = m;
    pthread_mutex_unlock(&b->mu);
    free_map(old);
    LQ_DEBUG("tenants' provider keys loaded: %d", loaded);
    return 0;
}

static void *byok_main(void *arg)
{
    worker_byok_t *b = arg;
    PGconn *conn = NULL;
    int64_t next_reload = 0;

    while (!atomic_load(&b->stopping)) {
        int got =
            lq_pg_listen_poll(&conn, b->conninfo, "llmq-worker-keys", "llmq_provider_keys", 500);
        if (got > 0)
            next_reload = 0; /* a change, or a reconnection that may have missed one */
        if (conn && lq_mono_ms() >= next_reload) {
            if (load(b, conn))
                LQ_WARN("tenants' provider keys: cannot load (%s)", PQerrorMessage(conn));
            next_reload = lq_mono_ms() + 60000;
        }
    }
    if (conn)
        PQfinish(conn);
    return NULL;
}

worker_byok_t *worker_byok_start(const lq_common_settings_t *set, int *fatal, char *errstr,
                                 size_t errstr_size)
{
    worker_byok_t *b;
    lq_master_key_t k;
    lq_err_t e = lq_master_key_load(set->secrets.master_key_file, &k, errstr, errstr_size);

    *fatal = 0;
    if (e) {
        *fatal = e != LQ_ERR_NOT_FOUND;
        return NULL;
    }
    b = calloc(1, sizeof(*b));
    if (!b || !(b->conninfo = strdup(set->pg.url))) {
        free(b);
        lq_master_key_wipe(&k);
        *fatal = 1;
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    b->master = k;
    lq_master_key_wipe(&k);
    pthread_mutex_init(&b->mu, NULL);
    if (pthread_create(&b->thread, NULL, byok_main, b) != 0) {
        lq_master_key_wipe(&b->master);
        free(b->conninfo);
        free(b);
        *fatal = 1;
        snprintf(errstr, errstr_size, "cannot start a thread");
        return NULL;
    }
    LQ_INFO("tenants' provider keys enabled (master key %s)", b->master.id);
    return b;
}

void worker_byok_stop(worker_byok_t *b)
{
    if (!b)
        return;
    atomic_store(&b->stopping, 1);
    pthread_join(b->thread, NULL);
    free_map(b->keys);
    lq_master_key_wipe(&b->master);
    pthread_mutex_destroy(&b->mu);
    free(b->conninfo);
    free(b);
}

int worker_byok_get(worker_byok_t *b, const char *tenant, const char *endpoint, char *out,
                    size_t size)
{
    char name[200];
    const char *v;
    int found = 0;

    if (!b)
        return 0;
    snprintf(name, sizeof(name), "%s|%s", tenant, endpoint);
    pthread_mutex_lock(&b->mu);
    v = b->keys ? lq_hashmap_get(b->keys, name) : NULL;
    if (v && !*v)
        found = -1; /* there is one, but it cannot be used */
    else if (v && strlen(v) < size) {
        memcpy(out, v, strlen(v) + 1);
        found = 1;
    }
    pthread_mutex_unlock(&b->mu);
    return found;
}

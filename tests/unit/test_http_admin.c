/* common/http_admin: every daemon's /healthz, /readyz and /metrics — served on the port
 * asked for, on any free port for 0, on a free port (not a failure) when the port is taken,
 * and not at all for -1. Real sockets on loopback. */
#include <curl/curl.h>

#include "common/http_admin.h"
#include "testutil.h"

static int ready_flag;

static int ready(void *arg, char *why, size_t why_size)
{
    (void)arg;
    if (!ready_flag)
        snprintf(why, why_size, "warming up");
    return ready_flag;
}

static size_t sink_body(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

/* HTTP status of GET http://127.0.0.1:port/path, 0 when nothing answers. */
static long get_status(int port, const char *path)
{
    CURL *e = curl_easy_init();
    char url[128];
    long status = 0;

    if (!e)
        return 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink_body);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    return status;
}

int main(void)
{
    lq_http_admin_t *a = NULL, *b = NULL, *off = (lq_http_admin_t *)&ready_flag;
    char errstr[256];

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CHECK_INT(lq_http_admin_start(&a, NULL, 0, ready, NULL, errstr, sizeof(errstr)), LQ_OK);
    CHECK(lq_http_admin_port(a) > 0);
    CHECK_INT(get_status(lq_http_admin_port(a), "/healthz"), 200);
    CHECK_INT(get_status(lq_http_admin_port(a), "/readyz"), 503);
    ready_flag = 1;
    CHECK_INT(get_status(lq_http_admin_port(a), "/readyz"), 200);
    CHECK_INT(get_status(lq_http_admin_port(a), "/metrics"), 200);
    CHECK_INT(get_status(lq_http_admin_port(a), "/nope"), 404);

    /* the same port again: a second daemon on this host still serves health elsewhere */
    CHECK_INT(lq_http_admin_start(&b, "127.0.0.1", lq_http_admin_port(a), ready, NULL, errstr,
                                  sizeof(errstr)),
              LQ_OK);
    CHECK(lq_http_admin_port(b) > 0 && lq_http_admin_port(b) != lq_http_admin_port(a));
    CHECK_INT(get_status(lq_http_admin_port(b), "/healthz"), 200);

    CHECK_INT(lq_http_admin_start(&off, NULL, -1, ready, NULL, errstr, sizeof(errstr)), LQ_OK);
    CHECK(off == NULL);
    CHECK_INT(lq_http_admin_port(off), -1);
    CHECK_INT(lq_http_admin_start(&off, "not-an-address", 0, ready, NULL, errstr, sizeof(errstr)),
              LQ_ERR_CONFIG);
    lq_http_admin_stop(a);
    lq_http_admin_stop(b);
    curl_global_cleanup();
    TEST_DONE();
}

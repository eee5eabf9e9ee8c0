/* The error mapping table of workers/provider.h, the masking of providers' messages, and
 * Retry-After: shared by the wires, calling none of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "workers/provider_errors.h"

/* ---- masking ---- */

static int key_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* 1 when the run of key characters s[0..n) looks like a credential. */
static int key_shaped(const char *s, size_t n)
{
    static const char *const prefixes[] = {"sk-", "AIza", "pplx-", "xai-", "gsk_", "r8_"};
    size_t i, pl;

    if (n >= 24)
        return 1;
    for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        pl = strlen(prefixes[i]);
        if (n >= pl + 4 && strncmp(s, prefixes[i], pl) == 0)
            return 1;
    }
    return 0;
}

void worker_mask_secrets(char *dst, size_t dst_size, const char *msg, size_t max_bytes)
{
    size_t o = 0, limit, i = 0;
    int cut = 0;

    if (!dst || dst_size == 0)
        return;
    dst[0] = '\0';
    if (!msg)
        return;
    if (dst_size < 8)
        return;                                                  /* no room for anything useful */
    limit = dst_size - 4 < max_bytes ? dst_size - 4 : max_bytes; /* room for "..." + NUL */
    while (msg[i] && !cut) {
        const char *piece = msg + i;
        size_t n = 1, adv = 1;
        char masked[8];
        if (key_char((unsigned char)msg[i]) && (i == 0 || !key_char((unsigned char)msg[i - 1]))) {
            size_t j = i;
            while (key_char((unsigned char)msg[j]))
                j++;
            n = adv = j - i;
            if (key_shaped(piece, n)) {
                memcpy(masked, piece, 4);
                memcpy(masked + 4, "***", 3);
                piece = masked;
                n = 7;
            }
        }
        if (o + n > limit) {
            n = limit - o;
            cut = 1;
        }
        memcpy(dst + o, piece, n);
        o += n;
        i += adv;
    }
    if (cut || msg[i]) {
        /* do not leave half a UTF-8 sequence behind */
        while (o > 0 && ((unsigned char)dst[o - 1] & 0xC0) == 0x80)
            o--;
        if (o > 0 && (unsigned char)dst[o - 1] >= 0xC0)
            o--;
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

/* ---- the error mapping table ---- */

void worker_fail_transport(worker_result_t *out, const char *transport_error, int timeout)
{
    char masked[WORKER_PROVIDER_MESSAGE_MAX + 8], detail[WORKER_PROVIDER_MESSAGE_MAX + 64];

    memset(out, 0, sizeof(*out));
    worker_mask_secrets(masked, sizeof(masked),
                        transport_error && *transport_error ? transport_error : "connection failed",
                        WORKER_PROVIDER_MESSAGE_MAX);
    snprintf(detail, sizeof(detail), "The provider could not be reached: %s", masked);
    worker_result_fail(out, "provider_error", timeout ? "provider_timeout" : "provider_unreachable",
                       detail, timeout ? 504 : 502, 1);
}

void worker_fail_bad_answer(worker_result_t *out, const char *message)
{
    memset(out, 0, sizeof(*out));
    worker_result_fail(out, "provider_error", "bad_provider_response", message, 502, 1);
}

void worker_fail_nomem(worker_result_t *out)
{
    worker_result_clear(out);
    worker_result_fail(out, "server_error", "out_of_memory", "out of memory", 500, 1);
}

void worker_fail_prompt_blocked(worker_result_t *out, const char *reason)
{
    char msg[80], detail[160];

    worker_result_clear(out);
    worker_mask_secrets(msg, sizeof(msg), reason, 64);
    snprintf(detail, sizeof(detail), "The provider refused the prompt (blocked: %s).", msg);
    worker_result_fail(out, "invalid_request_error", "content_filter", detail, 400, 0);
}

long worker_status_lookup(const worker_status_map_t *map, size_t n, const char *name, long dflt)
{
    size_t i;

    for (i = 0; name && i < n; i++)
        if (strcmp(name, map[i].name) == 0)
            dflt = map[i].status;
    return dflt;
}

void worker_fail_http(worker_result_t *out, long http_status, const char *code, const char *message,
                      int overloaded, const char *retry_after)
{
    char masked[WORKER_PROVIDER_MESSAGE_MAX + 8], detail[WORKER_PROVIDER_MESSAGE_MAX + 64];
    const char *type = "provider_error";
    int status = 502, retriable = 0;

    memset(out, 0, sizeof(*out));
    if (code && !*code)
        code = NULL;
    worker_mask_secrets(masked, sizeof(masked), message && *message ? message : "no error message",
                        WORKER_PROVIDER_MESSAGE_MAX);
    snprintf(detail, sizeof(detail), "The provider answered %ld: %s", http_status, masked);
    if (overloaded || http_status == 529) {
        status = 503;
        code = "provider_overloaded";
        retriable = 1;
    } else if (http_status == 408) {
        status = 504;
        code = "provider_timeout";
        retriable = 1;
    } else if (http_status == 400 || http_status == 404 || http_status == 413 ||
               http_status == 422) {
        status = (int)http_status;
        type = "invalid_request_error";
    } else if (http_status == 401 || http_status == 403) {
        /* our credentials, not the client's: never a 401 to the client, and not the
         * provider's text or code (it may quote the key, it would blame the client's) */
        type = "provider_auth_error";
        code = "provider_auth_error";
        snprintf(detail, sizeof(detail),
                 "The provider refused llmq's credentials (%ld); an operator must fix the "
                 "provider key.",
                 http_status);
    } else if (http_status == 402) {
        code = "insufficient_credits";
    } else if (http_status == 429) {
        status = 429;
        type = "rate_limit_error";
        retriable = 1;
    } else if (http_status >= 500 && http_status <= 599) {
        retriable = 1;
    }
    worker_result_fail(out, type, code, detail, status, retriable);
    out->retry_after_ms = worker_retry_after_ms(retry_after, lq_wall_ms());
}

/* ---- Retry-After ---- */

static int parse_uint(const char *s, size_t n, int *out)
{
    size_t i;
    int v = 0;

    if (n == 0 || n > 4)
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" → seconds since the epoch, or -1. */
static int64_t parse_http_date(const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    static const char days[] = "SunMonTueWedThuFriSat";
    struct tm tm;
    int day, year, hh, mm, ss, mon = -1, i;
    time_t t;

    if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || strcmp(s + 25, " GMT") != 0)
        return -1;
    for (i = 0; i < 7; i++)
        if (strncmp(s, days + 3 * i, 3) == 0)
            break;
    if (i == 7)
        return -1;
    for (i = 0; i < 12; i++)
        if (strncmp(s + 8, months + 3 * i, 3) == 0)
            mon = i;
    if (mon < 0 || parse_uint(s + 5, 2, &day) || parse_uint(s + 12, 4, &year) ||
        parse_uint(s + 17, 2, &hh) || parse_uint(s + 20, 2, &mm) || parse_uint(s + 23, 2, &ss))
        return -1;
    if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || year < 1970)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = mon;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    t = timegm(&tm);
    return t == (time_t)-1 ? -1 : (int64_t)t;
}

int64_t worker_retry_after_ms(const char *value, int64_t now_ms)
{
    const int64_t cap = 3600 * 1000;
    const char *p;
    size_t n;
    int64_t secs = 0, ms;
    char buf[40];

    if (!value)
        return 0;
    while (*value == ' ' || *value == '\t')
        value++;
    n = strlen(value);
    while (n && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof(buf))
        return 0;
    memcpy(buf, value, n);
    buf[n] = '\0';
    if (buf[0] >= '0' && buf[0] <= '9') {
        for (p = buf; *p; p++) {
            if (*p < '0' || *p > '9')
                return 0;
            if (secs <= 3600)
                secs = secs * 10 + (*p - '0');
        }
        return secs >= 3600 ? cap : secs * 1000;
    }
    secs = parse_http_date(buf);
    if (secs < 0)
        return 0;
    ms = secs * 1000 - now_ms;
    if (ms <= 0)
        return 0;
    return ms > cap ? cap : ms;
}

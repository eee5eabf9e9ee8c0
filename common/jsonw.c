#include "common/jsonw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lq_jsonw_init(lq_jsonw_t *w)
{
    memset(w, 0, sizeof(*w));
}

void lq_jsonw_reset(lq_jsonw_t *w)
{
    char *p = w->p;
    size_t cap = w->cap;

    memset(w, 0, sizeof(*w));
    w->p = p;
    w->cap = cap;
    if (p)
        p[0] = '\0';
}

void lq_jsonw_free(lq_jsonw_t *w)
{
    free(w->p);
    memset(w, 0, sizeof(*w));
}

static void put(lq_jsonw_t *w, const char *s, size_t n)
{
    if (w->failed)
        return;
    if (w->len + n + 1 > w->cap) {
        size_t ncap = w->cap ? w->cap : 4096;
        char *np;
        while (ncap < w->len + n + 1)
            ncap *= 2;
        np = realloc(w->p, ncap);
        if (!np) {
            w->failed = 1;
            return;
        }
        w->p = np;
        w->cap = ncap;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = '\0';
}

/* Before a value: a comma when it is not the first in its array, nothing after a key. */
static void before_value(lq_jsonw_t *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth > 0 && w->count[w->depth - 1]++ > 0)
        put(w, ",", 1);
}

static void open_scope(lq_jsonw_t *w, char c)
{
    before_value(w);
    if (w->depth == LQ_JSONW_MAX_DEPTH) {
        w->failed = 1;
        return;
    }
    w->count[w->depth++] = 0;
    put(w, &c, 1);
}

static void close_scope(lq_jsonw_t *w, char c)
{
    if (w->depth == 0) {
        w->failed = 1;
        return;
    }
    w->depth--;
    put(w, &c, 1);
}

void lq_jsonw_obj_open(lq_jsonw_t *w)
{
    open_scope(w, '{');
}
void lq_jsonw_obj_close(lq_jsonw_t *w)
{
    close_scope(w, '}');
}
void lq_jsonw_arr_open(lq_jsonw_t *w)
{
    open_scope(w, '[');
}
void lq_jsonw_arr_close(lq_jsonw_t *w)
{
    close_scope(w, ']');
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len, i;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* A JSON string; invalid UTF-8 becomes U+FFFD, so the text is always valid JSON. */
static void put_escaped(lq_jsonw_t *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, start = 0;

    put(w, "\"", 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        if (c >= 0x80) {
            size_t l = utf8_len((const unsigned char *)s + i, n - i);
            if (l) {
                i += l - 1;
                continue;
            }
            put(w, s + start, i - start);
            put(w, "\xef\xbf\xbd", 3);
            start = i + 1;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(w, s + start, i - start);
        start = i + 1;
        switch (c) {
        case '"':
            put(w, "\\\"", 2);
            break;
        case '\\':
            put(w, "\\\\", 2);
            break;
        case '\n':
            put(w, "\\n", 2);
            break;
        case '\r':
            put(w, "\\r", 2);
            break;
        case '\t':
            put(w, "\\t", 2);
            break;
        default:
            esc[0] = '\\';
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            put(w, esc, 6);
        }
    }
    put(w, s + start, n - start);
    put(w, "\"", 1);
}

void lq_jsonw_key(lq_jsonw_t *w, const char *key)
{
    before_value(w);
    put_escaped(w, key, strlen(key));
    put(w, ":", 1);
    w->after_key = 1;
}

void lq_jsonw_strn(lq_jsonw_t *w, const char *s, size_t n)
{
    before_value(w);
    put_escaped(w, s, n);
}

void lq_jsonw_str(lq_jsonw_t *w, const char *s)
{
    if (!s) {
        lq_jsonw_null(w);
        return;
    }
    lq_jsonw_strn(w, s, strlen(s));
}

void lq_jsonw_int(lq_jsonw_t *w, int64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%lld", (long long)v);

    before_value(w);
    put(w, buf, (size_t)n);
}

void lq_jsonw_double(lq_jsonw_t *w, double v)
{
    char buf[40];
    int n;

    if (!isfinite(v)) {
        lq_jsonw_null(w);
        return;
    }
    n = snprintf(buf, sizeof(buf), "%.17g", v);
    before_value(w);
    put(w, buf, (size_t)n);
}

void lq_jsonw_bool(lq_jsonw_t *w, int v)
{
    before_value(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void lq_jsonw_null(lq_jsonw_t *w)
{
    before_value(w);
    put(w, "null", 4);
}

void lq_jsonw_bytes(lq_jsonw_t *w, const char *s, size_t n)
{
    put(w, s, n);
}

void lq_jsonw_raw(lq_jsonw_t *w, const char *json)
{
    before_value(w);
    put(w, json, strlen(json));
}

void lq_jsonw_kstr(lq_jsonw_t *w, const char *key, const char *s)
{
    lq_jsonw_key(w, key);
    lq_jsonw_str(w, s);
}

void lq_jsonw_kint(lq_jsonw_t *w, const char *key, int64_t v)
{
    lq_jsonw_key(w, key);
    lq_jsonw_int(w, v);
}

void lq_jsonw_kint_or_null(lq_jsonw_t *w, const char *key, int64_t v)
{
    lq_jsonw_key(w, key);
    if (v)
        lq_jsonw_int(w, v);
    else
        lq_jsonw_null(w);
}

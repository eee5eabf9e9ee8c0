#include "common/trace.h"

#include <string.h>

#include "common/ids.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* W3C: lower-case hex only */
}

/* n bytes from 2n lower-case hex digits; -1 on a bad digit */
static int unhex_lower(const char *s, uint8_t *out, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

int lq_traceparent_parse(const char *s, size_t len, lq_trace_ctx_t *out)
{
    uint8_t version;
    lq_trace_ctx_t c;

    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len < LQ_TRACEPARENT_LEN || s[2] != '-' || s[35] != '-' || s[52] != '-')
        return -1;
    if (unhex_lower(s, &version, 1) || version == 0xff)
        return -1;
    /* version 00 is exactly 55 characters; a later version may append "-..." */
    if (len > LQ_TRACEPARENT_LEN && (version == 0 || s[LQ_TRACEPARENT_LEN] != '-'))
        return -1;
    if (unhex_lower(s + 3, c.trace_id, 16) || unhex_lower(s + 36, c.span_id, 8) ||
        unhex_lower(s + 53, &c.flags, 1))
        return -1;
    if (all_zero(c.trace_id, 16) || all_zero(c.span_id, 8))
        return -1;
    c.flags &= LQ_TRACE_SAMPLED; /* the only flag of level 1; others are not passed on */
    *out = c;
    return 0;
}

void lq_traceparent_format(const lq_trace_ctx_t *ctx, char out[LQ_TRACEPARENT_LEN + 1])
{
    memcpy(out, "00-", 3);
    lq_hex(out + 3, ctx->trace_id, 16);
    out[35] = '-';
    lq_hex(out + 36, ctx->span_id, 8);
    out[52] = '-';
    lq_hex(out + 53, &ctx->flags, 1);
}

void lq_traceparent_of(const lq_trace_ctx_t *ctx, const uint8_t span_id[8],
                       char out[LQ_TRACEPARENT_LEN + 1])
{
    lq_trace_ctx_t child = *ctx;

    memcpy(child.span_id, span_id, sizeof(child.span_id));
    lq_traceparent_format(&child, out);
}

int lq_tracestate_valid(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > LQ_TRACESTATE_MAX)
        return 0;
    for (i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

/* xoshiro256** per thread, seeded from the system's random source */
static _Thread_local uint64_t rng[4];
static _Thread_local int rng_seeded;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_random(void)
{
    uint64_t r, t;

    if (!rng_seeded) {
        if (lq_random_bytes(rng, sizeof(rng)) != LQ_OK || all_zero((uint8_t *)rng, sizeof(rng)))
            rng[0] = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)&rng_seeded;
        rng_seeded = 1;
    }
    r = rotl(rng[1] * 5, 7) * 9;
    t = rng[1] << 17;
    rng[2] ^= rng[0];
    rng[3] ^= rng[1];
    rng[1] ^= rng[2];
    rng[0] ^= rng[3];
    rng[2] ^= t;
    rng[3] = rotl(rng[3], 45);
    return r;
}

static void random_id(uint8_t *out, size_t n)
{
    do {
        uint64_t a = next_random(), b = next_random();
        memcpy(out, &a, n < 8 ? n : 8);
        if (n > 8)
            memcpy(out + 8, &b, n - 8);
    } while (all_zero(out, n));
}

void lq_trace_new_trace_id(uint8_t out[16])
{
    random_id(out, 16);
}

void lq_trace_new_span_id(uint8_t out[8])
{
    random_id(out, 8);
}

void lq_trace_start(lq_trace_ctx_t *ctx, int sample_percent)
{
    lq_trace_new_trace_id(ctx->trace_id);
    lq_trace_new_span_id(ctx->span_id);
    ctx->flags = (int)(next_random() % 100) < sample_percent ? LQ_TRACE_SAMPLED : 0;
}

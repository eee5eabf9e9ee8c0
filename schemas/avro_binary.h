/* schemas/avro_binary.h — the Avro binary encoding's primitives (zig-zag varints,
 * length-prefixed bytes, little-endian doubles, blocks of arrays and maps), written to a
 * growing buffer and read from a bounded one. Small and on every record's path, so
 * static inline.
 *
 * Reading never trusts a length: every length and block count is checked against the
 * bytes that remain before anything is allocated or read. */
#ifndef LQ_AVRO_BINARY_H
#define LQ_AVRO_BINARY_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LQ_AVRO_MAX_VARINT 10

/* ---------- writing ---------- */

typedef struct lq_avro_out {
    unsigned char *p;
    size_t len, cap;
    int nomem; /* an allocation failed: what was written since is missing */
} lq_avro_out_t;

/* Room for n more bytes; 0, or -1 (and nomem) when it cannot be had. */
static inline int lq_avro_reserve(lq_avro_out_t *o, size_t n)
{
    size_t cap = o->cap ? o->cap : 256;
    unsigned char *np;

    if (o->cap - o->len >= n)
        return 0;
    if (o->nomem || n > SIZE_MAX / 2 - o->len)
        goto fail;
    while (cap - o->len < n)
        cap *= 2;
    np = realloc(o->p, cap);
    if (!np)
        goto fail;
    o->p = np;
    o->cap = cap;
    return 0;
fail:
    o->nomem = 1;
    return -1;
}

static inline void lq_avro_put_raw(lq_avro_out_t *o, const void *p, size_t n)
{
    if (lq_avro_reserve(o, n))
        return;
    memcpy(o->p + o->len, p, n);
    o->len += n;
}

/* int and long (and enum symbols, union branches, counts): zig-zag, then base-128. */
static inline void lq_avro_put_long(lq_avro_out_t *o, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63));

    if (lq_avro_reserve(o, LQ_AVRO_MAX_VARINT))
        return;
    while (u > 0x7f) {
        o->p[o->len++] = (unsigned char)((u & 0x7f) | 0x80);
        u >>= 7;
    }
    o->p[o->len++] = (unsigned char)u;
}

static inline void lq_avro_put_bytes(lq_avro_out_t *o, const void *p, size_t n)
{
    lq_avro_put_long(o, (int64_t)n);
    lq_avro_put_raw(o, p, n);
}

static inline void lq_avro_put_string(lq_avro_out_t *o, const char *s)
{
    lq_avro_put_bytes(o, s, strlen(s));
}

/* 8 bytes, little-endian (the IEEE 754 bits). */
static inline void lq_avro_put_double(lq_avro_out_t *o, double d)
{
    unsigned char b[8];
    uint64_t u;
    int i;

    memcpy(&u, &d, sizeof(u));
    for (i = 0; i < 8; i++)
        b[i] = (unsigned char)(u >> (8 * i));
    lq_avro_put_raw(o, b, sizeof(b));
}

/* ---------- reading ---------- */

typedef struct lq_avro_in {
    const unsigned char *p, *end;
} lq_avro_in_t;

static inline int lq_avro_get_long(lq_avro_in_t *in, int64_t *out)
{
    uint64_t v = 0;
    int shift = 0;

    while (in->p < in->end && shift < 64) {
        unsigned char b = *in->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 0;
        }
        shift += 7;
    }
    return -1;
}

static inline int lq_avro_get_int(lq_avro_in_t *in, int32_t *out)
{
    int64_t v;

    if (lq_avro_get_long(in, &v) || v < INT32_MIN || v > INT32_MAX)
        return -1;
    *out = (int32_t)v;
    return 0;
}

/* n bytes in place (not copied). */
static inline int lq_avro_get_raw(lq_avro_in_t *in, int64_t n, const unsigned char **p)
{
    if (n < 0 || n > in->end - in->p)
        return -1;
    *p = in->p;
    in->p += n;
    return 0;
}

/* A length-prefixed string or bytes, in place. */
static inline int lq_avro_get_bytes(lq_avro_in_t *in, const unsigned char **p, size_t *n)
{
    int64_t len;

    if (lq_avro_get_long(in, &len) || lq_avro_get_raw(in, len, p))
        return -1;
    *n = (size_t)len;
    return 0;
}

static inline uint64_t lq_avro_le64(const unsigned char *b)
{
    uint64_t u = 0;
    int i;

    for (i = 0; i < 8; i++)
        u |= (uint64_t)b[i] << (8 * i);
    return u;
}

static inline int lq_avro_get_double(lq_avro_in_t *in, double *out)
{
    const unsigned char *b;
    uint64_t u;

    if (lq_avro_get_raw(in, 8, &b))
        return -1;
    u = lq_avro_le64(b);
    memcpy(out, &u, sizeof(u));
    return 0;
}

static inline int lq_avro_get_float(lq_avro_in_t *in, double *out)
{
    const unsigned char *b;
    uint32_t u;
    float f;

    if (lq_avro_get_raw(in, 4, &b))
        return -1;
    u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    memcpy(&f, &u, sizeof(f));
    *out = f;
    return 0;
}

/* The item count of the next block of an array or map (0: the end). A negative count is
 * followed by the block's size in bytes. A count that could not fit in the bytes left (at
 * least a byte an item, bar a few of zero bytes) is refused: nothing is ever sized from
 * a length the message cannot hold. */
static inline int lq_avro_get_block(lq_avro_in_t *in, size_t *n)
{
    int64_t count, size;

    if (lq_avro_get_long(in, &count))
        return -1;
    if (count < 0) {
        if (count == INT64_MIN || lq_avro_get_long(in, &size) || size < 0 || size > in->end - in->p)
            return -1;
        count = -count;
    }
    if (count > in->end - in->p + 16)
        return -1;
    *n = (size_t)count;
    return 0;
}

#endif

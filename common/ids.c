#include "common/ids.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

lq_err_t lq_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0)
            return LQ_ERR_IO;
        p += r;
        n -= (size_t)r;
    }
    return LQ_OK;
}

int lq_unhex(const char *hex, unsigned char *out, size_t max)
{
    size_t len = strlen(hex), i;

    if (len % 2 || len / 2 > max)
        return -1;
    for (i = 0; i < len; i++) {
        char c = hex[i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0)
            return -1;
        if (i % 2)
            out[i / 2] = (unsigned char)(out[i / 2] | v);
        else
            out[i / 2] = (unsigned char)(v << 4);
    }
    return (int)(len / 2);
}

void lq_hex(char *out, const unsigned char *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Per-thread state: the last timestamp and a 74-bit random counter (rand_a 12 bits +
 * rand_b 62 bits) that is re-seeded every new millisecond and incremented within one,
 * so ids from one thread stay ordered (RFC 9562, method 2 variant). */
static _Thread_local int64_t last_ms = -1;
static _Thread_local uint16_t ctr_a;
static _Thread_local uint64_t ctr_b;

void lq_uuid7(char out[LQ_UUID_STR_LEN + 1], int64_t unix_ms)
{
    unsigned char b[16];
    char hex[33];

    if (unix_ms <= last_ms) {
        unix_ms = last_ms;
        ctr_b = (ctr_b + 1) & ((UINT64_C(1) << 62) - 1);
        if (ctr_b == 0) {
            ctr_a = (uint16_t)((ctr_a + 1) & 0x0fff);
            if (ctr_a == 0)
                unix_ms++; /* counter exhausted: borrow the next millisecond */
        }
    } else {
        unsigned char r[10];
        if (lq_random_bytes(r, sizeof(r)) != LQ_OK)
            memset(r, 0x5a, sizeof(r));
        ctr_a = (uint16_t)(((r[0] << 8) | r[1]) & 0x0fff);
        memcpy(&ctr_b, r + 2, 8);
        ctr_b &= (UINT64_C(1) << 61) - 1; /* leave headroom for increments */
    }
    last_ms = unix_ms;
    b[0] = (unsigned char)(unix_ms >> 40);
    b[1] = (unsigned char)(unix_ms >> 32);
    b[2] = (unsigned char)(unix_ms >> 24);
    b[3] = (unsigned char)(unix_ms >> 16);
    b[4] = (unsigned char)(unix_ms >> 8);
    b[5] = (unsigned char)unix_ms;
    b[6] = (unsigned char)(0x70 | (ctr_a >> 8));
    b[7] = (unsigned char)(ctr_a & 0xff);
    b[8] = (unsigned char)(0x80 | ((ctr_b >> 56) & 0x3f));
    b[9] = (unsigned char)(ctr_b >> 48);
    b[10] = (unsigned char)(ctr_b >> 40);
    b[11] = (unsigned char)(ctr_b >> 32);
    b[12] = (unsigned char)(ctr_b >> 24);
    b[13] = (unsigned char)(ctr_b >> 16);
    b[14] = (unsigned char)(ctr_b >> 8);
    b[15] = (unsigned char)ctr_b;
    lq_hex(hex, b, 16);
    snprintf(out, LQ_UUID_STR_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
             hex + 16, hex + 20);
}

int lq_uuid_valid(const char *s)
{
    int i;

    for (i = 0; i < LQ_UUID_STR_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return s[LQ_UUID_STR_LEN] == '\0';
}

int64_t lq_uuid7_time_ms(const char *s)
{
    int64_t ms = 0;
    int i, n = 0;

    if (!lq_uuid_valid(s) || s[14] != '7')
        return -1;
    for (i = 0; i < 13 && n < 12; i++) {
        char c = s[i];
        if (c == '-')
            continue;
        ms = ms * 16 +
             (isdigit((unsigned char)c) ? c - '0' : (tolower((unsigned char)c) - 'a' + 10));
        n++;
    }
    return ms;
}

/* SHA-256 fetched from OpenSSL's providers once: EVP_sha256() makes each digest look it up
 * again (locks, a hash table), which was most of the cost of hashing an API key. */
static EVP_MD *sha256_fetched;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
}

lq_err_t lq_sha256_hex(char out[65], const void *data, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    const EVP_MD *sha256;

    pthread_once(&sha256_once, sha256_fetch);
    sha256 = sha256_fetched ? sha256_fetched : EVP_sha256();
    if (!EVP_Digest(data, len, md, &md_len, sha256, NULL) || md_len != 32)
        return LQ_ERR_INVALID;
    lq_hex(out, md, 32);
    return LQ_OK;
}

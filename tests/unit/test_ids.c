/* common/ids (UUIDv7, hex, SHA-256, random bytes) and common/hashmap. */
#include <stdint.h>

#include "common/hashmap.h"
#include "common/ids.h"
#include "testutil.h"

/* ---- UUIDv7 ---- */

/* Canonical lower-case, version 7, RFC 9562 variant (10xx). */
static int uuid7_shape_ok(const char *s)
{
    int i;

    if (strlen(s) != LQ_UUID_STR_LEN)
        return 0;
    for (i = 0; i < LQ_UUID_STR_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!strchr("0123456789abcdef", s[i])) {
            return 0;
        }
    }
    return s[14] == '7' && strchr("89ab", s[19]) != NULL;
}

/* The first 48 bits, read independently of lq_uuid7_time_ms. */
static int64_t uuid_prefix_ms(const char *s)
{
    char hex[13];

    memcpy(hex, s, 8);
    memcpy(hex + 8, s + 9, 4);
    hex[12] = '\0';
    return (int64_t)strtoll(hex, NULL, 16);
}

static void test_uuid7_format_and_time(void)
{
    /* increasing times: the generator keeps per-thread state */
    static const int64_t times[] = {
        0, 1, 1000, INT64_C(1732200000123), INT64_C(1732200000124), INT64_C(1900000000000)};
    char id[LQ_UUID_STR_LEN + 1];
    size_t i;

    for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        memset(id, 'x', sizeof(id));
        lq_uuid7(id, times[i]);
        CHECK(uuid7_shape_ok(id));
        CHECK(lq_uuid_valid(id));
        CHECK_INT(lq_uuid7_time_ms(id), times[i]);
        CHECK_INT(uuid_prefix_ms(id), times[i]);
    }
    /* the first 8 hex digits are the top 32 bits of the time */
    lq_uuid7(id, INT64_C(1900000000001));
    CHECK_INT(uuid_prefix_ms(id), INT64_C(1900000000001));
    {
        char want[16];
        snprintf(want, sizeof(want), "%08llx", (unsigned long long)(INT64_C(1900000000001) >> 16));
        CHECK(strncmp(id, want, 8) == 0);
    }
}

#define N_IDS 100000

static void test_uuid7_monotonic(void)
{
    const int64_t t = INT64_C(1950000000000);
    char prev[LQ_UUID_STR_LEN + 1], cur[LQ_UUID_STR_LEN + 1];
    long not_increasing = 0, bad_shape = 0, bad_time = 0;
    int i;

    lq_uuid7(prev, t);
    CHECK(uuid7_shape_ok(prev));
    for (i = 1; i < N_IDS; i++) { /* all within the same millisecond */
        lq_uuid7(cur, t);
        if (strcmp(prev, cur) >= 0)
            not_increasing++;
        if (!uuid7_shape_ok(cur))
            bad_shape++;
        if (lq_uuid7_time_ms(cur) != t)
            bad_time++;
        memcpy(prev, cur, sizeof(cur));
    }
    CHECK_INT(not_increasing, 0);
    CHECK_INT(bad_shape, 0);
    CHECK_INT(bad_time, 0);

    /* the clock steps back: ids still increase */
    lq_uuid7(cur, t - 5000);
    CHECK(strcmp(prev, cur) < 0);
    CHECK(lq_uuid7_time_ms(cur) >= t);
    CHECK(uuid7_shape_ok(cur));
    memcpy(prev, cur, sizeof(cur));
    /* the next millisecond: a fresh counter, still after everything before */
    lq_uuid7(cur, t + 1);
    CHECK(strcmp(prev, cur) < 0);
    CHECK_INT(lq_uuid7_time_ms(cur), t + 1);

    /* the largest 48-bit time */
    lq_uuid7(cur, INT64_C(0xffffffffffff));
    CHECK(strncmp(cur, "ffffffff-ffff-7", 15) == 0);
    CHECK_INT(lq_uuid7_time_ms(cur), INT64_C(0xffffffffffff));
}

static void test_uuid_valid(void)
{
    static const char *const good[] = {
        "0190a5f0-0000-7000-8000-000000000001", "550e8400-e29b-41d4-a716-446655440000",
        "550E8400-E29B-41D4-A716-446655440000", "00000000-0000-0000-0000-000000000000",
        "Ffffffff-ffff-7fff-bfff-ffffffffffff"};
    static const char *const bad[] = {"",
                                      "0190a5f0-0000-7000-8000-00000000000",    /* short */
                                      "0190a5f0-0000-7000-8000-0000000000011",  /* long */
                                      "0190a5f000000-7000-8000-000000000001",   /* dash missing */
                                      "0190a5f0-00007-000-8000-000000000001",   /* dash misplaced */
                                      "0190a5f0-0000-7000-8000-00000000000g",   /* not hex */
                                      "{0190a5f0-0000-7000-8000-000000000001}", /* braces */
                                      " 0190a5f0-0000-7000-8000-00000000001",   /* space */
                                      "0190a5f0_0000_7000_8000_000000000001",
                                      "0190a5f00000700080000000000000010000"};
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CHECK_INT(lq_uuid_valid(good[i]), 1);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (lq_uuid_valid(bad[i]))
            fprintf(stderr, "accepted bad uuid \"%s\"\n", bad[i]);
        CHECK_INT(lq_uuid_valid(bad[i]), 0);
        CHECK_INT(lq_uuid7_time_ms(bad[i]), -1);
    }
    CHECK_INT(lq_uuid7_time_ms("0190a5f0-0000-7000-8000-000000000001"), INT64_C(0x0190a5f00000));
    CHECK_INT(lq_uuid7_time_ms("0190A5F0-ABCD-7000-8000-000000000001"), INT64_C(0x0190a5f0abcd));
    CHECK_INT(lq_uuid7_time_ms("550e8400-e29b-41d4-a716-446655440000"), -1); /* v4 */
    CHECK_INT(lq_uuid7_time_ms("00000000-0000-0000-0000-000000000000"), -1); /* nil */
}

/* ---- hex, SHA-256, random ---- */

static void test_hex_sha_random(void)
{
    static const unsigned char in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    char out[2 * sizeof(in) + 1], sha[65], one[3];
    unsigned char a[32], b[32], zero[32] = {0};

    memset(out, 'x', sizeof(out));
    lq_hex(out, in, sizeof(in));
    CHECK_STR(out, "00017f80abff");
    lq_hex(one, in, 0);
    CHECK_STR(one, "");

    CHECK_INT(lq_sha256_hex(sha, "abc", 3), LQ_OK);
    CHECK_STR(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK_INT(lq_sha256_hex(sha, "", 0), LQ_OK);
    CHECK_STR(sha, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_INT(lq_sha256_hex(sha, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56),
              LQ_OK);
    CHECK_STR(sha, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* the length counts, not a terminator */
    CHECK_INT(lq_sha256_hex(sha, "abcdef", 3), LQ_OK);
    CHECK_STR(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    CHECK_INT(lq_random_bytes(a, sizeof(a)), LQ_OK);
    CHECK_INT(lq_random_bytes(b, sizeof(b)), LQ_OK);
    CHECK(memcmp(a, b, sizeof(a)) != 0);
    CHECK(memcmp(a, zero, sizeof(a)) != 0);
    CHECK_INT(lq_random_bytes(a, 0), LQ_OK);
}

/* ---- hashmap ---- */

#define N_KEYS 50000

typedef struct tally {
    size_t n;
    unsigned long long sum;
    size_t bad;
} tally_t;

/* value i+1 is stored under "key-i" (or i+1+N_KEYS after a replace) */
static void tally_fn(const char *key, void *value, void *arg)
{
    tally_t *t = arg;
    uintptr_t v = (uintptr_t)value;
    long i = strtol(key + 4, NULL, 10);

    t->n++;
    t->sum += v;
    if (strncmp(key, "key-", 4) != 0 || (v != (uintptr_t)i + 1 && v != (uintptr_t)i + 1 + N_KEYS))
        t->bad++;
}

/* A bounded cache (created for its bound, entries evicted oldest first) keeps its size however
 * many entries come and go: tombstones are swept, the table is not doubled. */
static void test_hashmap_bounded_cache(void)
{
    enum { BOUND = 1000 };
    lq_hashmap_t *m = lq_hashmap_create(BOUND);
    char key[32];
    size_t cap, i, wrong = 0;

    CHECK(m != NULL);
    if (!m)
        return;
    cap = lq_hashmap_capacity(m);
    for (i = 0; i < 200 * BOUND; i++) {
        snprintf(key, sizeof(key), "job-%zu", i);
        if (lq_hashmap_put(m, key, (void *)(uintptr_t)(i + 1)) != LQ_OK)
            wrong++;
        if (i >= BOUND) {
            snprintf(key, sizeof(key), "job-%zu", i - BOUND);
            if (lq_hashmap_remove(m, key) != (void *)(uintptr_t)(i - BOUND + 1))
                wrong++;
        }
    }
    CHECK_INT(wrong, 0);
    CHECK_INT(lq_hashmap_size(m), BOUND);
    CHECK_INT(lq_hashmap_capacity(m), cap);
    snprintf(key, sizeof(key), "job-%d", 200 * BOUND - 1);
    CHECK(lq_hashmap_get(m, key) == (void *)(uintptr_t)(200 * BOUND));
    lq_hashmap_destroy(m);
}

static void test_hashmap(void)
{
    lq_hashmap_t *m = lq_hashmap_create(4); /* grows many times */
    char key[32];
    size_t i, wrong = 0;
    unsigned long long want_sum = 0;
    tally_t t = {0, 0, 0};

    CHECK(m != NULL);
    if (!m)
        return;
    CHECK_INT(lq_hashmap_size(m), 0);
    CHECK(lq_hashmap_get(m, "missing") == NULL);
    CHECK(lq_hashmap_remove(m, "missing") == NULL);
    for (i = 0; i < N_KEYS; i++) {
        snprintf(key, sizeof(key), "key-%zu", i);
        if (lq_hashmap_put(m, key, (void *)(uintptr_t)(i + 1)) != LQ_OK)
            wrong++;
    }
    CHECK_INT(wrong, 0);
    CHECK_INT(lq_hashmap_size(m), N_KEYS);
    for (i = 0; i < N_KEYS; i++) {
        snprintf(key, sizeof(key), "key-%zu", i);
        if (lq_hashmap_get(m, key) != (void *)(uintptr_t)(i + 1))
            wrong++;
    }
    CHECK_INT(wrong, 0);
    /* every put reused one buffer: the keys were copied */
    CHECK(lq_hashmap_get(m, "key-7") == (void *)(uintptr_t)8);

    /* replace the even ones: the size does not change */
    for (i = 0; i < N_KEYS; i += 2) {
        snprintf(key, sizeof(key), "key-%zu", i);
        if (lq_hashmap_put(m, key, (void *)(uintptr_t)(i + 1 + N_KEYS)) != LQ_OK)
            wrong++;
    }
    CHECK_INT(wrong, 0);
    CHECK_INT(lq_hashmap_size(m), N_KEYS);
    for (i = 0; i < N_KEYS; i++) {
        snprintf(key, sizeof(key), "key-%zu", i);
        if (lq_hashmap_get(m, key) != (void *)(uintptr_t)(i + 1 + (i % 2 ? 0 : N_KEYS)))
            wrong++;
    }
    CHECK_INT(wrong, 0);

    /* remove every third key */
    for (i = 0; i < N_KEYS; i += 3) {
        snprintf(key, sizeof(key), "key-%zu", i);
        if (lq_hashmap_remove(m, key) != (void *)(uintptr_t)(i + 1 + (i % 2 ? 0 : N_KEYS)))
            wrong++;
        if (lq_hashmap_remove(m, key) != NULL) /* gone */
            wrong++;
    }
    CHECK_INT(wrong, 0);
    CHECK_INT(lq_hashmap_size(m), N_KEYS - (N_KEYS + 2) / 3);
    for (i = 0; i < N_KEYS; i++) {
        void *want = i % 3 == 0 ? NULL : (void *)(uintptr_t)(i + 1 + (i % 2 ? 0 : N_KEYS));
        snprintf(key, sizeof(key), "key-%zu", i);
        if (lq_hashmap_get(m, key) != want)
            wrong++;
        if (want)
            want_sum += (uintptr_t)want;
    }
    CHECK_INT(wrong, 0);
    lq_hashmap_foreach(m, tally_fn, &t);
    CHECK_INT(t.n, N_KEYS - (N_KEYS + 2) / 3);
    CHECK_INT(t.bad, 0);
    CHECK(t.sum == want_sum);

    /* put the removed keys back (into tombstones) */
    for (i = 0; i < N_KEYS; i += 3) {
        snprintf(key, sizeof(key), "key-%zu", i);
        if (lq_hashmap_put(m, key, (void *)(uintptr_t)(i + 1)) != LQ_OK)
            wrong++;
    }
    CHECK_INT(wrong, 0);
    CHECK_INT(lq_hashmap_size(m), N_KEYS);
    for (i = 0; i < N_KEYS; i += 3) {
        snprintf(key, sizeof(key), "key-%zu", i);
        if (lq_hashmap_get(m, key) != (void *)(uintptr_t)(i + 1))
            wrong++;
    }
    CHECK_INT(wrong, 0);
    lq_hashmap_destroy(m);
    lq_hashmap_destroy(NULL);
}

/* A small map under endless churn: tombstones must be reused or swept, never fill the
 * table (a full table of tombstones makes a lookup loop forever). */
static void test_hashmap_churn(void)
{
    lq_hashmap_t *m = lq_hashmap_create(0);
    char key[32];
    size_t i, wrong = 0;

    CHECK(m != NULL);
    if (!m)
        return;
    for (i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "live-%zu", i);
        lq_hashmap_put(m, key, (void *)(uintptr_t)(i + 1));
    }
    for (i = 0; i < 200000; i++) {
        snprintf(key, sizeof(key), "tmp-%zu", i);
        if (lq_hashmap_put(m, key, (void *)(uintptr_t)1) != LQ_OK)
            wrong++;
        if (lq_hashmap_remove(m, key) != (void *)(uintptr_t)1)
            wrong++;
        if (lq_hashmap_get(m, "live-3") != (void *)(uintptr_t)4)
            wrong++;
    }
    CHECK_INT(wrong, 0);
    CHECK_INT(lq_hashmap_size(m), 10);
    for (i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "live-%zu", i);
        CHECK(lq_hashmap_get(m, key) == (void *)(uintptr_t)(i + 1));
    }
    CHECK(lq_hashmap_get(m, "tmp-5") == NULL);
    /* the empty key is a key */
    CHECK_INT(lq_hashmap_put(m, "", (void *)(uintptr_t)99), LQ_OK);
    CHECK(lq_hashmap_get(m, "") == (void *)(uintptr_t)99);
    CHECK_INT(lq_hashmap_size(m), 11);
    lq_hashmap_destroy(m);
}

int main(void)
{
    test_uuid7_format_and_time();
    test_uuid7_monotonic();
    test_uuid_valid();
    test_hex_sha_random();
    test_hashmap_bounded_cache();
    test_hashmap();
    test_hashmap_churn();
    TEST_DONE();
}

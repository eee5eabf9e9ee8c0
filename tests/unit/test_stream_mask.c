/* workers/stream_mask: a streamed answer, cut into pieces anywhere, is released as
 * lq_secret_redact makes the whole answer, and no piece ever carries a credential. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/secret_scan.h"
#include "testutil.h"
#include "workers/stream_mask.h"

typedef struct sink {
    char buf[16384];
    size_t len;
    int pieces;
} sink_t;

static void collect(void *arg, const char *text, size_t len)
{
    sink_t *s = arg;

    if (s->len + len < sizeof(s->buf)) {
        memcpy(s->buf + s->len, text, len);
        s->len += len;
    }
    s->buf[s->len] = '\0';
    s->pieces++;
}

static const char *const answers[] = {
    "Here is the key: sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz012345, keep it safe.",
    "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123",
    "aws: AKIAIOSFODNN7EXAMPLE and AKIAIOSFODNN7EXAMPLEX (too long) end",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nnext line",
    "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "token ghp_0123456789abcdefghijABCDEFGHIJ0123456789 and glpat-abcdefghij0123456789.",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAIBAA\n-----END RSA PRIVATE KEY-----\nafter",
    "cut: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA",
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBg\n-----END PUBLIC KEY----- -- a dash -- rule\n-----\n",
    "slack xoxb-123456789012-abcdefghij, google AIzaSyA-abcdefghijklmnopqrstuvwxyz012345",
    "sk_live_abcdefghijklmnopqrstuvwxsk-abcdefghijklmnopqrstuvwxyz (masking exposes one)",
    "llmq-0123456789abcdef0123456789abcdef0123456789abcdef\\nsk-abcdefghijklmnopqrstuvwxyz",
    "jwt "
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "no secrets here: the task asks for skills, gh pages and eyJ... nothing else. disk-sk-",
    "sk-short sk-abcdefghijklmnopqrs sk-abcdefghijklmnopqrst",
    /* chains: each key ends with the next one's first two bytes, so masking one exposes the
     * next (one sweep from the kept tails masks them all) */
    "sk_live_AAAAAAAAAAAAAAAAAAsk_live_BBBBBBBBBBBBBBBBBBsk_live_CCCCCCCCCCCCCCCCCCsk_live_DD",
    "sk_live_AAAAAAAAAAAAAAAAAAsk-sk_live_BBBBBBBBBBBBBBBBBBsk-sk_live_CCCCCCCCCCCCCCCCCCsk-x",
    "ghp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAsk-ghp_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBsk-end",
};

/* Feed text cut at the given positions (sorted, within len); return what was released. */
static void feed_cuts(const char *text, const size_t *cuts, size_t n_cuts, sink_t *out)
{
    stream_mask_t m;
    size_t len = strlen(text), prev = 0, i;

    memset(&m, 0, sizeof(m));
    memset(out, 0, sizeof(*out));
    for (i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : len;
        CHECK_INT(stream_mask_feed(&m, text + prev, end - prev, collect, out), 0);
        prev = end;
    }
    stream_mask_flush(&m, collect, out);
    stream_mask_clear(&m);
}

static char *redacted(const char *text)
{
    char *r = strdup(text);
    lq_secret_redact(r);
    return r;
}

/* every split into two pieces, and every byte a piece */
static void test_every_split(void)
{
    size_t a, c, cuts[512];
    sink_t out;

    for (a = 0; a < sizeof(answers) / sizeof(answers[0]); a++) {
        size_t len = strlen(answers[a]);
        char *want = redacted(answers[a]);
        int bad = 0;
        for (c = 0; c <= len; c++) {
            feed_cuts(answers[a], &c, 1, &out);
            if (strcmp(out.buf, want) != 0 && !bad++)
                fprintf(stderr, "split at %zu:\n got  %s\n want %s\n", c, out.buf, want);
        }
        for (c = 0; c + 1 < len && c < 512; c++)
            cuts[c] = c + 1;
        feed_cuts(answers[a], cuts, c, &out);
        if (strcmp(out.buf, want) != 0 && !bad++)
            fprintf(stderr, "byte by byte:\n got  %s\n want %s\n", out.buf, want);
        CHECK_INT(bad, 0);
        free(want);
    }
}

/* random cuts (several pieces) of answers glued together */
static void test_random_splits(void)
{
    unsigned seed = 12345;
    int round;

    for (round = 0; round < 3000; round++) {
        char text[4096] = "";
        size_t cuts[64], n = 0, len, k, i;
        char *want;
        sink_t out;
        for (k = 0; k < 4; k++) {
            seed = seed * 1103515245u + 12345u;
            strcat(text, answers[(seed >> 8) % (sizeof(answers) / sizeof(answers[0]))]);
            strcat(text, (seed >> 20) & 1 ? " " : "");
        }
        len = strlen(text);
        for (i = 0; i < 64; i++) {
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 16) % 3 == 0)
                continue;
            cuts[n] = n ? cuts[n - 1] + 1 + (seed >> 8) % 20 : (seed >> 8) % 20;
            if (cuts[n] > len)
                break;
            n++;
        }
        want = redacted(text);
        feed_cuts(text, cuts, n, &out);
        CHECK_STR(out.buf, want);
        free(want);
        if (lq_test_failures)
            break;
    }
}

/* prose is released at the latest at the end of each word: no waiting for the end */
static void test_prose_flows(void)
{
    static const char *const words[] = {"The ",  "queue ", "keeps ", "every ", "request ",
                                        "safe ", "and ",   "asks ",  "skills."};
    stream_mask_t m;
    sink_t out;
    size_t i, sent = 0;

    memset(&m, 0, sizeof(m));
    memset(&out, 0, sizeof(out));
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        stream_mask_feed(&m, words[i], strlen(words[i]), collect, &out);
        sent += strlen(words[i]);
        CHECK(out.len + 8 >= sent); /* at most the current word held */
    }
    CHECK_INT(out.len, sent - strlen("skills."));
    stream_mask_flush(&m, collect, &out);
    CHECK_STR(out.buf, "The queue keeps every request safe and asks skills.");
    stream_mask_clear(&m);
}

/* a key split across two deltas never reaches the output whole or in part */
static void test_split_key_never_released(void)
{
    static const char key[] = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz012345";
    stream_mask_t m;
    sink_t out;

    memset(&m, 0, sizeof(m));
    memset(&out, 0, sizeof(out));
    stream_mask_feed(&m, "key: sk-proj-AbCdEfGh", 21, collect, &out);
    CHECK_STR(out.buf, "key: ");
    stream_mask_feed(&m, "IjKlMnOpQrStUvWxYz012345 done", 29, collect, &out);
    stream_mask_flush(&m, collect, &out);
    CHECK(strstr(out.buf, key) == NULL);
    CHECK(strstr(out.buf, "AbCdEfGh") == NULL);
    CHECK_STR(out.buf, "key: sk-p**********************************45 done");
    stream_mask_clear(&m);
}

/* the hold-back is bounded: a private key block longer than the bound is released masked,
 * and what follows of it is masked until its END line */
static void test_bound(void)
{
    stream_mask_t m;
    sink_t out;
    char line[65];
    int i;

    memset(&m, 0, sizeof(m));
    memset(&out, 0, sizeof(out));
    memset(line, 'Q', 63);
    line[63] = '\n';
    line[64] = '\0';
    stream_mask_feed(&m, "-----BEGIN RSA PRIVATE KEY-----\n", 32, collect, &out);
    for (i = 0; i < 100; i++) {
        stream_mask_feed(&m, line, 64, collect, &out);
        CHECK(m.len <= STREAM_MASK_HOLD_MAX + 2 + 64);
    }
    CHECK(out.len > 0);
    stream_mask_feed(&m, "-----END RSA PRIVATE KEY-----\nbye", 33, collect, &out);
    stream_mask_flush(&m, collect, &out);
    CHECK(strchr(out.buf, 'Q') == NULL);
    CHECK(strncmp(out.buf, "----**", 6) == 0);
    CHECK(strstr(out.buf, "\nbye") != NULL);
    stream_mask_clear(&m);
}

/* Only counts what was released. */
static void count(void *arg, const char *text, size_t len)
{
    (void)text;
    *(size_t *)arg += len;
}

/* One delta of 1 MiB of a chain of keys (masking each exposes the next) is masked in
 * linear time: a sweep for each exposed key took 50 s. */
static void test_hostile_delta(void)
{
    static const char unit[] = "sk_live_AAAAAAAAAAAAAAAAAAsk";
    size_t n = (size_t)1 << 20, i, released = 0;
    char *t = malloc(n);
    stream_mask_t m;
    clock_t start;

    if (!t)
        return;
    for (i = 0; i < n; i++)
        t[i] = unit[i % (sizeof(unit) - 1)];
    memset(&m, 0, sizeof(m));
    start = clock();
    stream_mask_feed(&m, t, n, count, &released);
    stream_mask_flush(&m, count, &released);
    CHECK((double)(clock() - start) / CLOCKS_PER_SEC < 1.0);
    CHECK(released == n);
    stream_mask_clear(&m);
    free(t);
}

int main(void)
{
    test_every_split();
    test_random_splits();
    test_prose_flows();
    test_split_key_never_released();
    test_bound();
    test_hostile_delta();
    printf("%d checks, %d failures\n", lq_test_checks, lq_test_failures);
    return lq_test_failures != 0;
}

/* tests/unit/testutil.h — a few assertion macros; each failure prints where and why. */
#ifndef LQ_TESTUTIL_H
#define LQ_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int lq_test_failures;
static int lq_test_checks;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        lq_test_checks++;                                                            \
        if (!(cond)) {                                                               \
            lq_test_failures++;                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#define CHECK_STR(a, b)                                                                          \
    do {                                                                                         \
        const char *a_ = (a), *b_ = (b);                                                         \
        lq_test_checks++;                                                                        \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                 \
            lq_test_failures++;                                                                  \
            fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, a_ ? a_ : "(null)", \
                    b_ ? b_ : "(null)");                                                         \
        }                                                                                        \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        lq_test_checks++;                                                                          \
        if (a_ != b_) {                                                                            \
            lq_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, a_, b_); \
        }                                                                                          \
    } while (0)

#define TEST_DONE()                                                         \
    do {                                                                    \
        printf("%d checks, %d failed\n", lq_test_checks, lq_test_failures); \
        return lq_test_failures ? 1 : 0;                                    \
    } while (0)

/* Read a whole file; NULL if missing. Caller frees. */
static inline char *lq_test_read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf;
    long n;

    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

#endif

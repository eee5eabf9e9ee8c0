/* The Authorization header's Bearer key, and the API key format shared with llmqctl. */
#include <ctype.h>

#include "common/api_key.h"
#include "ingest/auth.h"
#include "testutil.h"

static void bearer_ok(const char *header, const char *want)
{
    char key[INGEST_BEARER_MAX + 1] = "";

    CHECK_INT(ingest_bearer_parse(header, key, sizeof(key)), 0);
    CHECK_STR(key, want);
}

static void bearer_refused(const char *header)
{
    char key[INGEST_BEARER_MAX + 1] = "untouched";

    CHECK_INT(ingest_bearer_parse(header, key, sizeof(key)), -1);
}

static void test_bearer(void)
{
    char long_header[INGEST_BEARER_MAX + 16];

    bearer_ok("Bearer llmq-abc", "llmq-abc");
    bearer_ok("bearer llmq-abc", "llmq-abc");   /* the scheme is case-insensitive */
    bearer_ok("BEARER   llmq-abc", "llmq-abc"); /* any spaces before the key */
    bearer_ok("Bearer llmq-abc  ", "llmq-abc"); /* trailing spaces are not the key */
    bearer_ok("Bearer llmq-abc\t", "llmq-abc"); /* nor trailing tabs */
    bearer_ok("Bearer\tllmq-abc \t ", "llmq-abc");
    bearer_refused(NULL);
    bearer_refused("");
    bearer_refused("Bearer");
    bearer_refused("Bearer ");
    bearer_refused("Bearer  \t ");
    bearer_refused("Basic abc");
    bearer_refused("Bearerllmq-abc");
    memset(long_header, 'a', sizeof(long_header) - 1);
    memcpy(long_header, "Bearer ", 7);
    long_header[sizeof(long_header) - 1] = '\0';
    bearer_refused(long_header);
    {
        char small[4];
        CHECK_INT(ingest_bearer_parse("Bearer abcd", small, sizeof(small)), -1); /* no room */
    }
}

static void test_api_key(void)
{
    lq_api_key_t a, b;
    char prefix[LQ_API_KEY_PREFIX_LEN + 1], hash[LQ_API_KEY_HASH_LEN + 1];
    size_t i;

    CHECK_INT(lq_api_key_generate(&a), LQ_OK);
    CHECK_INT(lq_api_key_generate(&b), LQ_OK);
    CHECK_INT(strlen(a.key), 53);
    CHECK(strncmp(a.key, "llmq-", 5) == 0);
    for (i = 5; i < strlen(a.key); i++)
        CHECK(isxdigit((unsigned char)a.key[i]) && !isupper((unsigned char)a.key[i]));
    CHECK(strcmp(a.key, b.key) != 0);
    CHECK_INT(strlen(a.prefix), 12);
    CHECK(strncmp(a.prefix, a.key, 12) == 0);
    lq_api_key_hash(a.key, hash);
    CHECK_STR(a.sha256, hash);
    lq_api_key_hash("abc", hash);
    CHECK_STR(hash, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    lq_api_key_prefix("short", prefix);
    CHECK_STR(prefix, "short");
    lq_api_key_wipe(&a);
    CHECK_INT(a.key[0], 0);
}

int main(void)
{
    test_bearer();
    test_api_key();
    TEST_DONE();
}

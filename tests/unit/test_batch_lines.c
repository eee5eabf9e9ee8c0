/* ingest/batch_lines: a batch file cut into lines across chunk boundaries (CRLF, a last line
 * without a newline, blank lines, a line past the bound refused whatever the chunks), the
 * check of each line (envelope, body, stream and conversation refused, policy), and the
 * count of a file's requests. */
#include <string.h>

#include "ingest/batch_lines.h"
#include "ingest/files.h"
#include "testutil.h"

/* Feed text in pieces of `piece` bytes; collect the lines (joined with '|') and their
 * numbers (the last one's). */
static void cut(const char *text, size_t piece, size_t max_line, char *out, size_t out_size,
                int *last_no, int *long_lines)
{
    ingest_line_reader_t r;
    size_t off = 0, n = strlen(text), k = 0;
    const char *line;
    size_t len;
    int too_long;

    ingest_line_reader_init(&r, max_line);
    out[0] = '\0';
    *long_lines = 0;
    for (;;) {
        while (ingest_line_reader_next(&r, &line, &len, &too_long)) {
            k += (size_t)snprintf(out + k, out_size - k, "%.*s|", (int)len, line);
            *long_lines += too_long;
            *last_no = r.line;
        }
        if (r.eof)
            break;
        if (off >= n) {
            r.eof = 1;
            continue;
        }
        size_t take = n - off < piece ? n - off : piece;
        CHECK_INT(ingest_line_reader_feed(&r, text + off, take), 0);
        off += take;
    }
    ingest_line_reader_free(&r);
}

static void test_reader(void)
{
    const char *text = "one\r\ntwo\n\n   \nthree-is-long-line\nfour";
    char out[256];
    size_t piece;
    int last = 0, longs = 0;

    for (piece = 1; piece <= 40; piece++) {
        cut(text, piece, 64, out, sizeof(out), &last, &longs);
        CHECK_STR(out, "one|two||   |three-is-long-line|four|");
        CHECK_INT(last, 6);
        CHECK_INT(longs, 0);
        /* the same with a bound of 8 bytes: the long line is cut, and counted once */
        cut(text, piece, 8, out, sizeof(out), &last, &longs);
        CHECK_STR(out, "one|two||   |three-is|four|");
        CHECK_INT(last, 6);
        CHECK_INT(longs, 1);
    }
}

static void test_blank_and_count(void)
{
    int in_line = 0;

    CHECK_INT(ingest_line_blank(" \t\r", 3), 1);
    CHECK_INT(ingest_line_blank(" x", 2), 0);
    CHECK_INT((int)ingest_count_lines("a\n\n  \nb", 7, &in_line), 1);
    CHECK_INT(in_line, 1); /* "b" has no newline yet */
    CHECK_INT((int)ingest_count_lines("\n", 1, &in_line), 1);
}

static int parse(const char *line, char *code, size_t code_size)
{
    ingest_limits_t lim = {64, 256, 4, 64};
    ingest_policy_t pol;
    lq_chat_request_t req;
    ingest_line_error_t err;
    char cid[INGEST_CUSTOM_ID_MAX + 1];
    int rc;

    ingest_policy_default(&pol);
    rc = ingest_batch_line_parse(line, strlen(line), "/v1/chat/completions", &lim, &pol, &req, cid,
                                 sizeof(cid), &err);
    snprintf(code, code_size, "%s", rc ? err.code : "ok");
    if (rc == 0)
        lq_chat_request_clear(&req);
    return rc;
}

static void test_parse(void)
{
    char code[64];
    const char *good =
        "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
        "\"body\":{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}";

    CHECK_INT(parse(good, code, sizeof(code)), 0);
    parse("not json", code, sizeof(code));
    CHECK_STR(code, "invalid_json");
    parse("{\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{}}", code, sizeof(code));
    CHECK_STR(code, "missing_required_parameter");
    parse("{\"custom_id\":\"a\",\"method\":\"GET\",\"url\":\"/v1/chat/completions\",\"body\":{}}",
          code, sizeof(code));
    CHECK_STR(code, "invalid_request");
    parse("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/embeddings\",\"body\":{}}", code,
          sizeof(code));
    CHECK_STR(code, "invalid_url");
    parse("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/"
          "completions\",\"body\":{\"model\":"
          "\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}",
          code, sizeof(code));
    CHECK_STR(code, "unsupported_value");
    parse("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/"
          "completions\",\"body\":{\"model\":"
          "\"m\",\"conversation\":\"0190a1b2-0000-7000-8000-00000000c0c0\",\"messages\":[{\"role\":"
          "\"user\",\"content\":\"hi\"}]}}",
          code, sizeof(code));
    CHECK_STR(code, "unsupported_value");
    parse("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"extra\":1,"
          "\"body\":{}}",
          code, sizeof(code));
    CHECK_STR(code, "invalid_request");
    /* a credential in the prompt: blocked by the default policy */
    parse(
        "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/"
        "completions\",\"body\":{\"model\":"
        "\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"key AKIAIOSFODNN7EXAMPLE here\"}]}}",
        code, sizeof(code));
    CHECK_STR(code, "policy_violation");
}

int main(void)
{
    test_reader();
    test_blank_and_count();
    test_parse();
    TEST_DONE();
}

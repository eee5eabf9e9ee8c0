/* Fuzz target: a batch's input file (outside input uploaded through /v1/files), read as the
 * batch runner reads it — given in chunks, cut into lines, each line checked and parsed as a
 * request. The first byte of the input picks the chunk size, so lines straddle chunks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/batch_lines.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(const char *line, size_t len, int too_long, const ingest_policy_t *pol)
{
    static const ingest_limits_t lim = {64, 256, 4, 64};
    char cid[INGEST_CUSTOM_ID_MAX + 1];
    lq_chat_request_t req;
    ingest_line_error_t err;

    if (too_long || ingest_line_blank(line, len))
        return;
    memset(&err, 0, sizeof(err));
    if (ingest_batch_line_parse(line, len, "/v1/chat/completions", &lim, pol, &req, cid,
                                sizeof(cid), &err) == 0) {
        if (!req.model || req.n_messages == 0 || strlen(cid) > INGEST_CUSTOM_ID_MAX)
            abort(); /* a line taken must be a whole request with its custom_id */
        lq_chat_request_clear(&req);
    } else if (!err.code[0] || !err.message[0]) {
        abort(); /* a line refused must say why */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ingest_line_reader_t r;
    ingest_policy_t pol;
    size_t chunk, off = 1;
    const char *line;
    size_t len;
    int too_long, last = 0;

    if (size < 1)
        return 0;
    chunk = 1 + data[0] % 64;
    ingest_policy_default(&pol);
    ingest_line_reader_init(&r, 4096);
    for (;;) {
        if (off < size) {
            size_t n = size - off < chunk ? size - off : chunk;
            if (ingest_line_reader_feed(&r, data + off, n) != 0)
                abort();
            off += n;
        } else if (!r.eof) {
            r.eof = 1;
        }
        while (ingest_line_reader_next(&r, &line, &len, &too_long) == 1) {
            if (r.line <= last)
                abort(); /* lines are numbered as in the file */
            last = r.line;
            check_line(line, len, too_long, &pol);
        }
        if (r.eof)
            break;
    }
    ingest_line_reader_free(&r);
    return 0;
}

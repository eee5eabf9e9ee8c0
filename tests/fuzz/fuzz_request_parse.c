/* Fuzz target: the OpenAI request parser of the ingest node (outside input). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/request_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ingest_limits_t lim = {64, 256, 4, 64};
    lq_chat_request_t req;
    ingest_parse_error_t perr;
    int stream = 0;

    if (ingest_parse_chat((const char *)data, size, &lim, &req, &stream, &perr) == LQ_OK) {
        if (!req.model || req.n_messages == 0 || !req.messages[0].role)
            abort(); /* a success must be complete */
        lq_chat_request_clear(&req);
    } else if (perr.status < 400 || !perr.message[0]) {
        abort(); /* a refusal must say why */
    }
    return 0;
}

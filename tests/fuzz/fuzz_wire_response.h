/* The body of the fuzz targets for a wire's answer translation (fuzz_anthropic_response.c,
 * fuzz_gemini_response.c): the input as a success body and as error bodies. The including
 * file defines FUZZ_WIRE (a worker_wire_t) and FUZZ_STATUSES (the HTTP statuses to try). */
#ifndef LQ_FUZZ_WIRE_RESPONSE_H
#define LQ_FUZZ_WIRE_RESPONSE_H

#include <stdint.h>
#include <stdlib.h>

#include "workers/provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {FUZZ_STATUSES};
    worker_result_t r;
    size_t i;

    for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        worker_parse_response(FUZZ_WIRE, statuses[i], (const char *)data, size, "3", NULL, 0, &r);
        if (!r.ok && (!r.err_type || !r.err_message || r.http_status < 400))
            abort(); /* a failure must be described */
        if (r.ok && !r.finish_reason)
            abort(); /* a success always says why it ended */
        worker_result_clear(&r);
    }
    return 0;
}

#endif

/* Fuzz target: translation of an OpenAI-compatible provider's answer (outside input), as a
 * success body and as an error body. */
#include <stdint.h>
#include <stdlib.h>

#include "workers/provider_adapter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 400, 429, 503};
    worker_result_t r;
    size_t i;

    for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        worker_openai_parse_response(statuses[i], (const char *)data, size, "3", NULL, 0, &r);
        if (!r.ok && (!r.err_type || !r.err_message || r.http_status < 400))
            abort(); /* a failure must be described */
        worker_result_clear(&r);
    }
    return 0;
}

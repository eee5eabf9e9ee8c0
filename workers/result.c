/* A provider call's outcome: freeing it and filling it as a failure. */
#include <stdlib.h>
#include <string.h>

#include "workers/result.h"

void worker_result_clear(worker_result_t *r)
{
    if (!r)
        return;
    free(r->content);
    free(r->finish_reason);
    free(r->extra_json);
    free(r->response_extra_json);
    free(r->provider_model);
    free(r->err_type);
    free(r->err_code);
    free(r->err_message);
    memset(r, 0, sizeof(*r));
}

void worker_result_fail(worker_result_t *out, const char *type, const char *code,
                        const char *message, int http_status, int retriable)
{
    free(out->err_type);
    free(out->err_code);
    free(out->err_message);
    out->ok = 0;
    out->err_type = strdup(type);
    out->err_code = code ? strdup(code) : NULL;
    out->err_message = strdup(message);
    out->http_status = http_status;
    out->retriable = retriable;
}

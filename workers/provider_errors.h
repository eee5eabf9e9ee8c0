/* workers/provider_errors.h — the error mapping table of workers/provider.h as functions, the
 * masking of key-shaped text in providers' messages, and Retry-After. Shared by the wires;
 * calls none of them. */
#ifndef LQ_WORKER_PROVIDER_ERRORS_H
#define LQ_WORKER_PROVIDER_ERRORS_H

#include <stddef.h>
#include <stdint.h>

#include "workers/result.h"

/** The longest provider message kept in err_message (bytes, before the prefix). */
#define WORKER_PROVIDER_MESSAGE_MAX 300

/** Fill *out (reset first) as the failure the mapping table gives for http_status
 * (1..999; 0 is worker_fail_transport's). code and message are the provider's, or NULL:
 * the message is masked and truncated here. overloaded=1 when the body said so
 * (Anthropic's overloaded_error) whatever the status. retry_after is the header or NULL. */
void worker_fail_http(worker_result_t *out, long http_status, const char *code, const char *message,
                      int overloaded, const char *retry_after);

/** Fill *out (reset first) as a transport failure (provider_unreachable / provider_timeout). */
void worker_fail_transport(worker_result_t *out, const char *transport_error, int timeout);

/** Fill *out (reset first) as provider_error / bad_provider_response 502 retriable. */
void worker_fail_bad_answer(worker_result_t *out, const char *message);

/** Fill *out (reset first) as server_error / out_of_memory 500 retriable. */
void worker_fail_nomem(worker_result_t *out);

/** Fill *out (reset first) as invalid_request_error / content_filter 400: the provider
 * refused the prompt; reason (the provider's word) is masked and kept to 64 bytes. */
void worker_fail_prompt_blocked(worker_result_t *out, const char *reason);

/** Copy msg into dst (always NUL-terminated): at most max_bytes bytes of it, cut on a UTF-8
 * boundary and ended with "..." when cut, every token shaped like an API key (sk-...,
 * sk-ant-..., AIza..., pplx-..., any run of 24 or more [A-Za-z0-9_-]) shortened to its
 * first 4 characters and "***". */
void worker_mask_secrets(char *dst, size_t dst_size, const char *msg, size_t max_bytes);

/** Retry-After (delta-seconds or an HTTP-date, relative to now_ms wall clock) in ms,
 * capped at one hour; 0 when absent or unparsable. */
int64_t worker_retry_after_ms(const char *value, int64_t now_ms);

/** A provider's error name → HTTP status table, and a lookup in it (dflt when name is NULL
 * or not in the table). */
typedef struct worker_status_map {
    const char *name;
    long status;
} worker_status_map_t;
long worker_status_lookup(const worker_status_map_t *map, size_t n, const char *name, long dflt);

#endif

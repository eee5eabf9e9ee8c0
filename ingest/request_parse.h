/* ingest/request_parse.h — turn an OpenAI chat-completions body into a ChatRequest, or
 * say precisely what is wrong with it (OpenAI error fields). */
#ifndef LQ_INGEST_REQUEST_PARSE_H
#define LQ_INGEST_REQUEST_PARSE_H

#include <stddef.h>

#include <jansson.h>

#include "common/err.h"
#include "schemas/records.h"

typedef struct ingest_limits {
    size_t max_messages;  /* messages per request */
    size_t max_model_len; /* bytes of the model name */
    size_t max_stop;      /* stop sequences */
    size_t max_depth;     /* JSON nesting (0 = the parser's own limit) */
} ingest_limits_t;

typedef struct ingest_parse_error {
    int status; /* HTTP status to answer, 400 */
    char message[300];
    char param[64]; /* "" when none */
    char code[48];  /* "" when none */
} ingest_parse_error_t;

#define INGEST_STREAM       1 /* "stream": true */
#define INGEST_STREAM_USAGE 2 /* "stream_options": {"include_usage": true} */

/** Parse body into *out: model, messages, sampling parameters, and every field llmq does
 * not model into extra_json. *stream gets INGEST_STREAM and INGEST_STREAM_USAGE bits. The caller fills the ids,
 * tenant and mode. On LQ_OK the caller clears *out (lq_chat_request_clear); on error *out
 * holds nothing and *perr says why. */
lq_err_t ingest_parse_chat(const char *body, size_t len, const ingest_limits_t *lim,
                           lq_chat_request_t *out, int *stream, ingest_parse_error_t *perr);

/** One message object (OpenAI's shape) into *m, index mi naming it in errors. On error *m
 * may hold parts: the caller clears it. */
lq_err_t ingest_parse_message(json_t *msg, size_t mi, lq_message_t *m, ingest_parse_error_t *perr);

#endif

/* common/openai_json.h — OpenAI-shaped JSON for llmq's records: chat.completion bodies,
 * job errors and error bodies. The API (sync answers) and the sink (stored results) write
 * results with the same functions, so what a poll returns is what a sync call returned. */
#ifndef LQ_OPENAI_JSON_H
#define LQ_OPENAI_JSON_H

#include <jansson.h>

#include "common/jsonw.h"
#include "schemas/records.h"

/** {"id":"chatcmpl-<job>","object":"chat.completion",...} as the next value of w. */
void lq_openai_write_completion(lq_jsonw_t *w, const lq_chat_response_t *r);
/** One choice as a chat message object: role, content, and the provider's message fields
 * (tool_calls, refusal, ...). */
void lq_openai_write_message(lq_jsonw_t *w, const lq_choice_t *ch);

/** One chunk of a streamed answer (OpenAI's chat.completion.chunk). */
typedef struct lq_openai_chunk {
    const char *job_id;
    int64_t created_s;
    const char *model;
    const char *role;    /* first chunk: "assistant", else NULL */
    const char *content; /* NULL: no content key */
    size_t content_len;
    const char *finish_reason;      /* last chunk, else NULL (written as null) */
    const char *message_extra_json; /* delta fields such as tool_calls, or NULL */
    const char *top_extra_json;     /* top-level fields such as citations, or NULL */
    int usage_only;                 /* the include_usage chunk: choices [] and usage */
    int32_t prompt_tokens, completion_tokens;
} lq_openai_chunk_t;

/** The chunk as the next value of w. */
void lq_openai_write_chunk(lq_jsonw_t *w, const lq_openai_chunk_t *k);

/** The job's error as an OpenAI error object {"message","type","param","code"} (without the
 * outer "error" key) as the next value of w. */
void lq_openai_write_job_error(lq_jsonw_t *w, const lq_job_error_t *e);

/** {"error":{"message","type","param","code"}}; param/code may be NULL. New reference. */
json_t *lq_openai_error(const char *message, const char *type, const char *param, const char *code);

#endif

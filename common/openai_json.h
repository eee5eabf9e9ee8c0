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

/** The job's error as an OpenAI error object {"message","type","param","code"} (without the
 * outer "error" key) as the next value of w. */
void lq_openai_write_job_error(lq_jsonw_t *w, const lq_job_error_t *e);

/** {"error":{"message","type","param","code"}}; param/code may be NULL. New reference. */
json_t *lq_openai_error(const char *message, const char *type, const char *param,
                        const char *code);

#endif

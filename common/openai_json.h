/* common/openai_json.h — OpenAI-shaped JSON for llmq's records: chat.completion bodies,
 * job objects and error bodies. */
#ifndef LQ_OPENAI_JSON_H
#define LQ_OPENAI_JSON_H

#include <jansson.h>

#include "schemas/records.h"

/** {"id":"chatcmpl-<job>","object":"chat.completion",...}; new reference or NULL. */
json_t *lq_openai_completion(const lq_chat_response_t *r);

/** {"error":{"message","type","param","code"}}; param/code may be NULL. New reference. */
json_t *lq_openai_error(const char *message, const char *type, const char *param,
                        const char *code);

/** The job's error as an OpenAI error object (without the outer "error" key). */
json_t *lq_openai_job_error(const lq_job_error_t *e);

#endif

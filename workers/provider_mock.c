/* The built-in mock provider: a deterministic answer made from the prompt, no I/O. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workers/provider.h"

static const char *const words[] = {
    "llmq",  "queued", "this",    "request", "and",     "a",      "mock",    "provider",
    "wrote", "the",    "reply",   "every",   "token",   "is",     "counted", "once",
    "kafka", "kept",   "it",      "safe",    "workers", "routed", "results", "to",
    "sinks", "so",     "nothing", "was",     "lost",    "on",     "its",     "way"};

int32_t worker_mock_prompt_tokens(const lq_chat_request_t *req)
{
    int64_t total = 0;
    size_t i;

    for (i = 0; i < req->n_messages; i++)
        total += (int64_t)(strlen(req->messages[i].content) + 3) / 4 + 3;
    return total > INT32_MAX ? INT32_MAX : (int32_t)total;
}

void worker_mock_complete(const lq_chat_request_t *req, int completion_tokens, worker_result_t *out)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i, o = 0, cap;
    int n = completion_tokens, w;
    char *text;

    memset(out, 0, sizeof(*out));
    if (strcmp(req->model, "mock-error") == 0) {
        worker_result_fail(out, "invalid_request_error", "mock_error",
                           "The mock provider refused this request (model mock-error).", 400, 0);
        return;
    }
    for (i = 0; i < req->n_messages; i++) {
        const char *p = req->messages[i].content;
        for (; *p; p++) {
            h ^= (unsigned char)*p;
            h *= 1099511628211ULL;
        }
    }
    if (req->has_max_tokens && req->max_tokens < n)
        n = req->max_tokens;
    cap = (size_t)n * 10 + 2;
    text = malloc(cap);
    if (!text) {
        worker_result_fail(out, "server_error", NULL, "out of memory", 500, 1);
        return;
    }
    for (w = 0; w < n; w++) {
        /* splitmix64 of (prompt hash, position): every bit of the hash picks the words */
        uint64_t x = h + (uint64_t)(w + 1) * 0x9e3779b97f4a7c15ULL;
        const char *word;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        x ^= x >> 31;
        word = words[x % (sizeof(words) / sizeof(words[0]))];
        o += (size_t)snprintf(text + o, cap - o, "%s%s", w ? " " : "", word);
    }
    text[o] = '\0';
    out->ok = 1;
    out->content = text;
    out->finish_reason = strdup(n < completion_tokens ? "length" : "stop");
    out->provider_model = strdup(req->model);
    out->prompt_tokens = worker_mock_prompt_tokens(req);
    out->completion_tokens = n;
}

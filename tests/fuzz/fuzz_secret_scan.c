/* Fuzz target: the credential scanner and masking (prompts and answers are outside input),
 * and the prompt policy over a request built from the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret_scan.h"
#include "ingest/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lq_secret_finding_t f[8];
    size_t n, k, prev_end = 0;
    char *text = malloc(size + 1);
    lq_message_t msg = {"user", NULL, NULL, NULL, NULL};
    lq_chat_request_t req;
    ingest_policy_t pol;
    policy_verdict_t v;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    n = lq_secret_scan(text, size, f, 8);
    for (k = 0; k < n && k < 8; k++) {
        if (f[k].start < prev_end || f[k].start + f[k].len > size || f[k].len == 0 ||
            f[k].kind >= LQ_SECRET_KIND_COUNT)
            abort(); /* findings are in order, inside the text, not overlapping */
        prev_end = f[k].start + f[k].len;
    }
    /* masking keeps the length and leaves nothing to find */
    lq_secret_redact(text);
    if (strlen(text) != strlen((const char *)text) || lq_secret_scan(text, strlen(text), f, 8) != 0)
        abort();
    /* the policy: with redaction everywhere a request is never blocked for a secret */
    memcpy(text, data, size);
    text[size] = '\0';
    msg.content = text;
    memset(&req, 0, sizeof(req));
    req.messages = &msg;
    req.n_messages = 1;
    ingest_policy_parse("{\"secrets\":\"redact\",\"blocked_keywords\":[\"zebra\"]}", &pol);
    ingest_policy_apply(&pol, &req, &v);
    if (v.blocked && strcmp(v.policy, "blocked_keyword") != 0)
        abort();
    free(text);
    return 0;
}

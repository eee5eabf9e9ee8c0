/* Fuzz target: the credential scanner and masking (prompts and answers are outside input),
 * and the prompt policy over a request built from the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret_scan.h"
#include "ingest/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Masking keeps the length, only ever writes '*', masks the middle of every secret the
 * first scan finds (its first 4 and last 2 bytes and a PEM block's line breaks stay), and
 * leaves nothing to find. Bytes outside the first findings may change too: masking one
 * secret can expose a neighbour, which the next pass masks. text is NUL-terminated (the
 * input may hold NULs: the string ends at the first). */
static void check_redaction(char *text)
{
    enum { MAX_FINDINGS = 256 };
    lq_secret_finding_t f[MAX_FINDINGS];
    size_t len = strlen(text), n, i, k;
    char *orig = strdup(text);

    if (!orig)
        return;
    n = lq_secret_scan(orig, len, f, MAX_FINDINGS);
    lq_secret_redact(text);
    if (strlen(text) != len)
        abort();
    for (i = 0; i < len; i++)
        if (text[i] != orig[i] && text[i] != '*')
            abort();
    for (k = 0; k < n && n < MAX_FINDINGS; k++)
        for (i = f[k].len <= 8 ? 0 : 4; i + (f[k].len <= 8 ? 0 : 2) < f[k].len; i++)
            if (orig[f[k].start + i] != '\n' && text[f[k].start + i] != '*')
                abort();
    if (lq_secret_scan(text, len, f, 1) != 0)
        abort();
    free(orig);
}

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
    check_redaction(text);
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

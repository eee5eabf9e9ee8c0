#include "common/api_key.h"

#include <stdio.h>
#include <string.h>

#include "common/ids.h"

lq_err_t lq_api_key_generate(lq_api_key_t *out)
{
    unsigned char raw[LQ_API_KEY_RANDOM_BYTES];
    char hex[2 * LQ_API_KEY_RANDOM_BYTES + 1];
    lq_err_t err;

    memset(out, 0, sizeof(*out));
    err = lq_random_bytes(raw, sizeof(raw));
    if (err != LQ_OK)
        return err;
    lq_hex(hex, raw, sizeof(raw));
    snprintf(out->key, sizeof(out->key), "%s%s", LQ_API_KEY_SCHEME, hex);
    explicit_bzero(raw, sizeof(raw));
    explicit_bzero(hex, sizeof(hex));
    lq_api_key_prefix(out->key, out->prefix);
    return lq_api_key_hash(out->key, out->sha256);
}

void lq_api_key_prefix(const char *key, char out[LQ_API_KEY_PREFIX_LEN + 1])
{
    snprintf(out, LQ_API_KEY_PREFIX_LEN + 1, "%.*s", LQ_API_KEY_PREFIX_LEN, key);
}

lq_err_t lq_api_key_hash(const char *key, char out[LQ_API_KEY_HASH_LEN + 1])
{
    return lq_sha256_hex(out, key, strlen(key));
}

void lq_api_key_wipe(lq_api_key_t *k)
{
    explicit_bzero(k->key, sizeof(k->key));
}

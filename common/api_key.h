/* common/api_key.h — llmq's API keys: how a new one is made, and the two things stored of
 * it (a short prefix to find its row, its SHA-256 to check it). The clear key is shown
 * once to whoever created it and never stored. Shared by the admin API and llmqctl. */
#ifndef LQ_API_KEY_H
#define LQ_API_KEY_H

#include <stddef.h>

#include "common/err.h"

#define LQ_API_KEY_SCHEME       "llmq-"
#define LQ_API_KEY_RANDOM_BYTES 24 /* 192 bits */
/* "llmq-" + 48 hex digits */
#define LQ_API_KEY_LEN (sizeof(LQ_API_KEY_SCHEME) - 1 + 2 * LQ_API_KEY_RANDOM_BYTES)
/* Characters of a key kept in clear to find its row: long enough to spread the keys over
 * many prefixes, far too short to be the key. */
#define LQ_API_KEY_PREFIX_LEN 12
#define LQ_API_KEY_HASH_LEN   64 /* SHA-256, hex */

typedef struct lq_api_key {
    char key[LQ_API_KEY_LEN + 1]; /* the clear key: show it once, then wipe */
    char prefix[LQ_API_KEY_PREFIX_LEN + 1];
    char sha256[LQ_API_KEY_HASH_LEN + 1];
} lq_api_key_t;

/** A new random key with its prefix and hash. LQ_ERR_IO when no randomness is available. */
lq_err_t lq_api_key_generate(lq_api_key_t *out);

/** The lookup prefix of a presented key (its first LQ_API_KEY_PREFIX_LEN characters, fewer
 * when the key is shorter). */
void lq_api_key_prefix(const char *key, char out[LQ_API_KEY_PREFIX_LEN + 1]);

/** SHA-256 hex of a presented key: what the database stores and the auth cache is keyed by. */
lq_err_t lq_api_key_hash(const char *key, char out[LQ_API_KEY_HASH_LEN + 1]);

/** Overwrite a key's clear text (the other fields may stay). */
void lq_api_key_wipe(lq_api_key_t *k);

#endif

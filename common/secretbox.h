/* common/secretbox.h — tenants' provider keys encrypted at rest: AES-256-GCM (OpenSSL's
 * libcrypto) under a master key, with a random 96-bit nonce per value and the row's
 * identity as associated data (a ciphertext moved to another tenant's row does not
 * open). The master key comes from a file (secrets.master_key_file) or the environment
 * (LLMQ_MASTER_KEY): 32 bytes, as 64 hex digits or base64. Its id (the first 16 hex digits
 * of its SHA-256) is stored with every value, so a new master key can be rolled out
 * (llmqctl provider-key rotate re-encrypts). */
#ifndef LQ_SECRETBOX_H
#define LQ_SECRETBOX_H

#include <stddef.h>

#include "common/err.h"

#define LQ_BOX_KEY_LEN   32
#define LQ_BOX_NONCE_LEN 12
#define LQ_BOX_TAG_LEN   16

typedef struct lq_master_key {
    unsigned char key[LQ_BOX_KEY_LEN];
    char id[17];
} lq_master_key_t;

/** Parse 64 hex digits or base64 of 32 bytes (surrounding whitespace ignored). */
lq_err_t lq_master_key_parse(const char *text, lq_master_key_t *out, char *errstr,
                             size_t errstr_size);
/** From the file path (when not empty), else the environment variable LLMQ_MASTER_KEY.
 * LQ_ERR_NOT_FOUND when neither is set. */
lq_err_t lq_master_key_load(const char *path, lq_master_key_t *out, char *errstr,
                            size_t errstr_size);
void lq_master_key_wipe(lq_master_key_t *k);

/** Encrypt: ct gets len bytes, nonce and tag their lengths. */
lq_err_t lq_box_seal(const lq_master_key_t *k, const char *aad, const void *plain, size_t len,
                     unsigned char *ct, unsigned char nonce[LQ_BOX_NONCE_LEN],
                     unsigned char tag[LQ_BOX_TAG_LEN]);
/** Decrypt and authenticate; plain gets len bytes. LQ_ERR_INVALID when it does not open. */
lq_err_t lq_box_open(const lq_master_key_t *k, const char *aad, const unsigned char *ct, size_t len,
                     const unsigned char nonce[LQ_BOX_NONCE_LEN],
                     const unsigned char tag[LQ_BOX_TAG_LEN], void *plain);

/** 1 when s is printable ASCII without spaces (what may go into an HTTP header as a
 * credential: no line breaks, so no header injection). */
int lq_printable_token(const char *s);

/** "sk-p…a9": the first 4 and last 2 characters (fewer for short values). */
void lq_mask_secret(const char *secret, char *out, size_t size);

#endif

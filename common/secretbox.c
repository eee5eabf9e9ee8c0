/* AES-256-GCM for values at rest. See common/secretbox.h. */
#include "common/secretbox.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/ids.h"

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

lq_err_t lq_master_key_parse(const char *text, lq_master_key_t *out, char *errstr,
                             size_t errstr_size)
{
    char buf[128];
    size_t n = 0, i;
    unsigned char raw[64];
    char hexid[65];

    memset(out, 0, sizeof(*out));
    for (i = 0; text[i] && n + 1 < sizeof(buf); i++)
        if (!isspace((unsigned char)text[i]))
            buf[n++] = text[i];
    buf[n] = '\0';
    if (n == 64) {
        for (i = 0; i < 32; i++) {
            int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);
            if (hi < 0 || lo < 0)
                break;
            out->key[i] = (unsigned char)(hi * 16 + lo);
        }
        if (i < 32)
            goto bad;
    } else if (n == 44) {
        int got = EVP_DecodeBlock(raw, (const unsigned char *)buf, (int)n);
        /* 44 base64 characters with one '=' of padding decode to 33 bytes, the last 0 */
        if (got != 33 || buf[43] != '=' || buf[42] == '=')
            goto bad;
        memcpy(out->key, raw, 32);
        OPENSSL_cleanse(raw, sizeof(raw));
    } else {
        goto bad;
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    lq_sha256_hex(hexid, out->key, sizeof(out->key));
    snprintf(out->id, sizeof(out->id), "%.16s", hexid);
    return LQ_OK;
bad:
    OPENSSL_cleanse(buf, sizeof(buf));
    memset(out, 0, sizeof(*out));
    snprintf(errstr, errstr_size, "the master key must be 32 bytes: 64 hex digits or base64");
    return LQ_ERR_CONFIG;
}

lq_err_t lq_master_key_load(const char *path, lq_master_key_t *out, char *errstr,
                            size_t errstr_size)
{
    char text[256] = "";
    lq_err_t err;

    if (path && *path) {
        FILE *f = fopen(path, "r");
        size_t n;
        if (!f) {
            snprintf(errstr, errstr_size, "master key file %s: cannot open", path);
            return LQ_ERR_CONFIG;
        }
        n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[n] = '\0';
    } else if (getenv("LLMQ_MASTER_KEY")) {
        snprintf(text, sizeof(text), "%s", getenv("LLMQ_MASTER_KEY"));
    } else {
        snprintf(errstr, errstr_size, "no master key (secrets.master_key_file or LLMQ_MASTER_KEY)");
        return LQ_ERR_NOT_FOUND;
    }
    err = lq_master_key_parse(text, out, errstr, errstr_size);
    OPENSSL_cleanse(text, sizeof(text));
    return err;
}

void lq_master_key_wipe(lq_master_key_t *k)
{
    OPENSSL_cleanse(k, sizeof(*k));
}

lq_err_t lq_box_seal(const lq_master_key_t *k, const char *aad, const void *plain, size_t len,
                     unsigned char *ct, unsigned char nonce[LQ_BOX_NONCE_LEN],
                     unsigned char tag[LQ_BOX_TAG_LEN])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, ok;

    if (!c || lq_random_bytes(nonce, LQ_BOX_NONCE_LEN) != LQ_OK || len > 1048576) {
        EVP_CIPHER_CTX_free(c);
        return LQ_ERR_INVALID;
    }
    ok = EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, LQ_BOX_NONCE_LEN, NULL) == 1 &&
         EVP_EncryptInit_ex(c, NULL, NULL, k->key, nonce) == 1 &&
         EVP_EncryptUpdate(c, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
         EVP_EncryptUpdate(c, ct, &n, plain, (int)len) == 1 &&
         EVP_EncryptFinal_ex(c, ct + n, &n) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, LQ_BOX_TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? LQ_OK : LQ_ERR_INVALID;
}

lq_err_t lq_box_open(const lq_master_key_t *k, const char *aad, const unsigned char *ct, size_t len,
                     const unsigned char nonce[LQ_BOX_NONCE_LEN],
                     const unsigned char tag[LQ_BOX_TAG_LEN], void *plain)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    unsigned char tagcopy[LQ_BOX_TAG_LEN];
    int n = 0, ok;

    if (!c || len > 1048576) {
        EVP_CIPHER_CTX_free(c);
        return LQ_ERR_INVALID;
    }
    memcpy(tagcopy, tag, sizeof(tagcopy));
    ok = EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, LQ_BOX_NONCE_LEN, NULL) == 1 &&
         EVP_DecryptInit_ex(c, NULL, NULL, k->key, nonce) == 1 &&
         EVP_DecryptUpdate(c, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
         EVP_DecryptUpdate(c, plain, &n, ct, (int)len) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, LQ_BOX_TAG_LEN, tagcopy) == 1 &&
         EVP_DecryptFinal_ex(c, (unsigned char *)plain + n, &n) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok)
        OPENSSL_cleanse(plain, len);
    return ok ? LQ_OK : LQ_ERR_INVALID;
}

void lq_mask_secret(const char *secret, char *out, size_t size)
{
    size_t n = strlen(secret);

    if (n <= 8)
        snprintf(out, size, "%.*s…", n > 2 ? 2 : (int)n, secret);
    else
        snprintf(out, size, "%.4s…%s", secret, secret + n - 2);
}

int lq_printable_token(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (*s <= ' ' || *s >= 127)
            return 0;
    return 1;
}

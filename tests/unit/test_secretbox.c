/* common/secretbox: AES-256-GCM round trips bound to their associated data, tampering
 * detected, master keys parsed from hex and base64, masking. */
#include <string.h>

#include "common/secretbox.h"
#include "testutil.h"

int main(void)
{
    lq_master_key_t k, k2, kb;
    char err[200], masked[32], plain[64];
    unsigned char ct[64], nonce[LQ_BOX_NONCE_LEN], nonce2[LQ_BOX_NONCE_LEN], tag[LQ_BOX_TAG_LEN];
    const char *secret = "sk-tenant-0123456789abcdef";
    size_t n = strlen(secret);

    CHECK_INT(
        lq_master_key_parse("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
                            &k, err, sizeof(err)),
        LQ_OK);
    CHECK_INT((int)strlen(k.id), 16);
    /* the same 32 bytes in base64 give the same key and id */
    CHECK_INT(
        lq_master_key_parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", &kb, err, sizeof(err)),
        LQ_OK);
    CHECK(memcmp(k.key, kb.key, 32) == 0);
    CHECK_STR(k.id, kb.id);
    CHECK(lq_master_key_parse("00010203", &k2, err, sizeof(err)) != LQ_OK);
    CHECK(strstr(err, "32 bytes") != NULL);
    CHECK(lq_master_key_parse("zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                              &k2, err, sizeof(err)) != LQ_OK);
    CHECK_INT(
        lq_master_key_parse("ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", &k2,
                            err, sizeof(err)),
        LQ_OK);
    CHECK(strcmp(k.id, k2.id) != 0);

    CHECK_INT(lq_box_seal(&k, "acme|openai|id1", secret, n, ct, nonce, tag), LQ_OK);
    CHECK(memcmp(ct, secret, n) != 0);
    memset(plain, 0, sizeof(plain));
    CHECK_INT(lq_box_open(&k, "acme|openai|id1", ct, n, nonce, tag, plain), LQ_OK);
    CHECK_STR(plain, secret);
    /* another row, another key, a flipped bit: it does not open */
    CHECK(lq_box_open(&k, "other|openai|id1", ct, n, nonce, tag, plain) != LQ_OK);
    CHECK(lq_box_open(&k2, "acme|openai|id1", ct, n, nonce, tag, plain) != LQ_OK);
    ct[3] ^= 1;
    CHECK(lq_box_open(&k, "acme|openai|id1", ct, n, nonce, tag, plain) != LQ_OK);
    ct[3] ^= 1;
    tag[0] ^= 0x80;
    CHECK(lq_box_open(&k, "acme|openai|id1", ct, n, nonce, tag, plain) != LQ_OK);
    /* a fresh nonce each time */
    CHECK_INT(lq_box_seal(&k, "a", secret, n, ct, nonce2, tag), LQ_OK);
    CHECK(memcmp(nonce, nonce2, sizeof(nonce)) != 0);

    lq_mask_secret(secret, masked, sizeof(masked));
    CHECK_STR(masked, "sk-t…ef");
    lq_mask_secret("abc", masked, sizeof(masked));
    CHECK_STR(masked, "ab…");
    lq_master_key_wipe(&k);
    CHECK(k.key[1] == 0 && k.id[0] == 0);
    TEST_DONE();
}

#include "ops/llmqctl/provider_keys.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/pg.h"
#include "common/secretbox.h"
#include "ops/llmqctl/db.h"

#define MAX_SECRET 512 /* the longest provider key stored */

/* A sealed key as the database stores it (hex). */
typedef struct sealed_hex {
    char nonce[2 * LQ_BOX_NONCE_LEN + 1];
    char tag[2 * LQ_BOX_TAG_LEN + 1];
    char ct[2 * MAX_SECRET + 1];
} sealed_hex_t;

static lq_err_t seal_hex(const lq_master_key_t *mk, const char *aad, const void *plain, size_t len,
                         sealed_hex_t *out)
{
    unsigned char nonce[LQ_BOX_NONCE_LEN], tag[LQ_BOX_TAG_LEN], ct[MAX_SECRET];

    if (len > sizeof(ct) || lq_box_seal(mk, aad, plain, len, ct, nonce, tag) != LQ_OK)
        return LQ_ERR_INVALID;
    lq_hex(out->ct, ct, len);
    lq_hex(out->nonce, nonce, sizeof(nonce));
    lq_hex(out->tag, tag, sizeof(tag));
    return LQ_OK;
}

/* The key from standard input (never the command line: it would be in the process list and
 * the shell's history). Its length, or 0 when it is not a key llmq can send. */
static size_t read_secret(char *key, size_t size)
{
    size_t len;

    if (!fgets(key, (int)size, stdin))
        key[0] = '\0';
    key[strcspn(key, "\r\n")] = '\0';
    len = strlen(key);
    return len <= MAX_SECRET && lq_printable_token(key) ? len : 0;
}

static int store_sealed(const ctl_call_t *c, const lq_master_key_t *mk, const char *id,
                        const sealed_hex_t *s, const char *masked)
{
    const char *params[9] = {"llmqctl", ctl_opt(c, "--tenant"),
                             id,        ctl_opt(c, "--endpoint"),
                             mk->id,    s->nonce,
                             s->ct,     s->tag,
                             masked};

    return ctl_admin_call(c->conn,
                          "SELECT admin_store_provider_key($1, $2, $3::uuid, $4, $5, $6,"
                          " $7, $8, $9)::text",
                          9, params, CTL_ADMIN_PRINT);
}

int ctl_provider_key_set(const ctl_call_t *c)
{
    char key[MAX_SECRET + 88], errstr[256], id[LQ_UUID_STR_LEN + 1], aad[256], masked[32];
    lq_master_key_t mk;
    sealed_hex_t s;
    size_t len;
    int rc = 1;

    if (lq_master_key_load(ctl_opt(c, "--master-key-file"), &mk, errstr, sizeof(errstr)))
        return ctl_fail(1, "%s", errstr);
    len = read_secret(key, sizeof(key));
    if (len == 0) {
        rc = ctl_fail(2,
                      "give the key (1 to %d printable characters, no spaces) on standard "
                      "input",
                      MAX_SECRET);
        goto out;
    }
    lq_uuid7(id, lq_wall_ms());
    /* the row's identity is sealed in: a ciphertext copied to another row does not open */
    snprintf(aad, sizeof(aad), "%s|%s|%s", ctl_opt(c, "--tenant"), ctl_opt(c, "--endpoint"), id);
    if (seal_hex(&mk, aad, key, len, &s) != LQ_OK) {
        rc = ctl_fail(1, "encryption failed");
        goto out;
    }
    lq_mask_secret(key, masked, sizeof(masked));
    rc = store_sealed(c, &mk, id, &s, masked);
out:
    OPENSSL_cleanse(key, sizeof(key));
    lq_master_key_wipe(&mk);
    return rc;
}

int ctl_provider_key_list(const ctl_call_t *c)
{
    const char *params[2] = {"llmqctl", ctl_opt(c, "--tenant")};

    return ctl_admin_call(c->conn, "SELECT admin_list_provider_keys($1, $2)::text", 2, params,
                          CTL_ADMIN_PRINT);
}

int ctl_provider_key_revoke(const ctl_call_t *c)
{
    const char *params[3] = {"llmqctl", ctl_opt(c, "--tenant"), c->pos};

    if (!lq_uuid_valid(c->pos))
        return ctl_fail(2, "provider-key revoke: %s is not a provider key id", c->pos);
    return ctl_admin_call(c->conn, "SELECT admin_revoke_provider_key($1, $2, $3::uuid)::text", 3,
                          params, CTL_ADMIN_PRINT);
}

/* Open row r of the rotation's query (tenant, endpoint, id, nonce, ciphertext, tag: hex) with
 * the old key; plain gets the key, *len its length. */
static lq_err_t open_row(PGresult *res, int r, const lq_master_key_t *oldk, const char *aad,
                         unsigned char *plain, size_t *len)
{
    unsigned char nonce[LQ_BOX_NONCE_LEN], tag[LQ_BOX_TAG_LEN], ct[MAX_SECRET];
    int n = lq_unhex(PQgetvalue(res, r, 4), ct, sizeof(ct));

    if (n <= 0 || lq_unhex(PQgetvalue(res, r, 3), nonce, sizeof(nonce)) != LQ_BOX_NONCE_LEN ||
        lq_unhex(PQgetvalue(res, r, 5), tag, sizeof(tag)) != LQ_BOX_TAG_LEN ||
        lq_box_open(oldk, aad, ct, (size_t)n, nonce, tag, plain) != LQ_OK)
        return LQ_ERR_INVALID;
    *len = (size_t)n;
    return LQ_OK;
}

static int store_rotated(PGconn *conn, PGresult *res, int r, const lq_master_key_t *newk,
                         const sealed_hex_t *s)
{
    const char *params[6] = {PQgetvalue(res, r, 2), newk->id, s->nonce, s->ct, s->tag,
                             PQgetvalue(res, r, 0)};
    PGresult *u = ctl_query(conn,
                            "WITH u AS (UPDATE provider_keys SET master_key_id = $2,"
                            " nonce = decode($3, 'hex'), ciphertext = decode($4, 'hex'),"
                            " tag = decode($5, 'hex') WHERE id = $1::uuid RETURNING endpoint)"
                            " SELECT audit_append($6, 'llmqctl', 'provider_key.rotate',"
                            " endpoint, jsonb_build_object('id', $1::text)) FROM u",
                            6, params);
    int rc = u ? 0 : 1;

    PQclear(u);
    return rc;
}

static int rotate_row(PGconn *conn, PGresult *res, int r, const lq_master_key_t *oldk,
                      const lq_master_key_t *newk)
{
    unsigned char plain[MAX_SECRET];
    char aad[256];
    sealed_hex_t s;
    size_t len = 0;
    lq_err_t err;

    snprintf(aad, sizeof(aad), "%s|%s|%s", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
             PQgetvalue(res, r, 2));
    err = open_row(res, r, oldk, aad, plain, &len);
    if (err == LQ_OK)
        err = seal_hex(newk, aad, plain, len, &s);
    OPENSSL_cleanse(plain, sizeof(plain));
    if (err != LQ_OK)
        return ctl_fail(1,
                        "provider key %s does not decrypt with the old master key; nothing "
                        "changed",
                        PQgetvalue(res, r, 2));
    return store_rotated(conn, res, r, newk, &s);
}

/* Every key under the old master key, in one transaction: all or nothing. */
static int rotate_all(PGconn *conn, const lq_master_key_t *oldk, const lq_master_key_t *newk)
{
    const char *params[1] = {oldk->id};
    char errstr[256];
    PGresult *res = NULL;
    int r, rc = 1;

    if (lq_pg_exec(conn, "BEGIN", errstr, sizeof(errstr)))
        return ctl_fail(1, "%s", errstr);
    res = ctl_query(conn,
                    "SELECT tenant_id, endpoint, id::text, encode(nonce, 'hex'),"
                    " encode(ciphertext, 'hex'), encode(tag, 'hex') FROM provider_keys"
                    " WHERE master_key_id = $1 FOR UPDATE",
                    1, params);
    if (!res)
        goto rollback;
    for (r = 0; r < PQntuples(res); r++)
        if (rotate_row(conn, res, r, oldk, newk))
            goto rollback;
    if (lq_pg_exec(conn, "COMMIT", errstr, sizeof(errstr))) {
        rc = ctl_fail(1, "%s", errstr);
        goto out;
    }
    printf("re-encrypted %d provider key(s) from master key %s to %s\n", PQntuples(res), oldk->id,
           newk->id);
    rc = 0;
    goto out;
rollback:
    lq_pg_exec(conn, "ROLLBACK", errstr, sizeof(errstr));
out:
    PQclear(res);
    return rc;
}

int ctl_provider_key_rotate(const ctl_call_t *c)
{
    lq_master_key_t oldk, newk;
    char errstr[256];
    int rc;

    if (lq_master_key_load(ctl_opt(c, "--old-key-file"), &oldk, errstr, sizeof(errstr)))
        return ctl_fail(1, "%s", errstr);
    if (lq_master_key_load(ctl_opt(c, "--new-key-file"), &newk, errstr, sizeof(errstr))) {
        lq_master_key_wipe(&oldk);
        return ctl_fail(1, "%s", errstr);
    }
    rc = rotate_all(c->conn, &oldk, &newk);
    lq_master_key_wipe(&oldk);
    lq_master_key_wipe(&newk);
    return rc;
}

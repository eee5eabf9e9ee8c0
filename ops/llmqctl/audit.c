#include "ops/llmqctl/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "ops/llmqctl/db.h"

/* The columns of the verification's query. */
enum {
    COL_TENANT,
    COL_SEQ,
    COL_TS,
    COL_ACTOR,
    COL_ACTION,
    COL_TARGET,
    COL_DETAILS,
    COL_PREV,
    COL_HASH
};

/* Where the walk through one tenant's chain is. */
typedef struct chain {
    char tenant[128];
    char prev[65];
    long long next_seq;
} chain_t;

int ctl_audit_list(const ctl_call_t *c)
{
    const char *params[2] = {ctl_opt(c, "--tenant"), ctl_opt_or(c, "--limit", "50")};

    return ctl_print_rows(c->conn,
                          "SELECT seq, to_timestamp(ts_us / 1e6) AS ts, actor, action,"
                          " target, details FROM audit_log WHERE tenant_id = $1"
                          " ORDER BY seq DESC LIMIT $2::int",
                          2, params);
}

/* The hash entry r must have: SHA-256 of prev_hash|tenant|seq|ts_us|actor|action|target|details,
 * computed here rather than trusting the database's. */
static lq_err_t entry_hash(PGresult *res, int r, char out[65])
{
    size_t len = 16;
    lq_err_t err;
    char *text;
    int col;

    for (col = COL_TENANT; col <= COL_PREV; col++)
        len += strlen(PQgetvalue(res, r, col));
    text = malloc(len);
    if (!text)
        return LQ_ERR_NOMEM;
    snprintf(text, len, "%s|%s|%s|%s|%s|%s|%s|%s", PQgetvalue(res, r, COL_PREV),
             PQgetvalue(res, r, COL_TENANT), PQgetvalue(res, r, COL_SEQ),
             PQgetvalue(res, r, COL_TS), PQgetvalue(res, r, COL_ACTOR),
             PQgetvalue(res, r, COL_ACTION), PQgetvalue(res, r, COL_TARGET),
             PQgetvalue(res, r, COL_DETAILS));
    err = lq_sha256_hex(out, text, strlen(text));
    free(text);
    return err;
}

/* Why entry r does not continue the chain, or NULL when it does. */
static const char *entry_break(PGresult *res, int r, const chain_t *ch, const char *hash)
{
    if (atoll(PQgetvalue(res, r, COL_SEQ)) != ch->next_seq)
        return "an entry is missing before it";
    if (strcmp(PQgetvalue(res, r, COL_PREV), ch->prev) != 0)
        return "it does not follow the entry before it";
    if (strcmp(PQgetvalue(res, r, COL_HASH), hash) != 0)
        return "its content does not match its hash";
    return NULL;
}

static void chain_start(chain_t *ch, const char *tenant)
{
    snprintf(ch->tenant, sizeof(ch->tenant), "%s", tenant);
    memset(ch->prev, '0', sizeof(ch->prev) - 1); /* a chain starts from zeros */
    ch->prev[sizeof(ch->prev) - 1] = '\0';
    ch->next_seq = 1;
}

static int verify_rows(PGresult *res)
{
    chain_t ch = {"\x01", "", 0}; /* a tenant no row has */
    long long chains = 0;
    const char *why;
    char hash[65];
    int r;

    for (r = 0; r < PQntuples(res); r++) {
        if (strcmp(PQgetvalue(res, r, COL_TENANT), ch.tenant) != 0) {
            chain_start(&ch, PQgetvalue(res, r, COL_TENANT));
            chains++;
        }
        if (entry_hash(res, r, hash) != LQ_OK)
            return ctl_fail(1, "out of memory");
        why = entry_break(res, r, &ch, hash);
        if (why) {
            printf("BROKEN: tenant \"%s\" entry %s (%s %s): %s\n", PQgetvalue(res, r, COL_TENANT),
                   PQgetvalue(res, r, COL_SEQ), PQgetvalue(res, r, COL_ACTION),
                   PQgetvalue(res, r, COL_TARGET), why);
            return 1;
        }
        snprintf(ch.prev, sizeof(ch.prev), "%s", PQgetvalue(res, r, COL_HASH));
        ch.next_seq++;
    }
    printf("audit log intact: %d entries in %lld chain(s)\n", PQntuples(res), chains);
    return 0;
}

/* Walk every hash chain of the audit log (or one tenant's). Exit 1 naming the first broken
 * entry. */
int ctl_audit_verify(const ctl_call_t *c)
{
    const char *params[1] = {ctl_opt(c, "--tenant")};
    PGresult *res = ctl_query(c->conn,
                              "SELECT tenant_id, seq, ts_us, actor, action, target, details::text,"
                              " prev_hash, hash FROM audit_log"
                              " WHERE $1::text IS NULL OR tenant_id = $1 ORDER BY tenant_id, seq",
                              1, params);
    int rc;

    if (!res)
        return 1;
    rc = verify_rows(res);
    PQclear(res);
    return rc;
}

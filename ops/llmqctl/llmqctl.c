/* llmqctl: the operator's command line. See docs/operations.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <openssl/crypto.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/secretbox.h"
#include "schemas/codec.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: llmqctl [--pg URL] [--brokers HOST:PORT] COMMAND ...\n"
            "\n"
            "  migrate                                   apply pending database migrations\n"
            "  tenant create ID [--name NAME] [--tier T] create a tenant (ID: a-z 0-9 _ -)\n"
            "  tenant list                               list tenants\n"
            "  tenant set ID [--tier T] [--limits JSON] [--name N]\n"
            "                                            change a tenant (limits: e.g. {\"rpm\":600})\n"
            "  tenant disable ID | tenant enable ID      stop (or restart) every key of a tenant\n"
            "  project create --tenant T ID [--name N]   create a project\n"
            "  project list --tenant T                   list a tenant's projects\n"
            "  project disable --tenant T ID             stop the project's keys\n"
            "  user create --tenant T ID [--role R] [--email E] [--name N]\n"
            "                                            R: viewer, developer (default), admin, owner\n"
            "  user list --tenant T                      list a tenant's users\n"
            "  user disable --tenant T ID                stop the user's keys\n"
            "  key create --tenant T [--role R] [--project P] [--user U] [--scopes chat,jobs,admin]\n"
            "             [--expires-in-days N] [--name N]\n"
            "                                            create an API key; prints it once\n"
            "                                            (R: viewer, developer, admin, owner, platform)\n"
            "  key list --tenant T                       list a tenant's keys (prefixes only)\n"
            "  key revoke [--tenant T] KEY_ID            revoke a key\n"
            "  provider-key set --tenant T --endpoint E  store the tenant's own key for an endpoint,\n"
            "                                            read from standard input (encrypted with\n"
            "                                            the master key: --master-key-file F or\n"
            "                                            LLMQ_MASTER_KEY)\n"
            "  provider-key list --tenant T              the tenant's provider keys, masked\n"
            "  provider-key revoke --tenant T ID         stop using a provider key\n"
            "  provider-key rotate --old-key-file F --new-key-file G\n"
            "                                            re-encrypt every provider key under a new\n"
            "                                            master key\n"
            "  policy set --tenant T [--project P] JSON  the prompt policy, e.g.\n"
            "                                            '{\"kinds\":{\"jwt\":\"allow\"},\"blocked_keywords\":[\"x\"]}'\n"
            "  policy show --tenant T                    the tenant's and its projects' policies\n"
            "  audit list --tenant T [--limit N]         the tenant's audit log, newest first\n"
            "  audit verify [--tenant T]                 check the audit log's hash chains; names\n"
            "                                            the first broken entry (exit 1)\n"
            "  topics create [--partitions N] [--prefix P]\n"
            "                                            create the Kafka topics (P.requests, ...)\n"
            "  dlq replay [--prefix P] [--max N] [--dry-run] [--group G]\n"
            "                                            send dead-lettered requests (P.requests.dlq)\n"
            "                                            back to P.requests as async jobs (G: the\n"
            "                                            group remembering progress, default\n"
            "                                            llmq-dlq-replay)\n"
            "\n"
            "PostgreSQL comes from --pg or LLMQ_PG_URL; Kafka from --brokers or\n"
            "LLMQ_KAFKA_BROKERS.\n");
}

static const char *arg_value(int argc, char **argv, const char *name)
{
    int i;

    for (i = 0; i < argc - 1; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

/* The first argument from argv[start] on that is neither an option nor an option's value. */
static const char *positional(int argc, char **argv, int start)
{
    int i;

    for (i = start; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0) {
            if (strcmp(argv[i], "--dry-run") != 0)
                i++; /* skip its value */
            continue;
        }
        return argv[i];
    }
    return NULL;
}

static int print_rows(PGresult *res)
{
    int r, c;

    for (c = 0; c < PQnfields(res); c++)
        printf("%s%s", c ? "\t" : "", PQfname(res, c));
    printf("\n");
    for (r = 0; r < PQntuples(res); r++) {
        for (c = 0; c < PQnfields(res); c++)
            printf("%s%s", c ? "\t" : "", PQgetisnull(res, r, c) ? "" : PQgetvalue(res, r, c));
        printf("\n");
    }
    return 0;
}

/* mode: 0 = a command that must change a row, 1 = print the rows, 2 = a command. */
static int exec_params(PGconn *conn, const char *sql, int n, const char *const *params,
                       int print)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "llmqctl: %s", PQerrorMessage(conn));
        rc = 1;
    } else if (print == 1) {
        print_rows(res);
    } else if (print == 0 && st == PGRES_COMMAND_OK && atoi(PQcmdTuples(res)) == 0) {
        fprintf(stderr, "llmqctl: nothing matched\n");
        rc = 1;
    }
    PQclear(res);
    return rc;
}

/* Run an admin function (SELECT fn(...)::text) and print its JSON; LQ409 ("exists") is
 * success when exists_ok. */
static int call_admin(PGconn *conn, const char *sql, int n, const char *const *params,
                      int exists_ok, char *out, size_t out_size)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    int rc = 0;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        if (exists_ok && state && !strcmp(state, "LQ409")) {
            fprintf(stderr, "llmqctl: %s (nothing changed)\n", msg ? msg : "exists");
        } else {
            fprintf(stderr, "llmqctl: %s\n", msg ? msg : PQerrorMessage(conn));
            rc = 1;
        }
    } else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        fprintf(stderr, "llmqctl: nothing matched\n");
        rc = 1;
    } else if (out) {
        snprintf(out, out_size, "%s", PQgetvalue(res, 0, 0));
    } else {
        printf("%s\n", PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return rc;
}

static int cmd_key_create(PGconn *conn, int argc, char **argv)
{
    const char *tenant = arg_value(argc, argv, "--tenant");
    const char *project = arg_value(argc, argv, "--project");
    const char *user = arg_value(argc, argv, "--user");
    const char *name = arg_value(argc, argv, "--name");
    const char *role = arg_value(argc, argv, "--role");
    const char *scopes = arg_value(argc, argv, "--scopes");
    const char *days = arg_value(argc, argv, "--expires-in-days");
    unsigned char raw[24];
    char hex[49], key[64], hash[65], id[LQ_UUID_STR_LEN + 1], prefix[16], scopes_s[128],
        expires[32], answer[1024];
    const char *params[11];

    if (!tenant) {
        fprintf(stderr, "llmqctl: key create needs --tenant ID\n");
        return 2;
    }
    if (lq_random_bytes(raw, sizeof(raw)) != LQ_OK) {
        fprintf(stderr, "llmqctl: no randomness available\n");
        return 1;
    }
    lq_hex(hex, raw, sizeof(raw));
    snprintf(key, sizeof(key), "llmq-%s", hex);
    snprintf(prefix, sizeof(prefix), "%.12s", key);
    lq_sha256_hex(hash, key, strlen(key));
    lq_uuid7(id, lq_wall_ms());
    snprintf(scopes_s, sizeof(scopes_s), "{%s}", scopes ? scopes : "");
    if (days)
        snprintf(expires, sizeof(expires), "%lld", (long long)(lq_wall_ms() / 1000 + atoll(days) * 86400));
    params[0] = "llmqctl";
    params[1] = tenant;
    params[2] = id;
    params[3] = project;
    params[4] = user;
    params[5] = name ? name : "";
    params[6] = role ? role : "developer";
    params[7] = scopes_s;
    params[8] = days ? expires : NULL;
    params[9] = prefix;
    params[10] = hash;
    if (call_admin(conn,
                   "SELECT admin_create_key($1, $2, $3::uuid, $4, $5, $6, $7, $8::text[],"
                   " to_timestamp($9::double precision), $10, $11)::text",
                   11, params, 0, answer, sizeof(answer)))
        return 1;
    printf("%s\n", key);
    fprintf(stderr, "key id %s (%s) for tenant %s: store the key now, it is not shown again\n", id,
            role ? role : "developer", tenant);
    return 0;
}

/* The key comes from standard input (never the command line: it would be in the
 * process list and the shell's history). */
static int cmd_provider_key_set(PGconn *conn, int argc, char **argv)
{
    const char *tenant = arg_value(argc, argv, "--tenant"), *endpoint = arg_value(argc, argv, "--endpoint");
    lq_master_key_t mk;
    char key[600], errstr[256], id[LQ_UUID_STR_LEN + 1], aad[256], masked[32],
        nonce_hex[2 * LQ_BOX_NONCE_LEN + 1], tag_hex[2 * LQ_BOX_TAG_LEN + 1], ct_hex[1100];
    unsigned char nonce[LQ_BOX_NONCE_LEN], tag[LQ_BOX_TAG_LEN], ct[512];
    const char *params[9];
    size_t len;
    int rc;

    if (!tenant || !endpoint) {
        fprintf(stderr, "llmqctl: provider-key set needs --tenant T --endpoint E (the key on stdin)\n");
        return 2;
    }
    if (lq_master_key_load(arg_value(argc, argv, "--master-key-file"), &mk, errstr, sizeof(errstr))) {
        fprintf(stderr, "llmqctl: %s\n", errstr);
        return 1;
    }
    if (!fgets(key, sizeof(key), stdin))
        key[0] = '\0';
    key[strcspn(key, "\r\n")] = '\0';
    len = strlen(key);
    if (len == 0 || len > sizeof(ct) || !lq_printable_token(key)) {
        fprintf(stderr, "llmqctl: give the key (1 to 512 printable characters, no spaces) on "
                "standard input\n");
        lq_master_key_wipe(&mk);
        return 2;
    }
    lq_uuid7(id, lq_wall_ms());
    snprintf(aad, sizeof(aad), "%s|%s|%s", tenant, endpoint, id);
    rc = lq_box_seal(&mk, aad, key, len, ct, nonce, tag) != LQ_OK;
    lq_mask_secret(key, masked, sizeof(masked));
    OPENSSL_cleanse(key, sizeof(key));
    if (rc) {
        lq_master_key_wipe(&mk);
        fprintf(stderr, "llmqctl: encryption failed\n");
        return 1;
    }
    lq_hex(ct_hex, ct, len);
    lq_hex(nonce_hex, nonce, sizeof(nonce));
    lq_hex(tag_hex, tag, sizeof(tag));
    params[0] = "llmqctl";
    params[1] = tenant;
    params[2] = id;
    params[3] = endpoint;
    params[4] = mk.id;
    params[5] = nonce_hex;
    params[6] = ct_hex;
    params[7] = tag_hex;
    params[8] = masked;
    rc = call_admin(conn, "SELECT admin_store_provider_key($1, $2, $3::uuid, $4, $5, $6, $7, $8, $9)::text",
                    9, params, 0, NULL, 0);
    lq_master_key_wipe(&mk);
    return rc;
}

/* Re-encrypt every provider key under the old master key with the new one, in one
 * transaction (all or nothing). */
static int cmd_provider_key_rotate(PGconn *conn, int argc, char **argv)
{
    lq_master_key_t oldk, newk;
    char errstr[256];
    PGresult *res;
    int r, rc = 1, moved = 0;

    if (!arg_value(argc, argv, "--old-key-file") || !arg_value(argc, argv, "--new-key-file")) {
        fprintf(stderr, "llmqctl: provider-key rotate needs --old-key-file F --new-key-file G\n");
        return 2;
    }
    if (lq_master_key_load(arg_value(argc, argv, "--old-key-file"), &oldk, errstr, sizeof(errstr)) ||
        lq_master_key_load(arg_value(argc, argv, "--new-key-file"), &newk, errstr, sizeof(errstr))) {
        fprintf(stderr, "llmqctl: %s\n", errstr);
        return 1;
    }
    if (lq_pg_exec(conn, "BEGIN", errstr, sizeof(errstr)))
        goto out;
    {
        const char *params[1] = {oldk.id};
        res = PQexecParams(conn, "SELECT tenant_id, endpoint, id::text, encode(nonce, 'hex'),"
                                 " encode(ciphertext, 'hex'), encode(tag, 'hex') FROM provider_keys"
                                 " WHERE master_key_id = $1 FOR UPDATE", 1, NULL, params, NULL, NULL, 0);
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "llmqctl: %s", PQerrorMessage(conn));
        PQclear(res);
        goto rollback;
    }
    for (r = 0; r < PQntuples(res); r++) {
        unsigned char nonce[LQ_BOX_NONCE_LEN], tag[LQ_BOX_TAG_LEN], ct[512], plain[512];
        char aad[256], nonce_hex[2 * LQ_BOX_NONCE_LEN + 1], tag_hex[2 * LQ_BOX_TAG_LEN + 1],
            ct_hex[1100];
        const char *params[6];
        int n;
        PGresult *u;
        snprintf(aad, sizeof(aad), "%s|%s|%s", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
                 PQgetvalue(res, r, 2));
        if (lq_unhex(PQgetvalue(res, r, 3), nonce, sizeof(nonce)) != LQ_BOX_NONCE_LEN ||
            lq_unhex(PQgetvalue(res, r, 5), tag, sizeof(tag)) != LQ_BOX_TAG_LEN ||
            (n = lq_unhex(PQgetvalue(res, r, 4), ct, sizeof(ct))) <= 0 ||
            lq_box_open(&oldk, aad, ct, (size_t)n, nonce, tag, plain) != LQ_OK ||
            lq_box_seal(&newk, aad, plain, (size_t)n, ct, nonce, tag) != LQ_OK) {
            fprintf(stderr, "llmqctl: provider key %s does not decrypt with the old master key; "
                    "nothing changed\n", PQgetvalue(res, r, 2));
            OPENSSL_cleanse(plain, sizeof(plain));
            PQclear(res);
            goto rollback;
        }
        OPENSSL_cleanse(plain, sizeof(plain));
        lq_hex(ct_hex, ct, (size_t)n);
        lq_hex(nonce_hex, nonce, sizeof(nonce));
        lq_hex(tag_hex, tag, sizeof(tag));
        params[0] = PQgetvalue(res, r, 2);
        params[1] = newk.id;
        params[2] = nonce_hex;
        params[3] = ct_hex;
        params[4] = tag_hex;
        params[5] = PQgetvalue(res, r, 0);
        u = PQexecParams(conn, "WITH u AS (UPDATE provider_keys SET master_key_id = $2,"
                               " nonce = decode($3, 'hex'), ciphertext = decode($4, 'hex'),"
                               " tag = decode($5, 'hex') WHERE id = $1::uuid RETURNING endpoint)"
                               " SELECT audit_append($6, 'llmqctl', 'provider_key.rotate', endpoint,"
                               " jsonb_build_object('id', $1::text)) FROM u", 6, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(u) != PGRES_TUPLES_OK) {
            fprintf(stderr, "llmqctl: %s", PQerrorMessage(conn));
            PQclear(u);
            PQclear(res);
            goto rollback;
        }
        PQclear(u);
        moved++;
    }
    PQclear(res);
    if (lq_pg_exec(conn, "COMMIT", errstr, sizeof(errstr))) {
        fprintf(stderr, "llmqctl: %s\n", errstr);
        goto out;
    }
    printf("re-encrypted %d provider key(s) from master key %s to %s\n", moved, oldk.id, newk.id);
    rc = 0;
    goto out;
rollback:
    lq_pg_exec(conn, "ROLLBACK", errstr, sizeof(errstr));
out:
    lq_master_key_wipe(&oldk);
    lq_master_key_wipe(&newk);
    return rc;
}

/* Walk every hash chain of the audit log (or one tenant's), recomputing each entry's hash
 * here, independently of the database. Exit 1 naming the first broken entry. */
static int cmd_audit_verify(PGconn *conn, const char *tenant)
{
    const char *params[1] = {tenant};
    PGresult *res = PQexecParams(conn,
                                 "SELECT tenant_id, seq, ts_us, actor, action, target, details::text,"
                                 " prev_hash, hash FROM audit_log WHERE $1::text IS NULL OR tenant_id = $1"
                                 " ORDER BY tenant_id, seq",
                                 1, NULL, params, NULL, NULL, 0);
    char prev[65] = "", cur_tenant[128] = "\x01", expect_hash[65];
    long long expect_seq = 0, entries = 0, chains = 0;
    int r, rc = 0;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "llmqctl: %s", PQerrorMessage(conn));
        PQclear(res);
        return 1;
    }
    for (r = 0; r < PQntuples(res); r++) {
        const char *t = PQgetvalue(res, r, 0), *seq = PQgetvalue(res, r, 1);
        const char *row_prev = PQgetvalue(res, r, 7), *row_hash = PQgetvalue(res, r, 8);
        size_t len;
        char *text;
        if (strcmp(t, cur_tenant) != 0) { /* a new chain starts from zeros */
            snprintf(cur_tenant, sizeof(cur_tenant), "%s", t);
            memset(prev, '0', 64);
            prev[64] = '\0';
            expect_seq = 1;
            chains++;
        }
        len = strlen(prev) + strlen(t) + strlen(seq) + strlen(PQgetvalue(res, r, 2)) +
              strlen(PQgetvalue(res, r, 3)) + strlen(PQgetvalue(res, r, 4)) +
              strlen(PQgetvalue(res, r, 5)) + strlen(PQgetvalue(res, r, 6)) + 16;
        text = malloc(len);
        if (!text) {
            rc = 1;
            break;
        }
        snprintf(text, len, "%s|%s|%s|%s|%s|%s|%s|%s", row_prev, t, seq, PQgetvalue(res, r, 2),
                 PQgetvalue(res, r, 3), PQgetvalue(res, r, 4), PQgetvalue(res, r, 5),
                 PQgetvalue(res, r, 6));
        lq_sha256_hex(expect_hash, text, strlen(text));
        free(text);
        if (atoll(seq) != expect_seq || strcmp(row_prev, prev) != 0 ||
            strcmp(row_hash, expect_hash) != 0) {
            printf("BROKEN: tenant \"%s\" entry %s (%s %s): %s\n", t, seq, PQgetvalue(res, r, 4),
                   PQgetvalue(res, r, 5),
                   atoll(seq) != expect_seq ? "an entry is missing before it"
                   : strcmp(row_prev, prev) != 0 ? "it does not follow the entry before it"
                                                  : "its content does not match its hash");
            rc = 1;
            break;
        }
        snprintf(prev, sizeof(prev), "%s", row_hash);
        expect_seq++;
        entries++;
    }
    PQclear(res);
    if (!rc)
        printf("audit log intact: %lld entries in %lld chain(s)\n", entries, chains);
    return rc;
}

static int cmd_topics_create(int argc, char **argv, const char *brokers)
{
    const char *parts_s = arg_value(argc, argv, "--partitions");
    const char *prefix = arg_value(argc, argv, "--prefix");
    int parts = parts_s ? atoi(parts_s) : 8;
    char n[6][256];
    const char *names[6] = {n[0], n[1], n[2], n[3], n[4], n[5]};
    /* cancels is co-partitioned with requests: the worker that owns a tenant's partition
     * of one owns it in the other (range assignment), so it sees that tenant's cancels */
    static const char *const suffixes[6] = {"requests", "responses", "usage", "traces",
                                            "requests.dlq", "cancels"};
    int k;
    int partitions[] = {parts, parts, parts, parts, 1, parts};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    rd_kafka_t *rk;
    int rc = 0;

    if (parts < 1) {
        fprintf(stderr, "llmqctl: --partitions must be at least 1\n");
        return 2;
    }
    for (k = 0; k < 6; k++)
        snprintf(n[k], sizeof(n[k]), "%s.%s", prefix ? prefix : "llmq", suffixes[k]);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr))) {
        fprintf(stderr, "llmqctl: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "llmqctl: %s\n", errstr);
        return 1;
    }
    if (lq_kafka_create_topics(rk, names, partitions, 6, NULL, 15000, errstr, sizeof(errstr))) {
        fprintf(stderr, "llmqctl: %s\n", errstr);
        rc = 1;
    } else {
        printf("topics ready: %s, %s, %s, %s, %s (%d partitions), %s\n", n[0], n[5], n[1], n[2],
               n[3], parts, n[4]);
    }
    rd_kafka_destroy(rk);
    return rc;
}

/* Replay the dead-letter topic: every request not replayed yet (the consumer group
 * llmq-dlq-replay remembers where it stopped) goes back to the requests topic as an async
 * job with its replay counter raised; the group's offsets are committed only after Kafka
 * acknowledged the copies. */
static int cmd_dlq_replay(int argc, char **argv, const char *brokers)
{
    const char *prefix = arg_value(argc, argv, "--prefix"), *max_s = arg_value(argc, argv, "--max");
    const char *group = arg_value(argc, argv, "--group");
    int dry_run = 0, i;
    long max = max_s ? atol(max_s) : -1;
    char dlq[256], requests[256], errstr[512];
    rd_kafka_conf_t *cc = rd_kafka_conf_new(), *pc = rd_kafka_conf_new();
    rd_kafka_t *consumer = NULL, *producer = NULL;
    rd_kafka_topic_partition_list_t *subs;
    lq_codec_t *codec = NULL;
    long replayed = 0, skipped = 0, failed = 0;
    int64_t idle_until;
    int rc = 1;

    for (i = 0; i < argc; i++)
        dry_run |= strcmp(argv[i], "--dry-run") == 0;
    snprintf(dlq, sizeof(dlq), "%s.requests.dlq", prefix ? prefix : "llmq");
    snprintf(requests, sizeof(requests), "%s.requests", prefix ? prefix : "llmq");
    if (rd_kafka_conf_set(cc, "bootstrap.servers", brokers, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(cc, "group.id", group ? group : "llmq-dlq-replay", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(cc, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(cc, "auto.offset.reset", "earliest", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(pc, "bootstrap.servers", brokers, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(pc, "enable.idempotence", "true", errstr, sizeof(errstr))) {
        fprintf(stderr, "llmqctl: %s\n", errstr);
        rd_kafka_conf_destroy(cc);
        rd_kafka_conf_destroy(pc);
        return 2;
    }
    if (lq_codec_create(&codec, errstr, sizeof(errstr))) {
        fprintf(stderr, "llmqctl: %s\n", errstr);
        rd_kafka_conf_destroy(cc);
        rd_kafka_conf_destroy(pc);
        return 1;
    }
    consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, sizeof(errstr));
    if (!consumer)
        rd_kafka_conf_destroy(cc);
    producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof(errstr));
    if (!producer)
        rd_kafka_conf_destroy(pc);
    if (!consumer || !producer) {
        fprintf(stderr, "llmqctl: %s\n", errstr);
        goto out;
    }
    rd_kafka_poll_set_consumer(consumer);
    subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, dlq, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(consumer, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    /* read until the topic has been quiet for a while (joining the group takes seconds) */
    idle_until = lq_mono_ms() + 15000;
    while (lq_mono_ms() < idle_until && (max < 0 || replayed + skipped < max)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 200);
        lq_chat_request_t req;
        const void *buf;
        size_t len;
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "llmqctl: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        idle_until = lq_mono_ms() + 3000;
        if (lq_decode_chat_request(codec, m->payload, m->len, &req, errstr, sizeof(errstr))) {
            fprintf(stderr, "skip p%d@%lld: not a request llmq can read (%s)\n", m->partition,
                    (long long)m->offset, errstr);
            skipped++;
            rd_kafka_message_destroy(m);
            continue;
        }
        /* the original caller of a sync or streaming request is gone: run it as a job */
        req.attempt++;
        req.mode = LQ_MODE_ASYNC;
        free(req.reply_topic);
        req.reply_topic = NULL;
        req.deadline_ms = 0;
        printf("%s %s tenant %s model %s (replay %d)\n", dry_run ? "would replay" : "replay",
               req.job_id, req.tenant_id, req.model, req.attempt);
        if (!dry_run) {
            if (lq_encode_chat_request(codec, &req, &buf, &len, errstr, sizeof(errstr)) ||
                rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(requests),
                                  RD_KAFKA_V_KEY(req.tenant_id, strlen(req.tenant_id)),
                                  RD_KAFKA_V_VALUE((void *)buf, len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) {
                fprintf(stderr, "llmqctl: cannot replay %s\n", req.job_id);
                failed++;
            }
        }
        replayed++;
        lq_chat_request_clear(&req);
        rd_kafka_message_destroy(m);
    }
    if (dry_run) {
        printf("%ld request(s) would be replayed, %ld unreadable; nothing changed\n", replayed, skipped);
        rc = 0;
        goto out;
    }
    if (rd_kafka_flush(producer, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR || failed) {
        fprintf(stderr, "llmqctl: not every replay reached Kafka; offsets not committed (run again)\n");
        goto out;
    }
    if (replayed + skipped > 0) {
        rd_kafka_resp_err_t e = rd_kafka_commit(consumer, NULL, 0);
        if (e) {
            fprintf(stderr, "llmqctl: commit: %s\n", rd_kafka_err2str(e));
            goto out;
        }
    }
    printf("replayed %ld request(s) from %s to %s; %ld unreadable skipped\n", replayed, dlq,
           requests, skipped);
    rc = 0;
out:
    if (consumer) {
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
    }
    if (producer)
        rd_kafka_destroy(producer);
    lq_codec_destroy(codec);
    return rc;
}

int main(int argc, char **argv)
{
    const char *pg = getenv("LLMQ_PG_URL"), *brokers = getenv("LLMQ_KAFKA_BROKERS");
    PGconn *conn = NULL;
    char errstr[512];
    int i = 1, rc = 2;

    lq_log_setup("llmqctl", "warn", 0);
    while (i < argc && strncmp(argv[i], "--", 2) == 0) {
        if (!strcmp(argv[i], "--pg") && i + 1 < argc) {
            pg = argv[i + 1];
            i += 2;
        } else if (!strcmp(argv[i], "--brokers") && i + 1 < argc) {
            brokers = argv[i + 1];
            i += 2;
        } else if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    argc -= i;
    argv += i;
    if (!strcmp(argv[0], "topics") && argc >= 2 && !strcmp(argv[1], "create"))
        return cmd_topics_create(argc, argv, brokers ? brokers : "127.0.0.1:9092");
    if (!strcmp(argv[0], "dlq") && argc >= 2 && !strcmp(argv[1], "replay"))
        return cmd_dlq_replay(argc, argv, brokers ? brokers : "127.0.0.1:9092");

    if (lq_pg_connect(pg ? pg : "postgresql:///llmq", "llmqctl", &conn, errstr, sizeof(errstr))) {
        fprintf(stderr, "llmqctl: %s\n", errstr);
        return 1;
    }
    if (!strcmp(argv[0], "migrate")) {
        int applied = 0;
        if (lq_migrations_apply(conn, &applied, errstr, sizeof(errstr))) {
            fprintf(stderr, "llmqctl: %s\n", errstr);
            rc = 1;
        } else {
            printf("migrations: %d applied, %u known\n", applied, lq_migrations_count());
            rc = 0;
        }
    } else if (!strcmp(argv[0], "tenant") && argc >= 3 && !strcmp(argv[1], "create")) {
        const char *params[4] = {"llmqctl", argv[2], arg_value(argc, argv, "--name"),
                                 arg_value(argc, argv, "--tier")};
        char answer[1024];
        rc = call_admin(conn, "SELECT admin_create_tenant($1, $2, $3, $4)::text", 4, params, 1,
                        answer, sizeof(answer));
        if (rc == 0)
            printf("tenant %s\n", argv[2]);
    } else if (!strcmp(argv[0], "tenant") && argc >= 2 && !strcmp(argv[1], "list")) {
        rc = exec_params(conn, "SELECT id, name, tier, limits, disabled, created_at FROM tenants"
                         " ORDER BY id", 0, NULL, 1);
    } else if (!strcmp(argv[0], "tenant") && argc >= 3 &&
               (!strcmp(argv[1], "set") || !strcmp(argv[1], "disable") || !strcmp(argv[1], "enable"))) {
        const char *tier = arg_value(argc, argv, "--tier"), *limits = arg_value(argc, argv, "--limits");
        const char *name = arg_value(argc, argv, "--name");
        const char *params[6] = {"llmqctl", argv[2], name, tier, limits,
                                 !strcmp(argv[1], "disable") ? "true"
                                 : !strcmp(argv[1], "enable") ? "false" : NULL};
        rc = call_admin(conn,
                        "SELECT admin_update_tenant($1, $2, jsonb_strip_nulls(jsonb_build_object("
                        "'name', $3::text, 'tier', $4::text, 'limits', $5::jsonb,"
                        " 'disabled', $6::boolean)))::text",
                        6, params, 0, NULL, 0);
    } else if (!strcmp(argv[0], "project") && argc >= 3 && !strcmp(argv[1], "create")) {
        const char *params[4] = {"llmqctl", arg_value(argc, argv, "--tenant"), positional(argc, argv, 2),
                                 arg_value(argc, argv, "--name")};
        rc = params[1] ? call_admin(conn, "SELECT admin_create_project($1, $2, $3, $4)::text", 4,
                                    params, 0, NULL, 0)
                       : 2;
    } else if (!strcmp(argv[0], "project") && argc >= 2 && !strcmp(argv[1], "list")) {
        const char *params[1] = {arg_value(argc, argv, "--tenant")};
        rc = params[0] ? exec_params(conn, "SELECT id, name, disabled, created_at FROM projects"
                                     " WHERE tenant_id = $1 ORDER BY id", 1, params, 1)
                       : 2;
    } else if (!strcmp(argv[0], "project") && argc >= 3 && !strcmp(argv[1], "disable")) {
        const char *params[3] = {"llmqctl", arg_value(argc, argv, "--tenant"), positional(argc, argv, 2)};
        rc = params[1] ? call_admin(conn, "SELECT admin_update_project($1, $2, $3,"
                                    " '{\"disabled\": true}')::text", 3, params, 0, NULL, 0)
                       : 2;
    } else if (!strcmp(argv[0], "user") && argc >= 3 && !strcmp(argv[1], "create")) {
        const char *role = arg_value(argc, argv, "--role");
        const char *params[6] = {"llmqctl", arg_value(argc, argv, "--tenant"), positional(argc, argv, 2),
                                 arg_value(argc, argv, "--email"), arg_value(argc, argv, "--name"),
                                 role ? role : "developer"};
        rc = params[1] ? call_admin(conn, "SELECT admin_create_user($1, $2, $3, $4, $5, $6)::text",
                                    6, params, 0, NULL, 0)
                       : 2;
    } else if (!strcmp(argv[0], "user") && argc >= 2 && !strcmp(argv[1], "list")) {
        const char *params[1] = {arg_value(argc, argv, "--tenant")};
        rc = params[0] ? exec_params(conn, "SELECT id, email, name, role, disabled, created_at"
                                     " FROM users WHERE tenant_id = $1 ORDER BY id", 1, params, 1)
                       : 2;
    } else if (!strcmp(argv[0], "user") && argc >= 3 && !strcmp(argv[1], "disable")) {
        const char *params[4] = {"llmqctl", "platform", arg_value(argc, argv, "--tenant"),
                                 positional(argc, argv, 2)};
        rc = params[2] ? call_admin(conn, "SELECT admin_update_user($1, $2, $3, $4,"
                                    " '{\"disabled\": true}')::text", 4, params, 0, NULL, 0)
                       : 2;
    } else if (!strcmp(argv[0], "provider-key") && argc >= 2 && !strcmp(argv[1], "set")) {
        rc = cmd_provider_key_set(conn, argc, argv);
    } else if (!strcmp(argv[0], "provider-key") && argc >= 2 && !strcmp(argv[1], "list")) {
        const char *params[2] = {"llmqctl", arg_value(argc, argv, "--tenant")};
        rc = params[1] ? call_admin(conn, "SELECT admin_list_provider_keys($1, $2)::text", 2, params,
                                    0, NULL, 0)
                       : 2;
    } else if (!strcmp(argv[0], "provider-key") && argc >= 3 && !strcmp(argv[1], "revoke")) {
        const char *params[3] = {"llmqctl", arg_value(argc, argv, "--tenant"), positional(argc, argv, 2)};
        rc = params[1] && params[2] && lq_uuid_valid(params[2])
                 ? call_admin(conn, "SELECT admin_revoke_provider_key($1, $2, $3::uuid)::text", 3,
                              params, 0, NULL, 0)
                 : 2;
    } else if (!strcmp(argv[0], "provider-key") && argc >= 2 && !strcmp(argv[1], "rotate")) {
        rc = cmd_provider_key_rotate(conn, argc, argv);
    } else if (!strcmp(argv[0], "policy") && argc >= 3 && !strcmp(argv[1], "set")) {
        const char *params[4] = {"llmqctl", arg_value(argc, argv, "--tenant"),
                                 arg_value(argc, argv, "--project"), positional(argc, argv, 2)};
        rc = params[1] && params[3] ? call_admin(conn, "SELECT admin_set_policy($1, $2, $3, $4::jsonb)::text",
                                                 4, params, 0, NULL, 0)
                                    : 2;
    } else if (!strcmp(argv[0], "policy") && argc >= 2 && !strcmp(argv[1], "show")) {
        const char *params[1] = {arg_value(argc, argv, "--tenant")};
        rc = params[0] ? exec_params(conn, "SELECT '' AS project, policy FROM tenants WHERE id = $1"
                                     " UNION ALL SELECT id, policy FROM projects"
                                     " WHERE tenant_id = $1 AND policy IS NOT NULL", 1, params, 1)
                       : 2;
    } else if (!strcmp(argv[0], "audit") && argc >= 2 && !strcmp(argv[1], "list")) {
        const char *limit = arg_value(argc, argv, "--limit");
        const char *params[2] = {arg_value(argc, argv, "--tenant"), limit ? limit : "50"};
        rc = params[0] ? exec_params(conn, "SELECT seq, to_timestamp(ts_us / 1e6) AS ts, actor,"
                                     " action, target, details FROM audit_log WHERE tenant_id = $1"
                                     " ORDER BY seq DESC LIMIT $2::int", 2, params, 1)
                       : 2;
    } else if (!strcmp(argv[0], "audit") && argc >= 2 && !strcmp(argv[1], "verify")) {
        rc = cmd_audit_verify(conn, arg_value(argc, argv, "--tenant"));
    } else if (!strcmp(argv[0], "key") && argc >= 2 && !strcmp(argv[1], "create")) {
        rc = cmd_key_create(conn, argc, argv);
    } else if (!strcmp(argv[0], "key") && argc >= 2 && !strcmp(argv[1], "list")) {
        const char *tenant = arg_value(argc, argv, "--tenant");
        const char *params[1] = {tenant};
        if (!tenant) {
            fprintf(stderr, "llmqctl: key list needs --tenant ID\n");
        } else {
            rc = exec_params(conn,
                             "SELECT id, key_prefix || '…' AS key, role, project_id, user_id, name,"
                             " scopes, created_at, expires_at, revoked_at FROM api_keys"
                             " WHERE tenant_id = $1 ORDER BY created_at",
                             1, params, 1);
        }
    } else if (!strcmp(argv[0], "key") && argc >= 3 && !strcmp(argv[1], "revoke")) {
        const char *params[3] = {"llmqctl", arg_value(argc, argv, "--tenant"), positional(argc, argv, 2)};
        if (!params[2] || !lq_uuid_valid(params[2])) {
            fprintf(stderr, "llmqctl: key revoke needs a key id\n");
        } else {
            rc = call_admin(conn,
                            "SELECT admin_revoke_key($1, 'platform', coalesce($2,"
                            " (SELECT tenant_id FROM api_keys WHERE id = $3::uuid)), $3::uuid)::text",
                            3, params, 0, NULL, 0);
        }
    } else {
        usage(stderr);
    }
    PQfinish(conn);
    return rc;
}

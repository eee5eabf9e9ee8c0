/* The batch runner: a thread of each ingest node that takes batches under a lease, turns
 * their lines into jobs on topic.batch, and finalizes them when every job has ended.
 *
 * Crash safety: a slice of lines becomes items in PostgreSQL (with their job ids) before any
 * of its jobs is produced, and lines_queued moves past the slice only once Kafka acknowledged
 * all of them. A runner that dies in between leaves the slice to the next holder, which
 * reads those lines again and produces them with the job ids stored: no line is lost, and a
 * job produced twice has one id (its result and usage are stored once). */
#include "ingest/batch_runner.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/pg.h"
#include "ingest/batch_lines.h"
#include "schemas/codec.h"

#define LEASE_MS         30000
#define CLAIM_MAX        8
#define STEP_BYTES_MAX   (16 * 1024 * 1024) /* line bytes per step at most */
#define FLUSH_TIMEOUT_MS 20000
#define ENDPOINT         "/v1/chat/completions"

/* A batch's input being read: the last chunk fed and the lines taken. Kept between steps, so
 * a file is read once; read again from the start when the batch stands before it (a step that
 * failed, a batch taken over from another node). */
typedef struct cursor {
    char id[64];
    int seq; /* the last chunk fed (-1: none) */
    ingest_line_reader_t rd;
    int64_t used_ms;
} cursor_t;

struct ingest_batch_runner {
    ingest_node_t *node;
    rd_kafka_t *producer;
    PGconn *conn;
    pthread_t thread;
    atomic_int stopping;
    atomic_int failed_deliveries; /* of the step under way */
    lq_metric_t *m_lines, *m_invalid, *m_finalized;
    cursor_t cursors[CLAIM_MAX]; /* the runner thread's only */
};

/* One batch as batch_claim answers it. */
typedef struct batch {
    json_t *row;
    const char *id, *tenant, *status, *file;
    int lines_read, lines_queued, input_done, cancel_due;
    ingest_policy_t policy;
} batch_t;

/* A slice of lines read: the requests of the valid ones, by line. */
typedef struct slice {
    json_t *items; /* [{line, custom_id, job_id, error}] for batch_items_add */
    lq_chat_request_t *reqs;
    int *lines;
    size_t n, cap;
    size_t bytes;
    int last_line, eof;
} slice_t;

static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    ingest_batch_runner_t *r = opaque;

    (void)rk;
    if (m->err) {
        LQ_WARN("a batch job was not stored in Kafka: %s", rd_kafka_err2str(m->err));
        atomic_fetch_add(&r->failed_deliveries, 1);
    }
}

/* ---------- the database ---------- */

/* Run a statement answering one JSON value ($n text parameters); NULL on failure (logged). */
static json_t *call_json(ingest_batch_runner_t *r, const char *sql, int n, const char *const *p)
{
    PGresult *res;
    json_t *out = NULL;

    if (!r->conn || PQstatus(r->conn) != CONNECTION_OK) {
        char errstr[256];
        if (r->conn)
            PQfinish(r->conn);
        r->conn = NULL;
        if (lq_pg_connect(r->node->set.common.pg.url, "llmq-ingest-batches", &r->conn, errstr,
                          sizeof(errstr)) != LQ_OK)
            return NULL;
    }
    res = PQexecParams(r->conn, sql, n, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        out = PQgetisnull(res, 0, 0) ? json_null()
                                     : json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, NULL);
    } else if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        LQ_WARN("batch runner: %s", PQresultErrorMessage(res));
    }
    PQclear(res);
    return out;
}

/* The chunk after seq `after` of a file (raw bytes, into *out): 1, 0 at the end, -1 failed. */
static int next_chunk(ingest_batch_runner_t *r, const char *file, int after, int *seq, char **out,
                      size_t *len)
{
    char a[16];
    const char *p[2] = {file, a};
    int fmt[2] = {0, 0}, rc = -1;
    PGresult *res;

    snprintf(a, sizeof(a), "%d", after);
    res = PQexecParams(r->conn,
                       "SELECT seq, data FROM file_chunks WHERE file_id = $1 AND seq > $2::int"
                       " ORDER BY seq LIMIT 1",
                       2, NULL, p, NULL, fmt, 1);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        rc = PQntuples(res) == 1;
        if (rc) {
            const char *s = PQgetvalue(res, 0, 0); /* int4, binary: big-endian */
            *seq = (int)(((unsigned)(unsigned char)s[0] << 24) |
                         ((unsigned)(unsigned char)s[1] << 16) |
                         ((unsigned)(unsigned char)s[2] << 8) | (unsigned)(unsigned char)s[3]);
            *len = (size_t)PQgetlength(res, 0, 1);
            *out = malloc(*len ? *len : 1);
            if (*out)
                memcpy(*out, PQgetvalue(res, 0, 1), *len);
            else
                rc = -1;
        }
    } else {
        LQ_WARN("batch runner: reading %s: %s", file, PQresultErrorMessage(res));
    }
    PQclear(res);
    return rc;
}

/* ---------- where each batch's reading stands ---------- */

static void cursor_reset(cursor_t *cur, const char *id, size_t max_line)
{
    ingest_line_reader_free(&cur->rd);
    snprintf(cur->id, sizeof(cur->id), "%s", id);
    cur->seq = -1;
    ingest_line_reader_init(&cur->rd, max_line);
}

/* The cursor of batch id, standing at or before line `after` (0: the start): read_slice skips
 * to it. */
static cursor_t *cursor_for(ingest_batch_runner_t *r, const char *id, int after, size_t max_line)
{
    cursor_t *cur = &r->cursors[0];
    size_t i;

    for (i = 0; i < CLAIM_MAX; i++) {
        if (strcmp(r->cursors[i].id, id) == 0) {
            cur = &r->cursors[i];
            break;
        }
        if (r->cursors[i].used_ms < cur->used_ms)
            cur = &r->cursors[i];
    }
    if (strcmp(cur->id, id) != 0 || cur->rd.line > after)
        cursor_reset(cur, id, max_line);
    cur->used_ms = lq_mono_ms();
    return cur;
}

/* The next line of the cursor's file (fetching chunks as needed): 1, 0 at the end, -1 when
 * the file cannot be read. */
static int next_line(ingest_batch_runner_t *r, cursor_t *cur, const char *file, const char **line,
                     size_t *len, int *too_long)
{
    for (;;) {
        char *data = NULL;
        size_t n = 0;
        int seq = 0, rc;

        if (ingest_line_reader_next(&cur->rd, line, len, too_long))
            return 1;
        if (cur->rd.eof)
            return 0;
        rc = next_chunk(r, file, cur->seq, &seq, &data, &n);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            cur->rd.eof = 1;
            continue;
        }
        cur->seq = seq;
        rc = ingest_line_reader_feed(&cur->rd, data, n);
        free(data);
        if (rc)
            return -1;
    }
}

/* ---------- a slice of lines ---------- */

static void slice_free(slice_t *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        lq_chat_request_clear(&s->reqs[i]);
    free(s->reqs);
    free(s->lines);
    json_decref(s->items);
    memset(s, 0, sizeof(*s));
}

static int slice_push(slice_t *s, int line, lq_chat_request_t *req)
{
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 256;
        lq_chat_request_t *nr = realloc(s->reqs, ncap * sizeof(*nr));
        int *nl;
        if (!nr)
            return -1;
        s->reqs = nr;
        nl = realloc(s->lines, ncap * sizeof(*nl));
        if (!nl)
            return -1;
        s->lines = nl;
        s->cap = ncap;
    }
    s->reqs[s->n] = *req;
    s->lines[s->n++] = line;
    return 0;
}

/* One line into the slice: an item, and a request when it is valid. */
static int take_line(ingest_batch_runner_t *r, const batch_t *b, slice_t *s, int line_no,
                     const char *line, size_t len, int too_long)
{
    char custom_id[INGEST_CUSTOM_ID_MAX + 1] = "", job[LQ_UUID_STR_LEN + 1];
    ingest_line_error_t err;
    lq_chat_request_t req;
    json_t *item;
    int bad;

    memset(&req, 0, sizeof(req));
    if (too_long) {
        snprintf(err.code, sizeof(err.code), "request_too_large");
        snprintf(err.param, sizeof(err.param), "body");
        snprintf(err.message, sizeof(err.message), "The line is longer than %zu bytes.",
                 r->node->max_body);
        bad = 1;
    } else {
        bad = ingest_batch_line_parse(line, len, ENDPOINT, &r->node->limits, &b->policy, &req,
                                      custom_id, sizeof(custom_id), &err) != 0;
    }
    lq_uuid7(job, lq_wall_ms());
    item = json_pack("{s:i, s:s?, s:s?}", "line", line_no, "custom_id",
                     custom_id[0] ? custom_id : NULL, "job_id", bad ? NULL : job);
    if (bad)
        json_object_set_new(item, "error",
                            json_pack("{s:s, s:s, s:s?}", "code", err.code, "message", err.message,
                                      "param", err.param[0] ? err.param : NULL));
    if (!item || json_array_append_new(s->items, item))
        return -1;
    s->bytes += len;
    if (bad) {
        lq_metric_add(r->m_invalid, 1);
        return 0;
    }
    return slice_push(s, line_no, &req);
}

/* Read up to batches.lines_per_step lines after the batch's last queued one. */
static int read_slice(ingest_batch_runner_t *r, const batch_t *b, cursor_t *cur, slice_t *s)
{
    long long taken = 0;
    const char *line;
    size_t len;
    int too_long, rc;

    s->items = json_array();
    if (!s->items)
        return -1;
    while (cur->rd.line < b->lines_queued) { /* lines queued already: passed over */
        rc = next_line(r, cur, b->file, &line, &len, &too_long);
        if (rc <= 0)
            return -1; /* the file is shorter than what was queued: it changed */
    }
    s->last_line = cur->rd.line;
    while (taken < r->node->set.batches.lines_per_step && s->bytes < STEP_BYTES_MAX) {
        rc = next_line(r, cur, b->file, &line, &len, &too_long);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            s->eof = 1;
            break;
        }
        s->last_line = cur->rd.line;
        if (ingest_line_blank(line, len))
            continue;
        taken++;
        if (take_line(r, b, s, cur->rd.line, line, len, too_long))
            return -1;
    }
    return 0;
}

/* ---------- producing ---------- */

/* Who the job is, as the batch's creator, and where it belongs. */
static int address(const batch_t *b, lq_chat_request_t *req, const char *job_id)
{
    json_t *row = b->row;
    const char *project = json_string_value(json_object_get(row, "project")),
               *key = json_string_value(json_object_get(row, "key")),
               *user = json_string_value(json_object_get(row, "user")),
               *limits = json_string_value(json_object_get(row, "limits"));

    req->job_id = strdup(job_id);
    req->tenant_id = strdup(b->tenant);
    req->project_id = project ? strdup(project) : NULL;
    req->api_key_id = key ? strdup(key) : NULL;
    req->user_id = user ? strdup(user) : NULL;
    req->limits = limits ? strdup(limits) : NULL;
    req->batch_id = strdup(b->id);
    req->created_at_ms = lq_cluster_ms();
    req->deadline_ms = (int64_t)json_integer_value(json_object_get(row, "expires_ms"));
    req->mode = LQ_MODE_ASYNC;
    req->weight = (int32_t)json_integer_value(json_object_get(row, "weight"));
    return req->job_id && req->tenant_id && req->batch_id && (!project || req->project_id) &&
           (!key || req->api_key_id) && (!user || req->user_id) && (!limits || req->limits);
}

/* Produce one job: 0; 1 when it can never be queued (its record is more than Kafka takes);
 * -1 when it could not be now. */
static int produce_one(ingest_batch_runner_t *r, const batch_t *b, lq_chat_request_t *req,
                       const char *job_id)
{
    lq_codec_t *codec = lq_codec_thread();
    const void *buf;
    size_t len;
    char errstr[256];
    rd_kafka_resp_err_t e;

    if (!codec || !address(b, req, job_id) ||
        lq_encode_chat_request(codec, req, &buf, &len, errstr, sizeof(errstr)) != LQ_OK)
        return -1;
    if (len > r->node->max_record)
        return 1;
    do {
        e = rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(r->node->topics->batch),
                              RD_KAFKA_V_KEY(b->tenant, strlen(b->tenant)),
                              RD_KAFKA_V_VALUE((void *)buf, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(r->producer, 100); /* room comes as deliveries do */
    } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !atomic_load(&r->stopping));
    return e == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

/* The jobs of the lines the database answered ([{line, job_id}], in line order), each with
 * the job id stored for its line; 0 once Kafka acknowledged them all. Lines that can never be
 * queued (a record too large for Kafka; a line stored as valid that no longer passes the
 * checks, read again after a policy change) go into *refused, to end as failed items. */
static int produce_slice(ingest_batch_runner_t *r, const batch_t *b, slice_t *s, json_t *to_queue,
                         json_t *refused)
{
    size_t i, k = 0;
    json_t *e;

    atomic_store(&r->failed_deliveries, 0);
    json_array_foreach(to_queue, i, e)
    {
        int line = (int)json_integer_value(json_object_get(e, "line")), rc = 1;
        const char *job = json_string_value(json_object_get(e, "job_id"));
        while (k < s->n && s->lines[k] < line)
            k++;
        if (k < s->n && s->lines[k] == line && job)
            rc = produce_one(r, b, &s->reqs[k], job);
        if (rc < 0)
            return -1;
        if (rc > 0)
            json_array_append_new(refused, json_integer(line));
    }
    if (rd_kafka_flush(r->producer, FLUSH_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    lq_metric_add(r->m_lines, (int64_t)(json_array_size(to_queue) - json_array_size(refused)));
    return atomic_load(&r->failed_deliveries) ? -1 : 0;
}

/* ---------- the steps ---------- */

static json_t *items_add(ingest_batch_runner_t *r, const batch_t *b, json_t *items, int read_to,
                         int eof)
{
    char *text = json_dumps(items, JSON_COMPACT), to[16];
    const char *p[5] = {r->node->node_id, b->id, text, to, eof ? "true" : "false"};
    json_t *out;

    snprintf(to, sizeof(to), "%d", read_to);
    out =
        text ? call_json(r, "SELECT batch_items_add($1, $2, $3::jsonb, $4::int, $5::boolean)", 5, p)
             : NULL;
    free(text);
    return out;
}

/* Turn the next lines into jobs: 1 when more are left, 0 when the input is done or the step
 * failed (it is tried again from the last queued line). */
static int expand_step(ingest_batch_runner_t *r, const batch_t *b)
{
    cursor_t *cur = cursor_for(r, b->id, b->lines_queued, r->node->max_body);
    slice_t s;
    json_t *to_queue = NULL, *refused = json_array(), *done = NULL;
    int ok;
    char q[16], *ref = NULL;
    const char *p[4] = {r->node->node_id, b->id, q, NULL};

    memset(&s, 0, sizeof(s));
    ok = refused && read_slice(r, b, cur, &s) == 0;
    if (ok)
        ok = (to_queue = items_add(r, b, s.items, s.last_line, s.eof)) != NULL;
    if (ok)
        ok = produce_slice(r, b, &s, to_queue, refused) == 0;
    if (ok) {
        snprintf(q, sizeof(q), "%d", s.last_line);
        p[3] = ref = json_dumps(refused, JSON_COMPACT);
        ok = ref && json_is_true(done = call_json(
                                     r, "SELECT batch_queued($1, $2, $3::int, $4::jsonb)", 4, p));
    }
    if (!ok) {
        LQ_WARN("batch %s: lines after %d not queued yet; tried again", b->id, b->lines_queued);
        cursor_reset(cur, "", r->node->max_body);
    }
    json_decref(to_queue);
    json_decref(refused);
    json_decref(done);
    free(ref);
    slice_free(&s);
    return ok && !s.eof;
}

/* Tell the workers to stop the batch's jobs (a cancellation for the whole batch). */
static void send_cancel(ingest_batch_runner_t *r, const batch_t *b)
{
    lq_codec_t *codec = lq_codec_thread();
    lq_job_cancel_t k = {(char *)b->id, (char *)b->tenant, "batch_cancelled", lq_cluster_ms()};
    const char *p[1] = {b->id};
    const void *buf;
    size_t len;
    char errstr[256];

    atomic_store(&r->failed_deliveries, 0);
    if (!codec || lq_encode_job_cancel(codec, &k, &buf, &len, errstr, sizeof(errstr)) ||
        rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(r->node->topics->cancels),
                          RD_KAFKA_V_KEY(b->tenant, strlen(b->tenant)),
                          RD_KAFKA_V_VALUE((void *)buf, len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) ||
        rd_kafka_flush(r->producer, FLUSH_TIMEOUT_MS) || atomic_load(&r->failed_deliveries))
        return; /* tried again at the next turn */
    json_decref(call_json(r, "SELECT batch_cancel_sent($1)::text", 1, p));
}

/* Every item final (or given up)? Then the files are written and the batch ends. */
static void progress_step(ingest_batch_runner_t *r, const batch_t *b)
{
    char grace[24];
    const char *p[2] = {b->id, grace}, *fp[2] = {r->node->node_id, b->id};
    json_t *pr;

    snprintf(grace, sizeof(grace), "%lld", r->node->set.batches.finalize_grace_ms);
    pr = call_json(r, "SELECT batch_progress($1, $2::int)", 2, p);
    if (pr && json_is_true(json_object_get(pr, "final"))) {
        json_t *done;
        json_decref(call_json(r, "SELECT batch_set_finalizing($1)::text", 1, p));
        done = call_json(r, "SELECT batch_finalize($1, $2)", 2, fp);
        if (json_is_object(done)) {
            LQ_INFO("batch %s %s", b->id, json_string_value(json_object_get(done, "status")));
            lq_metric_add(r->m_finalized, 1);
        }
        json_decref(done);
    }
    json_decref(pr);
}

/* One turn on a batch: 1 when it has more lines to expand now. */
static int work_on(ingest_batch_runner_t *r, const batch_t *b)
{
    if (strcmp(b->status, "cancelling") == 0) {
        if (b->cancel_due)
            send_cancel(r, b);
        if (!b->input_done) {
            json_t *items = json_array();
            json_decref(items_add(r, b, items, b->lines_read, 1));
            json_decref(items);
        }
        progress_step(r, b);
        return 0;
    }
    if (!b->input_done || b->lines_queued < b->lines_read)
        return expand_step(r, b);
    progress_step(r, b);
    return 0;
}

static void batch_load(batch_t *b, json_t *row)
{
    memset(b, 0, sizeof(*b));
    b->row = row;
    b->id = json_string_value(json_object_get(row, "id"));
    b->tenant = json_string_value(json_object_get(row, "tenant"));
    b->status = json_string_value(json_object_get(row, "status"));
    b->file = json_string_value(json_object_get(row, "file"));
    b->lines_read = (int)json_integer_value(json_object_get(row, "lines_read"));
    b->lines_queued = (int)json_integer_value(json_object_get(row, "lines_queued"));
    b->input_done = json_is_true(json_object_get(row, "input_done"));
    b->cancel_due = json_is_true(json_object_get(row, "cancel_due"));
    ingest_policy_parse(json_string_value(json_object_get(row, "policy")), &b->policy);
}

/* One turn over the batches this node holds: 1 when one has more lines to expand now. */
static int turn(ingest_batch_runner_t *r)
{
    char lease[16], max[16];
    const char *p[4] = {r->node->node_id, r->node->topics->batch, lease, max};
    json_t *claimed, *row;
    size_t i;
    int busy = 0;

    snprintf(lease, sizeof(lease), "%d", LEASE_MS);
    snprintf(max, sizeof(max), "%d", CLAIM_MAX);
    claimed = call_json(r, "SELECT batch_claim($1, $2, $3::int, $4::int)", 4, p);
    json_array_foreach(claimed, i, row)
    {
        batch_t b;
        batch_load(&b, row);
        if (b.id && b.tenant && b.status && b.file && !atomic_load(&r->stopping))
            busy |= work_on(r, &b);
    }
    json_decref(claimed);
    return busy;
}

static void *runner_main(void *arg)
{
    ingest_batch_runner_t *r = arg;

    while (!atomic_load(&r->stopping)) {
        int64_t until;
        if (turn(r))
            continue;
        until = lq_mono_ms() + r->node->set.batches.poll_ms;
        while (!atomic_load(&r->stopping) && lq_mono_ms() < until)
            nanosleep(&(struct timespec){0, 20 * 1000000}, NULL);
    }
    return NULL;
}

/* ---------- lifecycle ---------- */

lq_err_t ingest_batch_runner_start(ingest_batch_runner_t **out, ingest_node_t *node, char *errstr,
                                   size_t errstr_size)
{
    ingest_batch_runner_t *r = calloc(1, sizeof(*r));
    lq_kafka_spec_t spec =
        lq_kafka_spec(&node->set.common, LQ_KAFKA_PRODUCER, "llmq-ingest-batches");

    *out = NULL;
    if (!r)
        return LQ_ERR_NOMEM;
    r->node = node;
    spec.on_delivery = delivered;
    spec.opaque = r;
    r->producer = lq_kafka_new(&spec, errstr, errstr_size);
    if (!r->producer) {
        free(r);
        return LQ_ERR_KAFKA;
    }
    r->m_lines = lq_metrics_counter("llmq_ingest_batch_lines_total",
                                    "lines of batches queued as jobs", NULL);
    r->m_invalid = lq_metrics_counter("llmq_ingest_batch_invalid_lines_total",
                                      "lines of batches that are not valid requests", NULL);
    r->m_finalized =
        lq_metrics_counter("llmq_ingest_batches_finalized_total", "batches ended", NULL);
    if (pthread_create(&r->thread, NULL, runner_main, r) != 0) {
        rd_kafka_destroy(r->producer);
        free(r);
        return LQ_ERR_NOMEM;
    }
    *out = r;
    return LQ_OK;
}

void ingest_batch_runner_stop(ingest_batch_runner_t *r)
{
    size_t i;

    if (!r)
        return;
    atomic_store(&r->stopping, 1);
    pthread_join(r->thread, NULL);
    rd_kafka_flush(r->producer, 5000);
    rd_kafka_destroy(r->producer);
    if (r->conn)
        PQfinish(r->conn);
    for (i = 0; i < CLAIM_MAX; i++)
        ingest_line_reader_free(&r->cursors[i].rd);
    free(r);
}

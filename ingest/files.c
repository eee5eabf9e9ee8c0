/* The Files API: uploads streamed to PostgreSQL chunk by chunk, and downloads streamed back. */
#include "ingest/files.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "ingest/admin.h"
#include "ingest/admin_run.h"

#define FIELD_MAX        64 /* purpose, expires_after[...] values */
#define FILENAME_MAX_LEN 255
#define EXPIRES_MIN_S    3600    /* OpenAI's bounds for expires_after[seconds] */
#define EXPIRES_MAX_S    2592000 /* 30 days: also the default for purpose batch */

/* An upload (POST /v1/files) or a download (GET /v1/files/{id}/content) in progress. */
struct ingest_file_io {
    /* upload */
    struct MHD_PostProcessor *pp;
    char id[48]; /* file-<32 hex> */
    char *buf;   /* the file's bytes not stored yet */
    size_t len, cap;
    int seq; /* chunks stored */
    long long bytes, lines;
    int in_line;  /* the current line has a character other than blanks */
    int has_file; /* the form's "file" field came */
    char filename[FILENAME_MAX_LEN + 1];
    char purpose[FIELD_MAX], anchor[FIELD_MAX], seconds[FIELD_MAX];
    const char *refusal; /* why the form cannot be taken (400) */
    int failed;          /* a chunk could not be stored: answered */
    /* download */
    pthread_mutex_t mu;
    int mu_init;
    json_t *chunks;      /* the seqs to send, in order */
    size_t next;         /* index of the next chunk to fetch */
    unsigned char *data; /* the fetched chunk */
    size_t data_len, data_off;
    int fetching, suspended, broken, queued;
};

void ingest_file_io_free(struct ingest_file_io *io)
{
    if (!io)
        return;
    if (io->pp)
        MHD_destroy_post_processor(io->pp);
    if (io->mu_init)
        pthread_mutex_destroy(&io->mu);
    json_decref(io->chunks);
    free(io->buf);
    PQfreemem(io->data);
    free(io);
}

size_t ingest_count_lines(const char *data, size_t n, int *in_line)
{
    size_t i, lines = 0;

    for (i = 0; i < n; i++) {
        char ch = data[i];
        if (ch == '\n') {
            lines += (size_t)*in_line;
            *in_line = 0;
        } else if (ch != ' ' && ch != '\t' && ch != '\r') {
            *in_line = 1;
        }
    }
    return lines;
}

/* ---------- upload ---------- */

static int append(struct ingest_file_io *io, const char *data, size_t n)
{
    if (io->len + n > io->cap) {
        size_t ncap = io->len + n > INGEST_FILE_CHUNK ? io->len + n : INGEST_FILE_CHUNK;
        char *nb = realloc(io->buf, ncap);
        if (!nb)
            return -1;
        io->buf = nb;
        io->cap = ncap;
    }
    memcpy(io->buf + io->len, data, n);
    io->len += n;
    return 0;
}

/* The length of the UTF-8 character at s (n bytes left), or 0 when it is not one. */
static size_t utf8_char(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xC2 && s[0] <= 0xDF   ? 2
                 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
                 : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4
                                                : 0;
    size_t i;

    if (!len || len > n)
        return 0;
    for (i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* The file's name as the client gave it, as valid UTF-8 without control characters (others
 * become '_'), cut at a character's end to fit. */
static void keep_filename(char *dst, size_t size, const char *src)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t k = 0, n = strlen(src), len;

    while (*s && k + 1 < size) {
        len = *s < 0x80 ? 1 : utf8_char(s, n);
        if (len == 1 && *s >= 0x20 && *s != 0x7f) {
            dst[k++] = (char)*s;
        } else if (len > 1 && k + len < size) {
            memcpy(dst + k, s, len);
            k += len;
        } else if (len > 1) {
            break; /* no room for the whole character */
        } else {
            dst[k++] = '_';
            len = 1;
        }
        s += len;
        n -= len;
    }
    dst[k] = '\0';
}

/* A small form field, kept whole (pieces are appended). */
static int keep_field(char *dst, const char *data, uint64_t off, size_t size)
{
    if (off + size >= FIELD_MAX)
        return -1;
    memcpy(dst + off, data, size);
    dst[off + size] = '\0';
    return 0;
}

static enum MHD_Result form_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *filename, const char *content_type,
                                  const char *transfer_encoding, const char *data, uint64_t off,
                                  size_t size)
{
    req_ctx_t *c = cls;
    struct ingest_file_io *io = c->file_io;
    int bad = 0;

    (void)kind, (void)content_type, (void)transfer_encoding;
    if (strcmp(key, "file") == 0) {
        if (!io->has_file && filename)
            keep_filename(io->filename, sizeof(io->filename), filename);
        io->has_file = 1;
        io->bytes += (long long)size;
        if (io->bytes > c->node->set.files.max_bytes) {
            io->refusal = "The file is larger than files.max_bytes.";
            return MHD_NO;
        }
        io->lines += (long long)ingest_count_lines(data, size, &io->in_line);
        return size && append(io, data, size) ? MHD_NO : MHD_YES;
    }
    if (strcmp(key, "purpose") == 0)
        bad = keep_field(io->purpose, data, off, size);
    else if (strcmp(key, "expires_after[anchor]") == 0)
        bad = keep_field(io->anchor, data, off, size);
    else if (strcmp(key, "expires_after[seconds]") == 0)
        bad = keep_field(io->seconds, data, off, size);
    if (bad)
        io->refusal = "A form field is too long.";
    return bad ? MHD_NO : MHD_YES;
}

static int start_upload(req_ctx_t *c)
{
    struct ingest_file_io *io = calloc(1, sizeof(*io));
    char uuid[LQ_UUID_STR_LEN + 1];
    size_t i, k = 5;

    if (!io)
        return -1;
    c->file_io = io;
    lq_uuid7(uuid, lq_wall_ms());
    memcpy(io->id, "file-", 5);
    for (i = 0; uuid[i]; i++)
        if (uuid[i] != '-')
            io->id[k++] = uuid[i];
    io->id[k] = '\0';
    io->pp = MHD_create_post_processor(c->conn, 64 * 1024, form_field, c);
    if (!io->pp)
        io->refusal = "The body must be multipart/form-data with the fields purpose and file.";
    return 0;
}

static void stored(const PGresult *res, const char *errmsg, void *arg)
{
    req_ctx_t *c = arg;

    if (!res) {
        LQ_WARN("file %s: a chunk could not be stored: %s", c->file_io->id, errmsg);
        c->file_io->failed = 1;
        ingest_ctx_set_unavailable(c, "The file could not be stored; retry later.",
                                   "database_unavailable");
    } else {
        c->phase = REQ_NEW; /* go on with the upload */
    }
    ingest_ctx_resume(c);
}

/* Store the bytes held as the next chunk, the connection suspended until it is:
 * INGEST_STEP_SUSPENDED (the caller must not touch c: the store's callback resumes it, with
 * an answer when it failed), or INGEST_STEP_ANSWER when it could not be tried. */
static ingest_step_t flush_chunk(req_ctx_t *c)
{
    struct ingest_file_io *io = c->file_io;
    char *hex, seq[16];
    const char *params[4];
    size_t i;
    static const char digits[] = "0123456789abcdef";

    if (atomic_load(&c->node->stopping)) {
        io->failed = 1;
        ingest_ctx_set_unavailable(c, "This node is shutting down; retry.", "shutting_down");
        return INGEST_STEP_ANSWER;
    }
    hex = malloc(io->len * 2 + 3);
    if (!hex) {
        io->failed = 1;
        ingest_ctx_set_internal_error(c);
        return INGEST_STEP_ANSWER;
    }
    hex[0] = '\\', hex[1] = 'x';
    for (i = 0; i < io->len; i++) {
        hex[2 + 2 * i] = digits[(unsigned char)io->buf[i] >> 4];
        hex[3 + 2 * i] = digits[(unsigned char)io->buf[i] & 15];
    }
    hex[2 + 2 * io->len] = '\0';
    snprintf(seq, sizeof(seq), "%d", io->seq++);
    params[0] = io->id, params[1] = c->id.tenant_id, params[2] = seq, params[3] = hex;
    io->len = 0;
    ingest_ctx_suspend(c);
    if (ingest_pg_submit(c->node->pg, "SELECT file_chunk_put($1, $2, $3::int, $4::bytea)", 4,
                         params, stored, c)) {
        io->failed = 1;
        ingest_ctx_set_unavailable(c, "Too many requests waiting for the database; retry later.",
                                   "database_busy");
        ingest_ctx_resume(c);
    }
    free(hex); /* the pool copied it */
    return INGEST_STEP_SUSPENDED;
}

static void refuse(req_ctx_t *c, unsigned status, const char *msg, const char *param,
                   const char *code)
{
    ingest_ctx_set_error(c, status, msg, "invalid_request_error", param, code);
}

void ingest_files_upload(req_ctx_t *c, const char *data, size_t *size)
{
    struct ingest_file_io *io;

    if (!c->file_io && start_upload(c)) {
        ingest_ctx_set_internal_error(c);
        return;
    }
    io = c->file_io;
    if (io->refusal || io->failed) {
        *size = 0; /* refused already: the rest is not kept */
        return;
    }
    if (MHD_post_process(io->pp, data, *size) != MHD_YES && !io->refusal)
        io->refusal = "The multipart body cannot be read.";
    *size = 0;
    if (io->refusal && io->bytes > c->node->set.files.max_bytes) {
        refuse(c, 413, io->refusal, "file", "file_too_large");
        return;
    }
    if (!io->refusal && io->len >= INGEST_FILE_CHUNK)
        (void)flush_chunk(c); /* an answer it sets goes once the body is read */
}

/* The form's fields, checked once the body is whole: 1 when they are good; else the answer
 * is set. *expires_s gets the file's lifetime. */
static int form_ok(req_ctx_t *c, long long *expires_s)
{
    struct ingest_file_io *io = c->file_io;
    char msg[200];

    if (io->refusal) {
        refuse(c, 400, io->refusal, NULL, "invalid_request");
        return 0;
    }
    if (!io->has_file) {
        refuse(c, 400, "The form has no file field.", "file", "missing_required_parameter");
        return 0;
    }
    if (strcmp(io->purpose, "batch") != 0) {
        refuse(c, 400, "purpose: llmq keeps files for batches: the purpose must be batch.",
               "purpose", "invalid_value");
        return 0;
    }
    io->lines += io->in_line; /* a last line without a newline */
    io->in_line = 0;
    if (io->lines > c->node->set.files.max_lines) {
        snprintf(msg, sizeof(msg), "The file has %lld requests; a batch file may have %lld.",
                 io->lines, c->node->set.files.max_lines);
        refuse(c, 400, msg, "file", "too_many_lines");
        return 0;
    }
    *expires_s = EXPIRES_MAX_S;
    if (io->seconds[0] || io->anchor[0]) {
        char *end = NULL;
        long long s = strtoll(io->seconds, &end, 10);
        if (strcmp(io->anchor, "created_at") != 0 || !end || *end || s < EXPIRES_MIN_S ||
            s > EXPIRES_MAX_S) {
            refuse(c, 400, "expires_after: anchor created_at and seconds from 3600 to 2592000.",
                   "expires_after", "invalid_value");
            return 0;
        }
        *expires_s = s;
    }
    return 1;
}

static void aborted(const PGresult *res, const char *errmsg, void *arg)
{
    (void)res, (void)arg;
    if (errmsg) /* left to the hourly purge of unfinished uploads */
        LQ_WARN("an upload refused at its end could not be removed: %s", errmsg);
}

/* Its chunks go when an upload is refused at its end. */
static void abort_upload(req_ctx_t *c)
{
    const char *params[2] = {c->id.tenant_id, c->file_io->id};

    if (c->file_io->seq > 0 && !atomic_load(&c->node->stopping))
        ingest_pg_submit(c->node->pg, "SELECT file_abort($1, $2)", 2, params, aborted, NULL);
}

void ingest_files_closed(req_ctx_t *c)
{
    /* an upload that stored chunks and did not become a file (refused, failed, the client
     * gone): its chunks go now (file_abort leaves a file that was finished alone) */
    if (c->file_io && !c->file_io->chunks && c->file_io->id[0])
        abort_upload(c);
}

ingest_step_t ingest_files_create(req_ctx_t *c)
{
    struct ingest_file_io *io;
    char bytes[24], lines[24], expires[24];
    const char *params[6];
    long long expires_s = 0;

    if (!c->file_io) { /* no body (one without a length was refused before it: 411) */
        refuse(c, 400, "The body must be multipart/form-data with the fields purpose and file.",
               NULL, "invalid_request");
        return INGEST_STEP_ANSWER;
    }
    io = c->file_io;
    if (io->pp) { /* the end of the form: what the processor holds comes now */
        if (MHD_destroy_post_processor(io->pp) != MHD_YES && !io->refusal)
            io->refusal = "The multipart body is incomplete.";
        io->pp = NULL;
    }
    if (!form_ok(c, &expires_s)) {
        abort_upload(c);
        return INGEST_STEP_ANSWER;
    }
    if (io->len > 0)
        return flush_chunk(c); /* the handler runs again once it is stored */
    snprintf(bytes, sizeof(bytes), "%lld", io->bytes);
    snprintf(lines, sizeof(lines), "%lld", io->lines);
    snprintf(expires, sizeof(expires), "%lld", expires_s);
    params[0] = io->id, params[1] = io->purpose,
    params[2] = io->filename[0] ? io->filename : "file";
    params[3] = bytes, params[4] = lines, params[5] = expires;
    c->admin.ok_status = 200;
    return ingest_run_as_caller(
        c, "SELECT file_finish($1::jsonb, $2, $3, $4, $5::bigint, $6::int, $7::int)::text", 6,
        params, 200);
}

/* ---------- reading ---------- */

ingest_step_t ingest_files_list(req_ctx_t *c)
{
    const char *params[4] = {ingest_ctx_query(c, "purpose"), ingest_ctx_query(c, "after"),
                             ingest_ctx_query(c, "limit"), ingest_ctx_query(c, "order")};

    return ingest_run_as_caller(c, "SELECT file_list($1::jsonb, $2, $3, $4, $5)::text", 4, params,
                                200);
}

ingest_step_t ingest_file_get(req_ctx_t *c)
{
    const char *params[1] = {ingest_path_param(&c->params, "id")};

    return ingest_run_as_caller(c, "SELECT file_get($1::jsonb, $2)::text", 1, params, 200);
}

ingest_step_t ingest_file_delete(req_ctx_t *c)
{
    const char *params[1] = {ingest_path_param(&c->params, "id")};

    return ingest_run_as_caller(c, "SELECT file_delete($1::jsonb, $2)::text", 1, params, 200);
}

/* ---------- download ---------- */

static void fetch_next(req_ctx_t *c);

static void fetched(const PGresult *res, const char *errmsg, void *arg)
{
    req_ctx_t *c = arg;
    struct ingest_file_io *io = c->file_io;
    int resume;

    pthread_mutex_lock(&io->mu);
    io->fetching = 0;
    if (res && PQntuples(res) == 1) {
        size_t n = 0;
        io->data = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 0), &n);
        io->data_len = io->data ? n : 0;
        io->data_off = 0;
        io->broken = !io->data;
    } else {
        LQ_WARN("a file's chunk could not be read: %s", errmsg ? errmsg : "not found");
        io->broken = 1;
    }
    resume = io->suspended;
    io->suspended = 0;
    pthread_mutex_unlock(&io->mu);
    if (resume)
        ingest_ctx_resume(c);
    ingest_ctx_unref(c); /* the query's reference */
}

/* Ask for the next chunk (mu held). */
static void fetch_next(req_ctx_t *c)
{
    struct ingest_file_io *io = c->file_io;
    char seq[24];
    const char *params[2] = {io->id, seq};

    snprintf(seq, sizeof(seq), "%lld",
             (long long)json_integer_value(json_array_get(io->chunks, io->next)));
    io->next++;
    io->fetching = 1;
    ingest_ctx_ref(c);
    if (atomic_load(&c->node->stopping) ||
        ingest_pg_submit(c->node->pg,
                         "SELECT data FROM file_chunks WHERE file_id = $1 AND seq = $2::int", 2,
                         params, fetched, c)) {
        io->fetching = 0;
        io->broken = 1;
        ingest_ctx_unref(c);
    }
}

static ssize_t read_content(void *cls, uint64_t pos, char *buf, size_t max)
{
    req_ctx_t *c = cls;
    struct ingest_file_io *io = c->file_io;
    size_t n;

    (void)pos;
    pthread_mutex_lock(&io->mu);
    if (io->data_off < io->data_len) {
        n = io->data_len - io->data_off < max ? io->data_len - io->data_off : max;
        memcpy(buf, io->data + io->data_off, n);
        io->data_off += n;
        pthread_mutex_unlock(&io->mu);
        return (ssize_t)n;
    }
    if (io->broken || (!io->fetching && io->next >= json_array_size(io->chunks))) {
        int broken = io->broken;
        pthread_mutex_unlock(&io->mu);
        return broken ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (!io->fetching) {
        PQfreemem(io->data);
        io->data = NULL;
        io->data_len = io->data_off = 0;
        fetch_next(c);
        if (io->broken) { /* not asked: nothing would resume the connection */
            pthread_mutex_unlock(&io->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    io->suspended = 1; /* the chunk's callback resumes the connection */
    MHD_suspend_connection(c->conn);
    pthread_mutex_unlock(&io->mu);
    return 0;
}

static void content_freed(void *cls)
{
    ingest_ctx_unref(cls);
}

/* The plan came ({"id","filename","bytes","chunks"}): answer with the chunks, fetched one by
 * one as the client reads. */
static void planned(const PGresult *res, const char *errmsg, void *arg)
{
    req_ctx_t *c = arg;
    int status = 500;
    char *body = ingest_admin_answer(&c->admin, res, errmsg, &status);
    json_t *plan = status == 200 && body ? json_loads(body, 0, NULL) : NULL;
    struct ingest_file_io *io = plan ? calloc(1, sizeof(*io)) : NULL;

    if (!io || pthread_mutex_init(&io->mu, NULL) != 0) {
        free(io);
        json_decref(plan);
        ingest_ctx_set_text(c, (unsigned)status, body, body ? strlen(body) : 0);
        ingest_ctx_resume(c);
        return;
    }
    free(body);
    io->mu_init = 1;
    snprintf(io->id, sizeof(io->id), "%s", json_string_value(json_object_get(plan, "id")));
    snprintf(io->filename, sizeof(io->filename), "%s",
             json_string_value(json_object_get(plan, "filename")));
    io->bytes = json_integer_value(json_object_get(plan, "bytes"));
    io->chunks = json_incref(json_object_get(plan, "chunks"));
    json_decref(plan);
    c->file_io = io;
    c->phase = REQ_STREAM; /* the handler queues the content response */
    c->status = 200;
    ingest_ctx_resume(c);
}

ingest_step_t ingest_file_content(req_ctx_t *c)
{
    const char *params[2];
    char *caller;

    caller = ingest_caller_json(c);
    params[0] = caller, params[1] = ingest_path_param(&c->params, "id");
    c->admin.ok_status = 200;
    ingest_ctx_suspend(c);
    if (!caller || ingest_pg_submit(c->node->pg, "SELECT file_content_plan($1::jsonb, $2)::text", 2,
                                    params, planned, c)) {
        ingest_ctx_set_unavailable(c, "Too many requests waiting for the database; retry later.",
                                   "database_busy");
        ingest_ctx_resume(c);
    }
    free(caller);
    return INGEST_STEP_SUSPENDED;
}

enum MHD_Result ingest_file_content_start(req_ctx_t *c)
{
    struct ingest_file_io *io = c->file_io;
    struct MHD_Response *r;
    enum MHD_Result ret;
    char disp[FILENAME_MAX_LEN + 40];
    size_t i;

    if (io->queued)
        return MHD_YES;
    io->queued = 1;
    ingest_ctx_ref(c); /* the response's */
    r = MHD_create_response_from_callback((uint64_t)io->bytes, 64 * 1024, read_content, c,
                                          content_freed);
    if (!r) {
        ingest_ctx_unref(c);
        return MHD_NO;
    }
    for (i = 0; io->filename[i]; i++) /* a header value: no quotes or controls */
        if (io->filename[i] == '"' || io->filename[i] == '\\' ||
            iscntrl((unsigned char)io->filename[i]))
            io->filename[i] = '_';
    snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", io->filename);
    MHD_add_response_header(r, "Content-Type", "application/octet-stream");
    MHD_add_response_header(r, "Content-Disposition", disp);
    MHD_add_response_header(r, "x-request-id", c->request_id);
    ret = MHD_queue_response(c->conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

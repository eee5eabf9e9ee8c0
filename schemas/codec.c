/* schemas/codec.c — the codec: each record type's current and registered writer schemas,
 * single-object framing, and the encode, decode and clear functions of codec.h and
 * records.h, all alike over the field tables (record_fields.h, record_codec.h). */
#include "schemas/codec.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#include "common/log.h"
#include "schemas/fingerprint.h"
#include "schemas/record_codec.h"
#include "schemas/writer_plan.h"

/* Generated at build time from schemas/ (the .avsc files) (cmake/embed.cmake). */
extern const char *const lq_embedded_schemas[LQ_SCHEMA_COUNT];
extern const char *const lq_embedded_schemas_names[LQ_SCHEMA_COUNT];
/* earlier versions, named <record>.v<N>.avsc (schemas/history/) */
extern const char *const lq_embedded_schema_history[];
extern const char *const lq_embedded_schema_history_names[];
extern const unsigned lq_embedded_schema_history_count;

#define MAX_WRITERS 8
#define HEADER_LEN  10

/* A writer schema of a record type, and how to read its records into the C struct. */
typedef struct writer_schema {
    uint64_t fingerprint;
    avro_schema_t schema;
    lq_plan_t *plan;
} writer_schema_t;

typedef struct schema_slot {
    writer_schema_t writers[MAX_WRITERS]; /* [0]: the current schema, which encoders write */
    size_t n_writers;
} schema_slot_t;

struct lq_codec {
    schema_slot_t slots[LQ_SCHEMA_COUNT];
    lq_avro_out_t out; /* the last encoded message */
};

const char *lq_schema_json(lq_schema_id_t id)
{
    return (unsigned)id < LQ_SCHEMA_COUNT ? lq_embedded_schemas[id] : NULL;
}

const char *lq_schema_name(lq_schema_id_t id)
{
    const lq_record_desc_t *rec = lq_record_desc(id);

    return rec ? rec->name : "?";
}

static lq_err_t fingerprint_of(const char *json, uint64_t *fp, char *errstr, size_t errstr_size)
{
    char *canon = NULL;
    lq_err_t err = lq_avro_canonical_form(json, &canon, errstr, errstr_size);

    if (err)
        return err;
    *fp = lq_avro_crc64(canon, strlen(canon));
    free(canon);
    return LQ_OK;
}

static void writer_free(writer_schema_t *w)
{
    lq_plan_free(w->plan);
    if (w->schema)
        avro_schema_decref(w->schema);
    memset(w, 0, sizeof(*w));
}

void lq_codec_destroy(lq_codec_t *c)
{
    size_t i, w;

    if (!c)
        return;
    for (i = 0; i < LQ_SCHEMA_COUNT; i++)
        for (w = 0; w < c->slots[i].n_writers; w++)
            writer_free(&c->slots[i].writers[w]);
    free(c->out.p);
    free(c);
}

/* Parse a writer schema of record type id and plan reading it (exact: the current schema,
 * which must match the field table). On failure w holds what the caller frees. */
static lq_err_t writer_load(writer_schema_t *w, lq_schema_id_t id, const char *json, int exact,
                            char *errstr, size_t errstr_size)
{
    const lq_record_desc_t *rec = lq_record_desc(id);
    char why[256];
    lq_err_t err;

    if (avro_schema_from_json_length(json, strlen(json), &w->schema)) {
        snprintf(errstr, errstr_size, "schema %s: %s", rec->name, avro_strerror());
        return LQ_ERR_AVRO;
    }
    if (!is_avro_record(w->schema) || strcmp(avro_schema_name(w->schema), rec->name) != 0) {
        snprintf(errstr, errstr_size, "writer schema is not a %s record", rec->name);
        return LQ_ERR_AVRO;
    }
    err = lq_plan_compile(w->schema, rec, exact, &w->plan, why, sizeof(why));
    if (err)
        snprintf(errstr, errstr_size, "schema %s %s: %s", rec->name,
                 exact ? "does not match its field table" : "cannot be read", why);
    return err;
}

static lq_err_t slot_add(schema_slot_t *s, lq_schema_id_t id, const char *json, int exact,
                         char *errstr, size_t errstr_size)
{
    writer_schema_t *w;
    uint64_t fp;
    size_t i;
    lq_err_t err = fingerprint_of(json, &fp, errstr, errstr_size);

    if (err)
        return err;
    for (i = 0; i < s->n_writers; i++)
        if (s->writers[i].fingerprint == fp)
            return LQ_OK;
    if (s->n_writers == MAX_WRITERS) {
        snprintf(errstr, errstr_size, "too many writer schemas for %s", lq_schema_name(id));
        return LQ_ERR_FULL;
    }
    w = &s->writers[s->n_writers];
    err = writer_load(w, id, json, exact, errstr, errstr_size);
    if (err) {
        writer_free(w);
        return err;
    }
    w->fingerprint = fp;
    s->n_writers++;
    return LQ_OK;
}

/* The record an earlier schema file is a version of: "chat_request.v1.avsc" is one of
 * "chat_request.avsc". -1 when none. */
static int history_record(const char *file)
{
    size_t stem = strcspn(file, ".");
    int i;

    for (i = 0; i < LQ_SCHEMA_COUNT; i++)
        if (strncmp(lq_embedded_schemas_names[i], file, stem) == 0 &&
            strcmp(lq_embedded_schemas_names[i] + stem, ".avsc") == 0)
            return i;
    return -1;
}

/* Every earlier version of every record is a known writer: records produced by an older
 * node (a rolling upgrade) or still in Kafka from before are read into the current shape. */
static lq_err_t register_history(lq_codec_t *c, char *errstr, size_t errstr_size)
{
    unsigned i;

    for (i = 0; i < lq_embedded_schema_history_count; i++) {
        const char *file = lq_embedded_schema_history_names[i];
        int id = history_record(file);
        lq_err_t err;
        if (id < 0) {
            snprintf(errstr, errstr_size, "schema history %s: names no record", file);
            return LQ_ERR_INVALID;
        }
        err = slot_add(&c->slots[id], (lq_schema_id_t)id, lq_embedded_schema_history[i], 0, errstr,
                       errstr_size);
        if (err) {
            size_t n = strlen(errstr);
            snprintf(errstr + n, errstr_size - n, " (schema history %s)", file);
            return err;
        }
    }
    return LQ_OK;
}

lq_err_t lq_codec_create(lq_codec_t **out, char *errstr, size_t errstr_size)
{
    lq_codec_t *c = calloc(1, sizeof(*c));
    lq_err_t err = LQ_ERR_NOMEM;
    int i;

    *out = NULL;
    if (!c || lq_avro_reserve(&c->out, 4096)) {
        snprintf(errstr, errstr_size, "avro codec: out of memory");
        goto fail;
    }
    for (i = 0; i < LQ_SCHEMA_COUNT; i++) {
        err = slot_add(&c->slots[i], (lq_schema_id_t)i, lq_embedded_schemas[i], 1, errstr,
                       errstr_size);
        if (err)
            goto fail;
    }
    err = register_history(c, errstr, errstr_size);
    if (err)
        goto fail;
    *out = c;
    return LQ_OK;
fail:
    lq_codec_destroy(c);
    return err;
}

static pthread_key_t codec_key;
static pthread_once_t codec_key_once = PTHREAD_ONCE_INIT;

static void codec_key_destroy(void *p)
{
    lq_codec_destroy(p);
}

static void codec_key_init(void)
{
    pthread_key_create(&codec_key, codec_key_destroy);
}

/* Codecs made ahead (lq_codec_prepare), handed to the first threads that need one. */
static pthread_mutex_t spare_mu = PTHREAD_MUTEX_INITIALIZER;
static lq_codec_t *spare[64];
static size_t n_spare;

void lq_codec_prepare(size_t n)
{
    char errstr[256];

    pthread_mutex_lock(&spare_mu);
    while (n_spare < n && n_spare < sizeof(spare) / sizeof(spare[0])) {
        if (lq_codec_create(&spare[n_spare], errstr, sizeof(errstr)) != LQ_OK)
            break; /* lq_codec_thread will say why when it tries */
        n_spare++;
    }
    pthread_mutex_unlock(&spare_mu);
}

lq_codec_t *lq_codec_thread(void)
{
    lq_codec_t *c = NULL;
    char errstr[256];

    pthread_once(&codec_key_once, codec_key_init);
    c = pthread_getspecific(codec_key);
    if (c)
        return c;
    pthread_mutex_lock(&spare_mu);
    if (n_spare)
        c = spare[--n_spare];
    pthread_mutex_unlock(&spare_mu);
    if (c) {
        pthread_setspecific(codec_key, c);
        return c;
    }
    if (lq_codec_create(&c, errstr, sizeof(errstr)) != LQ_OK) {
        LQ_ERROR("avro codec: %s", errstr);
        return NULL;
    }
    pthread_setspecific(codec_key, c);
    return c;
}

lq_err_t lq_codec_register_writer(lq_codec_t *c, lq_schema_id_t id, const char *schema_json,
                                  char *errstr, size_t errstr_size)
{
    if ((unsigned)id >= LQ_SCHEMA_COUNT) {
        snprintf(errstr, errstr_size, "no record type %d", (int)id);
        return LQ_ERR_INVALID;
    }
    return slot_add(&c->slots[id], id, schema_json, 0, errstr, errstr_size);
}

uint64_t lq_codec_fingerprint(const lq_codec_t *c, lq_schema_id_t id)
{
    return c->slots[id].writers[0].fingerprint;
}

/* ---------- single-object framing: C3 01, the writer's fingerprint (LE), the body ---------- */

static int read_header(const void *buf, size_t len, uint64_t *fp)
{
    const unsigned char *p = buf;

    if (!buf || len < HEADER_LEN || p[0] != 0xC3 || p[1] != 0x01)
        return -1;
    *fp = lq_avro_le64(p + 2);
    return 0;
}

static const writer_schema_t *find_writer(const schema_slot_t *s, uint64_t fp)
{
    size_t i;

    for (i = 0; i < s->n_writers; i++)
        if (s->writers[i].fingerprint == fp)
            return &s->writers[i];
    return NULL;
}

int lq_codec_identify(const lq_codec_t *c, const void *buf, size_t len)
{
    uint64_t fp;
    int id;

    if (!c || read_header(buf, len, &fp))
        return -1;
    for (id = 0; id < LQ_SCHEMA_COUNT; id++)
        if (find_writer(&c->slots[id], fp))
            return id;
    return -1;
}

static lq_err_t encode_record(lq_codec_t *c, lq_schema_id_t id, const void *value, const void **buf,
                              size_t *len, char *errstr, size_t errstr_size)
{
    const lq_record_desc_t *rec = lq_record_desc(id);
    uint64_t fp = c->slots[id].writers[0].fingerprint;
    unsigned char head[HEADER_LEN] = {0xC3, 0x01};
    const char *bad = NULL;
    int i;

    for (i = 0; i < 8; i++)
        head[2 + i] = (unsigned char)(fp >> (8 * i));
    c->out.len = 0;
    c->out.nomem = 0;
    lq_avro_put_raw(&c->out, head, sizeof(head));
    if (lq_fields_encode(&c->out, rec, value, &bad) == 0) {
        *buf = c->out.p;
        *len = c->out.len;
        return LQ_OK;
    }
    if (bad) {
        snprintf(errstr, errstr_size, "%s: field %s: a value the schema does not have", rec->name,
                 bad);
        return LQ_ERR_AVRO;
    }
    snprintf(errstr, errstr_size, "%s: out of memory", rec->name);
    return LQ_ERR_NOMEM;
}

static lq_err_t decode_record(lq_codec_t *c, lq_schema_id_t id, const void *buf, size_t len,
                              void *out, char *errstr, size_t errstr_size)
{
    const lq_record_desc_t *rec = lq_record_desc(id);
    const writer_schema_t *w;
    lq_fields_dec_t d;
    uint64_t fp;

    memset(out, 0, rec->size);
    if (read_header(buf, len, &fp)) {
        snprintf(errstr, errstr_size, "%s: not an Avro single-object message", rec->name);
        return LQ_ERR_AVRO;
    }
    w = find_writer(&c->slots[id], fp);
    if (!w) {
        snprintf(errstr, errstr_size, "%s: unknown writer schema fingerprint %016llx", rec->name,
                 (unsigned long long)fp);
        return LQ_ERR_AVRO;
    }
    memset(&d, 0, sizeof(d));
    d.in.p = (const unsigned char *)buf + HEADER_LEN;
    d.in.end = (const unsigned char *)buf + len;
    if (lq_fields_decode(&d, w->plan, out) == 0)
        return LQ_OK;
    lq_fields_clear(rec, out);
    snprintf(errstr, errstr_size, "%s: %s (field %s: %s)", rec->name,
             d.nomem ? "cannot decode" : "malformed record", d.field, d.why);
    return d.nomem ? LQ_ERR_NOMEM : LQ_ERR_AVRO;
}

/* lq_encode_<name>, lq_decode_<name> and lq_<name>_clear of each record type. */
#define RECORD_API(name, type, id)                                                                 \
    lq_err_t lq_encode_##name(lq_codec_t *c, const type *r, const void **buf, size_t *len,         \
                              char *errstr, size_t errstr_size)                                    \
    {                                                                                              \
        return encode_record(c, id, r, buf, len, errstr, errstr_size);                             \
    }                                                                                              \
    lq_err_t lq_decode_##name(lq_codec_t *c, const void *buf, size_t len, type *out, char *errstr, \
                              size_t errstr_size)                                                  \
    {                                                                                              \
        return decode_record(c, id, buf, len, out, errstr, errstr_size);                           \
    }                                                                                              \
    void lq_##name##_clear(type *r)                                                                \
    {                                                                                              \
        lq_fields_clear(lq_record_desc(id), r);                                                    \
    }

RECORD_API(chat_request, lq_chat_request_t, LQ_SCHEMA_CHAT_REQUEST)
RECORD_API(chat_response, lq_chat_response_t, LQ_SCHEMA_CHAT_RESPONSE)
RECORD_API(usage_event, lq_usage_event_t, LQ_SCHEMA_USAGE_EVENT)
RECORD_API(trace_event, lq_trace_event_t, LQ_SCHEMA_TRACE_EVENT)
RECORD_API(chat_chunk, lq_chat_chunk_t, LQ_SCHEMA_CHAT_CHUNK)
RECORD_API(job_cancel, lq_job_cancel_t, LQ_SCHEMA_JOB_CANCEL)

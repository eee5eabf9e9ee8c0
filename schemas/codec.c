#include "schemas/codec.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#include "common/log.h"
#include "schemas/fingerprint.h"

/* Generated at build time from schemas/ (the .avsc files) (cmake/embed.cmake). */
extern const char *const lq_embedded_schemas[LQ_SCHEMA_COUNT];

static const char *const schema_names[LQ_SCHEMA_COUNT] = {
    "ChatRequest", "ChatResponse", "UsageEvent", "TraceEvent", "ChatChunk", "JobCancel"};

#define MAX_WRITERS 8
#define HEADER_LEN 10

/* A known writer schema. The current one (index 0) decodes into the slot's value; an
 * older or newer one decodes into a value of its own shape, and the field getters below
 * fill what that shape lacks from the current schema's defaults. (avro-c's schema
 * resolver refuses reader fields that the writer lacks, even with a default, so llmq
 * resolves by field name itself.) */
typedef struct writer_schema {
    uint64_t fingerprint;
    avro_schema_t schema;
    avro_value_iface_t *iface; /* NULL for the current schema */
    avro_value_t value;
} writer_schema_t;

typedef struct schema_slot {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    uint64_t fingerprint;
    writer_schema_t writers[MAX_WRITERS];
    size_t n_writers;
} schema_slot_t;

struct lq_codec {
    schema_slot_t slots[LQ_SCHEMA_COUNT];
    char *out;
    size_t out_cap;
    avro_reader_t reader;
    avro_writer_t writer;
};

const char *lq_schema_json(lq_schema_id_t id)
{
    return id < LQ_SCHEMA_COUNT ? lq_embedded_schemas[id] : NULL;
}

const char *lq_schema_name(lq_schema_id_t id)
{
    return id < LQ_SCHEMA_COUNT ? schema_names[id] : "?";
}

const char *lq_mode_name(lq_mode_t m)
{
    switch (m) {
    case LQ_MODE_SYNC: return "sync";
    case LQ_MODE_ASYNC: return "async";
    case LQ_MODE_STREAM: return "stream";
    }
    return "async";
}

const char *lq_job_status_name(lq_job_status_t s)
{
    switch (s) {
    case LQ_STATUS_QUEUED: return "queued";
    case LQ_STATUS_RUNNING: return "running";
    case LQ_STATUS_SUCCEEDED: return "succeeded";
    case LQ_STATUS_FAILED: return "failed";
    case LQ_STATUS_CANCELLED: return "cancelled";
    }
    return "failed";
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

void lq_codec_destroy(lq_codec_t *c)
{
    int i;
    size_t w;

    if (!c)
        return;
    for (i = 0; i < LQ_SCHEMA_COUNT; i++) {
        schema_slot_t *s = &c->slots[i];
        for (w = 0; w < s->n_writers; w++) {
            if (s->writers[w].iface) {
                avro_value_decref(&s->writers[w].value);
                avro_value_iface_decref(s->writers[w].iface);
            }
            if (s->writers[w].schema)
                avro_schema_decref(s->writers[w].schema);
        }
        if (s->iface) {
            avro_value_decref(&s->value);
            avro_value_iface_decref(s->iface);
        }
        if (s->schema)
            avro_schema_decref(s->schema);
    }
    if (c->reader)
        avro_reader_free(c->reader);
    if (c->writer)
        avro_writer_free(c->writer);
    free(c->out);
    free(c);
}

lq_err_t lq_codec_create(lq_codec_t **out, char *errstr, size_t errstr_size)
{
    lq_codec_t *c = calloc(1, sizeof(*c));
    lq_err_t err = LQ_ERR_NOMEM;
    int i;

    *out = NULL;
    if (!c)
        goto fail;
    for (i = 0; i < LQ_SCHEMA_COUNT; i++) {
        schema_slot_t *s = &c->slots[i];
        const char *json = lq_embedded_schemas[i];
        if (avro_schema_from_json_length(json, strlen(json), &s->schema)) {
            snprintf(errstr, errstr_size, "schema %s: %s", schema_names[i], avro_strerror());
            err = LQ_ERR_AVRO;
            goto fail;
        }
        s->iface = avro_generic_class_from_schema(s->schema);
        if (!s->iface || avro_generic_value_new(s->iface, &s->value)) {
            snprintf(errstr, errstr_size, "schema %s: %s", schema_names[i], avro_strerror());
            err = LQ_ERR_AVRO;
            goto fail;
        }
        err = fingerprint_of(json, &s->fingerprint, errstr, errstr_size);
        if (err)
            goto fail;
        s->writers[0].fingerprint = s->fingerprint;
        s->n_writers = 1;
    }
    c->out_cap = 4096;
    c->out = malloc(c->out_cap);
    c->reader = avro_reader_memory("", 0);
    c->writer = avro_writer_memory(c->out, (int64_t)c->out_cap);
    if (!c->out || !c->reader || !c->writer) {
        err = LQ_ERR_NOMEM;
        goto fail;
    }
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

lq_codec_t *lq_codec_thread(void)
{
    lq_codec_t *c;
    char errstr[256];

    pthread_once(&codec_key_once, codec_key_init);
    c = pthread_getspecific(codec_key);
    if (c)
        return c;
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
    schema_slot_t *s = &c->slots[id];
    writer_schema_t *w;
    uint64_t fp;
    lq_err_t err;
    size_t i;

    err = fingerprint_of(schema_json, &fp, errstr, errstr_size);
    if (err)
        return err;
    for (i = 0; i < s->n_writers; i++)
        if (s->writers[i].fingerprint == fp)
            return LQ_OK;
    if (s->n_writers == MAX_WRITERS) {
        snprintf(errstr, errstr_size, "too many writer schemas for %s", schema_names[id]);
        return LQ_ERR_FULL;
    }
    w = &s->writers[s->n_writers];
    memset(w, 0, sizeof(*w));
    if (avro_schema_from_json_length(schema_json, strlen(schema_json), &w->schema)) {
        snprintf(errstr, errstr_size, "writer schema: %s", avro_strerror());
        return LQ_ERR_AVRO;
    }
    if (!is_avro_record(w->schema) ||
        strcmp(avro_schema_name(w->schema), schema_names[id]) != 0) {
        snprintf(errstr, errstr_size, "writer schema is not a %s record", schema_names[id]);
        avro_schema_decref(w->schema);
        w->schema = NULL;
        return LQ_ERR_AVRO;
    }
    w->iface = avro_generic_class_from_schema(w->schema);
    if (!w->iface || avro_generic_value_new(w->iface, &w->value)) {
        snprintf(errstr, errstr_size, "writer schema: %s", avro_strerror());
        if (w->iface)
            avro_value_iface_decref(w->iface);
        avro_schema_decref(w->schema);
        w->iface = NULL;
        w->schema = NULL;
        return LQ_ERR_AVRO;
    }
    w->fingerprint = fp;
    s->n_writers++;
    return LQ_OK;
}

uint64_t lq_codec_fingerprint(const lq_codec_t *c, lq_schema_id_t id)
{
    return c->slots[id].fingerprint;
}

/* ---------- field helpers (encode) ---------- */

#define FIELD(rec, name, f)                                                                    \
    do {                                                                                       \
        if (avro_value_get_by_name((rec), (name), (f), NULL))                                  \
            return -1;                                                                         \
    } while (0)

static int put_str(avro_value_t *rec, const char *name, const char *s)
{
    avro_value_t f;
    FIELD(rec, name, &f);
    return avro_value_set_string(&f, s ? s : "");
}

static int put_opt_str(avro_value_t *rec, const char *name, const char *s)
{
    avro_value_t f, br;
    FIELD(rec, name, &f);
    if (!s)
        return avro_value_set_branch(&f, 0, &br) || avro_value_set_null(&br);
    return avro_value_set_branch(&f, 1, &br) || avro_value_set_string(&br, s);
}

static int put_long(avro_value_t *rec, const char *name, int64_t v)
{
    avro_value_t f;
    FIELD(rec, name, &f);
    return avro_value_set_long(&f, v);
}

static int put_opt_long(avro_value_t *rec, const char *name, int64_t v, int present)
{
    avro_value_t f, br;
    FIELD(rec, name, &f);
    if (!present)
        return avro_value_set_branch(&f, 0, &br) || avro_value_set_null(&br);
    return avro_value_set_branch(&f, 1, &br) || avro_value_set_long(&br, v);
}

static int put_int(avro_value_t *rec, const char *name, int32_t v)
{
    avro_value_t f;
    FIELD(rec, name, &f);
    return avro_value_set_int(&f, v);
}

static int put_opt_int(avro_value_t *rec, const char *name, int32_t v, int present)
{
    avro_value_t f, br;
    FIELD(rec, name, &f);
    if (!present)
        return avro_value_set_branch(&f, 0, &br) || avro_value_set_null(&br);
    return avro_value_set_branch(&f, 1, &br) || avro_value_set_int(&br, v);
}

static int put_opt_double(avro_value_t *rec, const char *name, double v, int present)
{
    avro_value_t f, br;
    FIELD(rec, name, &f);
    if (!present)
        return avro_value_set_branch(&f, 0, &br) || avro_value_set_null(&br);
    return avro_value_set_branch(&f, 1, &br) || avro_value_set_double(&br, v);
}

static int put_enum(avro_value_t *rec, const char *name, int v)
{
    avro_value_t f;
    FIELD(rec, name, &f);
    return avro_value_set_enum(&f, v);
}

/* ---------- field helpers (decode) ----------
 * A record from another writer version may lack a field: optional fields then read as
 * null, fields with a default (the *_or getters) as that default, and a missing
 * required field is an error. An int written where a long is read is promoted. */

static int absent(avro_value_t *rec, const char *name, avro_value_t *f)
{
    return avro_value_get_by_name(rec, name, f, NULL) != 0;
}

static int get_str(avro_value_t *rec, const char *name, char **out)
{
    avro_value_t f;
    const char *p = NULL;
    size_t size = 0;

    if (absent(rec, name, &f) || avro_value_get_string(&f, &p, &size))
        return -1;
    *out = strndup(p, size ? size - 1 : 0);
    return *out ? 0 : -1;
}

static int get_str_or(avro_value_t *rec, const char *name, char **out, const char *def)
{
    avro_value_t f;

    if (absent(rec, name, &f)) {
        *out = strdup(def);
        return *out ? 0 : -1;
    }
    return get_str(rec, name, out);
}

/* The current branch of a ["null", X] union; 1 when null or absent. */
static int get_branch(avro_value_t *rec, const char *name, avro_value_t *br)
{
    avro_value_t f;
    int disc = 0;

    if (absent(rec, name, &f))
        return 1;
    if (avro_value_get_discriminant(&f, &disc))
        return -1;
    if (disc == 0)
        return 1;
    return avro_value_get_current_branch(&f, br) ? -1 : 0;
}

static int get_opt_str(avro_value_t *rec, const char *name, char **out)
{
    avro_value_t br;
    const char *p = NULL;
    size_t size = 0;
    int r = get_branch(rec, name, &br);

    *out = NULL;
    if (r)
        return r < 0 ? -1 : 0;
    if (avro_value_get_string(&br, &p, &size))
        return -1;
    *out = strndup(p, size ? size - 1 : 0);
    return *out ? 0 : -1;
}

static int read_long(avro_value_t *f, int64_t *out)
{
    if (avro_value_get_type(f) == AVRO_INT32) {
        int32_t i = 0;
        int rc = avro_value_get_int(f, &i);
        *out = i;
        return rc;
    }
    return avro_value_get_long(f, out);
}

static int get_long(avro_value_t *rec, const char *name, int64_t *out)
{
    avro_value_t f;

    if (absent(rec, name, &f))
        return -1;
    return read_long(&f, out);
}

static int get_opt_long(avro_value_t *rec, const char *name, int64_t *out)
{
    avro_value_t br;
    int r = get_branch(rec, name, &br);

    *out = 0;
    if (r)
        return r < 0 ? -1 : 0;
    return read_long(&br, out);
}

static int get_int(avro_value_t *rec, const char *name, int32_t *out)
{
    avro_value_t f;

    if (absent(rec, name, &f))
        return -1;
    return avro_value_get_int(&f, out);
}

static int get_int_or(avro_value_t *rec, const char *name, int32_t *out, int32_t def)
{
    avro_value_t f;

    if (absent(rec, name, &f)) {
        *out = def;
        return 0;
    }
    return avro_value_get_int(&f, out);
}

static int get_opt_int(avro_value_t *rec, const char *name, int32_t *out, int *present)
{
    avro_value_t br;
    int r = get_branch(rec, name, &br);

    *present = 0;
    *out = 0;
    if (r)
        return r < 0 ? -1 : 0;
    *present = 1;
    return avro_value_get_int(&br, out);
}

static int get_opt_double(avro_value_t *rec, const char *name, double *out, int *present)
{
    avro_value_t br;
    int r = get_branch(rec, name, &br);

    *present = 0;
    *out = 0;
    if (r)
        return r < 0 ? -1 : 0;
    *present = 1;
    return avro_value_get_double(&br, out);
}

static int get_enum(avro_value_t *rec, const char *name, int *out)
{
    avro_value_t f;

    if (absent(rec, name, &f))
        return -1;
    return avro_value_get_enum(&f, out);
}

/* Size of an array field; a missing array with a default reads as empty (0). */
static int get_array(avro_value_t *rec, const char *name, avro_value_t *arr, size_t *n,
                     int has_default)
{
    *n = 0;
    if (absent(rec, name, arr))
        return has_default ? 0 : -1;
    return avro_value_get_size(arr, n);
}

/* ---------- framing ---------- */

static lq_err_t finish_encode(lq_codec_t *c, lq_schema_id_t id, const void **buf, size_t *len,
                              char *errstr, size_t errstr_size)
{
    schema_slot_t *s = &c->slots[id];
    size_t body = 0;
    uint64_t fp = s->fingerprint;
    int i;

    if (avro_value_sizeof(&s->value, &body)) {
        snprintf(errstr, errstr_size, "%s: %s", schema_names[id], avro_strerror());
        return LQ_ERR_AVRO;
    }
    if (body + HEADER_LEN > c->out_cap) {
        size_t ncap = (body + HEADER_LEN) * 2;
        char *np = realloc(c->out, ncap);
        if (!np)
            return LQ_ERR_NOMEM;
        c->out = np;
        c->out_cap = ncap;
    }
    c->out[0] = (char)0xC3;
    c->out[1] = (char)0x01;
    for (i = 0; i < 8; i++)
        c->out[2 + i] = (char)((fp >> (8 * i)) & 0xff);
    avro_writer_memory_set_dest(c->writer, c->out + HEADER_LEN, (int64_t)body);
    if (avro_value_write(c->writer, &s->value)) {
        snprintf(errstr, errstr_size, "%s: %s", schema_names[id], avro_strerror());
        return LQ_ERR_AVRO;
    }
    *buf = c->out;
    *len = body + HEADER_LEN;
    return LQ_OK;
}

/* ---------- bounds check before decoding ----------
 * avro-c allocates what a length prefix says before it reads the bytes, so a record with a
 * bogus length (a corrupt or hostile message) could make it allocate gigabytes. Walk the
 * record against its writer schema first: every length must fit in the bytes that remain
 * and every block count must leave at least one byte per item (or be tiny). */

typedef struct span_reader {
    const unsigned char *p, *end;
} span_reader_t;

static int read_varint(span_reader_t *r, int64_t *out)
{
    uint64_t v = 0;
    int shift = 0;

    while (r->p < r->end && shift < 64) {
        unsigned char b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1); /* zig-zag */
            return 0;
        }
        shift += 7;
    }
    return -1;
}

static int skip_bytes(span_reader_t *r, int64_t n)
{
    if (n < 0 || n > r->end - r->p)
        return -1;
    r->p += n;
    return 0;
}

static int check_value(span_reader_t *r, avro_schema_t s, int depth)
{
    int64_t n, i, key_len;
    size_t k;

    if (depth > 32)
        return -1;
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        return 0;
    case AVRO_BOOLEAN:
        return skip_bytes(r, 1);
    case AVRO_INT32:
    case AVRO_INT64:
    case AVRO_ENUM:
        return read_varint(r, &n);
    case AVRO_FLOAT:
        return skip_bytes(r, 4);
    case AVRO_DOUBLE:
        return skip_bytes(r, 8);
    case AVRO_STRING:
    case AVRO_BYTES:
        return read_varint(r, &n) || skip_bytes(r, n);
    case AVRO_FIXED:
        return skip_bytes(r, avro_schema_fixed_size(s));
    case AVRO_RECORD:
        for (k = 0; k < avro_schema_record_size(s); k++)
            if (check_value(r, avro_schema_record_field_get_by_index(s, (int)k), depth + 1))
                return -1;
        return 0;
    case AVRO_UNION:
        if (read_varint(r, &n) || n < 0 || (size_t)n >= avro_schema_union_size(s))
            return -1;
        return check_value(r, avro_schema_union_branch(s, (int)n), depth + 1);
    case AVRO_ARRAY:
    case AVRO_MAP:
        for (;;) { /* blocks: count (negative: then a byte size), items; 0 ends */
            if (read_varint(r, &n))
                return -1;
            if (n == 0)
                return 0;
            if (n < 0) {
                int64_t size;
                if (n == INT64_MIN)
                    return -1;
                n = -n;
                if (read_varint(r, &size) || size < 0 || size > r->end - r->p)
                    return -1;
            }
            if (n > r->end - r->p + 16)
                return -1; /* more items than bytes left */
            for (i = 0; i < n; i++) {
                if (avro_typeof(s) == AVRO_MAP &&
                    (read_varint(r, &key_len) || skip_bytes(r, key_len)))
                    return -1;
                if (check_value(r, avro_typeof(s) == AVRO_MAP ? avro_schema_map_values(s)
                                                             : avro_schema_array_items(s),
                                depth + 1))
                    return -1;
            }
        }
    case AVRO_LINK:
        return check_value(r, avro_schema_link_target(s), depth + 1);
    }
    return -1;
}

int lq_codec_identify(const lq_codec_t *c, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint64_t fp = 0;
    size_t i, w;
    int id;

    if (!c || len < HEADER_LEN || p[0] != 0xC3 || p[1] != 0x01)
        return -1;
    for (i = 0; i < 8; i++)
        fp |= (uint64_t)p[2 + i] << (8 * i);
    for (id = 0; id < LQ_SCHEMA_COUNT; id++)
        for (w = 0; w < c->slots[id].n_writers; w++)
            if (c->slots[id].writers[w].fingerprint == fp)
                return id;
    return -1;
}

/* Read the framed record into the slot's value, resolving an older writer. */
static lq_err_t start_decode(lq_codec_t *c, lq_schema_id_t id, const void *buf, size_t len,
                             avro_value_t **out, char *errstr, size_t errstr_size)
{
    schema_slot_t *s = &c->slots[id];
    const unsigned char *p = buf;
    uint64_t fp = 0;
    writer_schema_t *w = NULL;
    size_t i;
    int rc;

    if (len < HEADER_LEN || p[0] != 0xC3 || p[1] != 0x01) {
        snprintf(errstr, errstr_size, "%s: not an Avro single-object message", schema_names[id]);
        return LQ_ERR_AVRO;
    }
    for (i = 0; i < 8; i++)
        fp |= (uint64_t)p[2 + i] << (8 * i);
    for (i = 0; i < s->n_writers; i++)
        if (s->writers[i].fingerprint == fp)
            w = &s->writers[i];
    if (!w) {
        snprintf(errstr, errstr_size, "%s: unknown writer schema fingerprint %016llx",
                 schema_names[id], (unsigned long long)fp);
        return LQ_ERR_AVRO;
    }
    {
        span_reader_t sr = {p + HEADER_LEN, p + len};
        if (check_value(&sr, w->iface ? w->schema : s->schema, 0)) {
            snprintf(errstr, errstr_size, "%s: malformed record (a length exceeds the message)",
                     schema_names[id]);
            return LQ_ERR_AVRO;
        }
    }
    *out = w->iface ? &w->value : &s->value;
    avro_value_reset(*out);
    avro_reader_memory_set_source(c->reader, (const char *)p + HEADER_LEN,
                                  (int64_t)(len - HEADER_LEN));
    rc = avro_value_read(c->reader, *out);
    if (rc) {
        snprintf(errstr, errstr_size, "%s: %s", schema_names[id], avro_strerror());
        return LQ_ERR_AVRO;
    }
    return LQ_OK;
}

#define TRY(expr)                                                                              \
    do {                                                                                       \
        if (expr)                                                                              \
            goto bad;                                                                          \
    } while (0)

/* ---------- ChatRequest ---------- */

lq_err_t lq_encode_chat_request(lq_codec_t *c, const lq_chat_request_t *r, const void **buf,
                                size_t *len, char *errstr, size_t errstr_size)
{
    avro_value_t *v = &c->slots[LQ_SCHEMA_CHAT_REQUEST].value, arr, el;
    size_t i;

    avro_value_reset(v);
    TRY(put_str(v, "job_id", r->job_id));
    TRY(put_str(v, "tenant_id", r->tenant_id));
    TRY(put_opt_str(v, "project_id", r->project_id));
    TRY(put_opt_str(v, "api_key_id", r->api_key_id));
    TRY(put_opt_str(v, "user_id", r->user_id));
    TRY(put_long(v, "created_at_ms", r->created_at_ms));
    TRY(put_opt_long(v, "deadline_ms", r->deadline_ms, r->deadline_ms != 0));
    TRY(put_enum(v, "mode", (int)r->mode));
    TRY(put_opt_str(v, "reply_topic", r->reply_topic));
    TRY(put_str(v, "model", r->model));
    TRY(avro_value_get_by_name(v, "messages", &arr, NULL));
    for (i = 0; i < r->n_messages; i++) {
        const lq_message_t *m = &r->messages[i];
        TRY(avro_value_append(&arr, &el, NULL));
        TRY(put_str(&el, "role", m->role));
        TRY(put_str(&el, "content", m->content));
        TRY(put_opt_str(&el, "content_json", m->content_json));
        TRY(put_opt_str(&el, "name", m->name));
        TRY(put_opt_str(&el, "extra_json", m->extra_json));
    }
    TRY(put_opt_int(v, "max_tokens", r->max_tokens, r->has_max_tokens));
    TRY(put_opt_double(v, "temperature", r->temperature, r->has_temperature));
    TRY(put_opt_double(v, "top_p", r->top_p, r->has_top_p));
    TRY(avro_value_get_by_name(v, "stop", &arr, NULL));
    for (i = 0; i < r->n_stop; i++) {
        TRY(avro_value_append(&arr, &el, NULL));
        TRY(avro_value_set_string(&el, r->stop[i]));
    }
    TRY(put_opt_str(v, "user", r->user));
    TRY(put_opt_str(v, "extra_json", r->extra_json));
    TRY(put_int(v, "attempt", r->attempt));
    return finish_encode(c, LQ_SCHEMA_CHAT_REQUEST, buf, len, errstr, errstr_size);
bad:
    snprintf(errstr, errstr_size, "ChatRequest: %s", avro_strerror());
    return LQ_ERR_AVRO;
}

void lq_chat_request_clear(lq_chat_request_t *r)
{
    size_t i;

    if (!r)
        return;
    free(r->user_id);
    free(r->job_id);
    free(r->tenant_id);
    free(r->project_id);
    free(r->api_key_id);
    free(r->reply_topic);
    free(r->model);
    for (i = 0; r->messages && i < r->n_messages; i++) {
        free(r->messages[i].role);
        free(r->messages[i].content);
        free(r->messages[i].content_json);
        free(r->messages[i].name);
        free(r->messages[i].extra_json);
    }
    free(r->messages);
    for (i = 0; r->stop && i < r->n_stop; i++)
        free(r->stop[i]);
    free(r->stop);
    free(r->user);
    free(r->extra_json);
    memset(r, 0, sizeof(*r));
}

lq_err_t lq_decode_chat_request(lq_codec_t *c, const void *buf, size_t len,
                                lq_chat_request_t *r, char *errstr, size_t errstr_size)
{
    avro_value_t *v = &c->slots[LQ_SCHEMA_CHAT_REQUEST].value, arr, el;
    lq_err_t err;
    size_t i, n = 0;
    int e = 0;

    memset(r, 0, sizeof(*r));
    err = start_decode(c, LQ_SCHEMA_CHAT_REQUEST, buf, len, &v, errstr, errstr_size);
    if (err)
        return err;
    TRY(get_str(v, "job_id", &r->job_id));
    TRY(get_str(v, "tenant_id", &r->tenant_id));
    TRY(get_opt_str(v, "project_id", &r->project_id));
    TRY(get_opt_str(v, "api_key_id", &r->api_key_id));
    TRY(get_opt_str(v, "user_id", &r->user_id));
    TRY(get_long(v, "created_at_ms", &r->created_at_ms));
    TRY(get_opt_long(v, "deadline_ms", &r->deadline_ms));
    TRY(get_enum(v, "mode", &e));
    r->mode = (lq_mode_t)e;
    TRY(get_opt_str(v, "reply_topic", &r->reply_topic));
    TRY(get_str(v, "model", &r->model));
    TRY(get_array(v, "messages", &arr, &n, 0));
    r->messages = calloc(n ? n : 1, sizeof(*r->messages));
    TRY(!r->messages);
    for (i = 0; i < n; i++) {
        lq_message_t *m = &r->messages[i];
        r->n_messages = i + 1;
        TRY(avro_value_get_by_index(&arr, i, &el, NULL));
        TRY(get_str(&el, "role", &m->role));
        TRY(get_str(&el, "content", &m->content));
        TRY(get_opt_str(&el, "content_json", &m->content_json));
        TRY(get_opt_str(&el, "name", &m->name));
        TRY(get_opt_str(&el, "extra_json", &m->extra_json));
    }
    TRY(get_opt_int(v, "max_tokens", &r->max_tokens, &r->has_max_tokens));
    TRY(get_opt_double(v, "temperature", &r->temperature, &r->has_temperature));
    TRY(get_opt_double(v, "top_p", &r->top_p, &r->has_top_p));
    TRY(get_array(v, "stop", &arr, &n, 1));
    r->stop = calloc(n ? n : 1, sizeof(*r->stop));
    TRY(!r->stop);
    for (i = 0; i < n; i++) {
        const char *p = NULL;
        size_t size = 0;
        TRY(avro_value_get_by_index(&arr, i, &el, NULL));
        TRY(avro_value_get_string(&el, &p, &size));
        r->stop[i] = strndup(p, size ? size - 1 : 0);
        TRY(!r->stop[i]);
        r->n_stop = i + 1;
    }
    TRY(get_opt_str(v, "user", &r->user));
    TRY(get_opt_str(v, "extra_json", &r->extra_json));
    TRY(get_int_or(v, "attempt", &r->attempt, 0));
    return LQ_OK;
bad:
    snprintf(errstr, errstr_size, "ChatRequest: %s", avro_strerror());
    lq_chat_request_clear(r);
    return LQ_ERR_AVRO;
}

/* ---------- ChatResponse ---------- */

lq_err_t lq_encode_chat_response(lq_codec_t *c, const lq_chat_response_t *r, const void **buf,
                                 size_t *len, char *errstr, size_t errstr_size)
{
    avro_value_t *v = &c->slots[LQ_SCHEMA_CHAT_RESPONSE].value, arr, el, f, br;
    size_t i;

    avro_value_reset(v);
    TRY(put_str(v, "job_id", r->job_id));
    TRY(put_str(v, "tenant_id", r->tenant_id));
    TRY(put_opt_str(v, "project_id", r->project_id));
    TRY(put_opt_str(v, "api_key_id", r->api_key_id));
    TRY(put_enum(v, "status", (int)r->status));
    TRY(put_enum(v, "mode", (int)r->mode));
    TRY(put_str(v, "model", r->model));
    TRY(put_opt_str(v, "provider", r->provider));
    TRY(put_opt_str(v, "provider_model", r->provider_model));
    TRY(put_long(v, "created_at_ms", r->created_at_ms));
    TRY(put_opt_long(v, "started_at_ms", r->started_at_ms, r->started_at_ms != 0));
    TRY(put_opt_long(v, "finished_at_ms", r->finished_at_ms, r->finished_at_ms != 0));
    TRY(avro_value_get_by_name(v, "choices", &arr, NULL));
    for (i = 0; i < r->n_choices; i++) {
        const lq_choice_t *ch = &r->choices[i];
        TRY(avro_value_append(&arr, &el, NULL));
        TRY(put_int(&el, "index", ch->index));
        TRY(put_str(&el, "role", ch->role ? ch->role : "assistant"));
        TRY(put_opt_str(&el, "content", ch->content));
        TRY(put_opt_str(&el, "finish_reason", ch->finish_reason));
        TRY(put_opt_str(&el, "extra_json", ch->extra_json));
    }
    TRY(put_int(v, "prompt_tokens", r->prompt_tokens));
    TRY(put_int(v, "completion_tokens", r->completion_tokens));
    TRY(avro_value_get_by_name(v, "error", &f, NULL));
    if (!r->has_error) {
        TRY(avro_value_set_branch(&f, 0, &br));
        TRY(avro_value_set_null(&br));
    } else {
        TRY(avro_value_set_branch(&f, 1, &br));
        TRY(put_str(&br, "type", r->error.type));
        TRY(put_opt_str(&br, "code", r->error.code));
        TRY(put_str(&br, "message", r->error.message));
        TRY(put_int(&br, "http_status", r->error.http_status));
    }
    TRY(put_int(v, "attempts", r->attempts));
    TRY(put_opt_str(v, "worker_id", r->worker_id));
    TRY(put_int(v, "replay", r->replay));
    TRY(put_opt_str(v, "extra_json", r->extra_json));
    return finish_encode(c, LQ_SCHEMA_CHAT_RESPONSE, buf, len, errstr, errstr_size);
bad:
    snprintf(errstr, errstr_size, "ChatResponse: %s", avro_strerror());
    return LQ_ERR_AVRO;
}

void lq_chat_response_clear(lq_chat_response_t *r)
{
    size_t i;

    if (!r)
        return;
    free(r->job_id);
    free(r->tenant_id);
    free(r->project_id);
    free(r->api_key_id);
    free(r->model);
    free(r->provider);
    free(r->provider_model);
    for (i = 0; r->choices && i < r->n_choices; i++) {
        free(r->choices[i].role);
        free(r->choices[i].content);
        free(r->choices[i].finish_reason);
        free(r->choices[i].extra_json);
    }
    free(r->choices);
    free(r->error.type);
    free(r->error.code);
    free(r->error.message);
    free(r->worker_id);
    free(r->extra_json);
    memset(r, 0, sizeof(*r));
}

lq_err_t lq_decode_chat_response(lq_codec_t *c, const void *buf, size_t len,
                                 lq_chat_response_t *r, char *errstr, size_t errstr_size)
{
    avro_value_t *v = &c->slots[LQ_SCHEMA_CHAT_RESPONSE].value, arr, el, br;
    lq_err_t err;
    size_t i, n = 0;
    int e = 0, rc;

    memset(r, 0, sizeof(*r));
    err = start_decode(c, LQ_SCHEMA_CHAT_RESPONSE, buf, len, &v, errstr, errstr_size);
    if (err)
        return err;
    TRY(get_str(v, "job_id", &r->job_id));
    TRY(get_str(v, "tenant_id", &r->tenant_id));
    TRY(get_opt_str(v, "project_id", &r->project_id));
    TRY(get_opt_str(v, "api_key_id", &r->api_key_id));
    TRY(get_enum(v, "status", &e));
    r->status = (lq_job_status_t)e;
    TRY(get_enum(v, "mode", &e));
    r->mode = (lq_mode_t)e;
    TRY(get_str(v, "model", &r->model));
    TRY(get_opt_str(v, "provider", &r->provider));
    TRY(get_opt_str(v, "provider_model", &r->provider_model));
    TRY(get_long(v, "created_at_ms", &r->created_at_ms));
    TRY(get_opt_long(v, "started_at_ms", &r->started_at_ms));
    TRY(get_opt_long(v, "finished_at_ms", &r->finished_at_ms));
    TRY(get_array(v, "choices", &arr, &n, 1));
    r->choices = calloc(n ? n : 1, sizeof(*r->choices));
    TRY(!r->choices);
    for (i = 0; i < n; i++) {
        lq_choice_t *ch = &r->choices[i];
        r->n_choices = i + 1;
        TRY(avro_value_get_by_index(&arr, i, &el, NULL));
        TRY(get_int(&el, "index", &ch->index));
        TRY(get_str_or(&el, "role", &ch->role, "assistant"));
        TRY(get_opt_str(&el, "content", &ch->content));
        TRY(get_opt_str(&el, "finish_reason", &ch->finish_reason));
        TRY(get_opt_str(&el, "extra_json", &ch->extra_json));
    }
    TRY(get_int_or(v, "prompt_tokens", &r->prompt_tokens, 0));
    TRY(get_int_or(v, "completion_tokens", &r->completion_tokens, 0));
    rc = get_branch(v, "error", &br);
    TRY(rc < 0);
    if (rc == 0) {
        r->has_error = 1;
        TRY(get_str(&br, "type", &r->error.type));
        TRY(get_opt_str(&br, "code", &r->error.code));
        TRY(get_str(&br, "message", &r->error.message));
        TRY(get_int_or(&br, "http_status", &r->error.http_status, 500));
    }
    TRY(get_int_or(v, "attempts", &r->attempts, 1));
    TRY(get_opt_str(v, "worker_id", &r->worker_id));
    TRY(get_int_or(v, "replay", &r->replay, 0));
    TRY(get_opt_str(v, "extra_json", &r->extra_json));
    return LQ_OK;
bad:
    snprintf(errstr, errstr_size, "ChatResponse: %s", avro_strerror());
    lq_chat_response_clear(r);
    return LQ_ERR_AVRO;
}

/* ---------- UsageEvent ---------- */

lq_err_t lq_encode_usage_event(lq_codec_t *c, const lq_usage_event_t *u, const void **buf,
                               size_t *len, char *errstr, size_t errstr_size)
{
    avro_value_t *v = &c->slots[LQ_SCHEMA_USAGE_EVENT].value;

    avro_value_reset(v);
    TRY(put_str(v, "event_id", u->event_id));
    TRY(put_str(v, "job_id", u->job_id));
    TRY(put_str(v, "tenant_id", u->tenant_id));
    TRY(put_opt_str(v, "project_id", u->project_id));
    TRY(put_opt_str(v, "api_key_id", u->api_key_id));
    TRY(put_opt_str(v, "user_id", u->user_id));
    TRY(put_str(v, "model", u->model));
    TRY(put_str(v, "provider", u->provider));
    TRY(put_opt_str(v, "provider_model", u->provider_model));
    TRY(put_enum(v, "status", (int)u->status));
    TRY(put_int(v, "prompt_tokens", u->prompt_tokens));
    TRY(put_int(v, "completion_tokens", u->completion_tokens));
    TRY(put_opt_double(v, "cost_usd", u->cost_usd, u->has_cost));
    TRY(put_int(v, "latency_ms", u->latency_ms));
    TRY(put_long(v, "ts_ms", u->ts_ms));
    return finish_encode(c, LQ_SCHEMA_USAGE_EVENT, buf, len, errstr, errstr_size);
bad:
    snprintf(errstr, errstr_size, "UsageEvent: %s", avro_strerror());
    return LQ_ERR_AVRO;
}

void lq_usage_event_clear(lq_usage_event_t *u)
{
    if (!u)
        return;
    free(u->event_id);
    free(u->job_id);
    free(u->tenant_id);
    free(u->project_id);
    free(u->api_key_id);
    free(u->user_id);
    free(u->model);
    free(u->provider);
    free(u->provider_model);
    memset(u, 0, sizeof(*u));
}

lq_err_t lq_decode_usage_event(lq_codec_t *c, const void *buf, size_t len, lq_usage_event_t *u,
                               char *errstr, size_t errstr_size)
{
    avro_value_t *v = &c->slots[LQ_SCHEMA_USAGE_EVENT].value;
    lq_err_t err;
    int e = 0;

    memset(u, 0, sizeof(*u));
    err = start_decode(c, LQ_SCHEMA_USAGE_EVENT, buf, len, &v, errstr, errstr_size);
    if (err)
        return err;
    TRY(get_str(v, "event_id", &u->event_id));
    TRY(get_str(v, "job_id", &u->job_id));
    TRY(get_str(v, "tenant_id", &u->tenant_id));
    TRY(get_opt_str(v, "project_id", &u->project_id));
    TRY(get_opt_str(v, "api_key_id", &u->api_key_id));
    TRY(get_opt_str(v, "user_id", &u->user_id));
    TRY(get_str(v, "model", &u->model));
    TRY(get_str(v, "provider", &u->provider));
    TRY(get_opt_str(v, "provider_model", &u->provider_model));
    TRY(get_enum(v, "status", &e));
    u->status = (lq_job_status_t)e;
    TRY(get_int(v, "prompt_tokens", &u->prompt_tokens));
    TRY(get_int(v, "completion_tokens", &u->completion_tokens));
    TRY(get_opt_double(v, "cost_usd", &u->cost_usd, &u->has_cost));
    TRY(get_int(v, "latency_ms", &u->latency_ms));
    TRY(get_long(v, "ts_ms", &u->ts_ms));
    return LQ_OK;
bad:
    snprintf(errstr, errstr_size, "UsageEvent: %s", avro_strerror());
    lq_usage_event_clear(u);
    return LQ_ERR_AVRO;
}

/* ---------- TraceEvent ---------- */

lq_err_t lq_encode_trace_event(lq_codec_t *c, const lq_trace_event_t *t, const void **buf,
                               size_t *len, char *errstr, size_t errstr_size)
{
    avro_value_t *v = &c->slots[LQ_SCHEMA_TRACE_EVENT].value, arr, el, map, mv;
    size_t i, k;

    avro_value_reset(v);
    TRY(put_str(v, "trace_id", t->trace_id));
    TRY(put_str(v, "job_id", t->job_id));
    TRY(put_str(v, "tenant_id", t->tenant_id));
    TRY(put_opt_str(v, "project_id", t->project_id));
    TRY(put_opt_str(v, "api_key_id", t->api_key_id));
    TRY(put_opt_str(v, "user_id", t->user_id));
    TRY(put_str(v, "model", t->model));
    TRY(put_str(v, "provider", t->provider));
    TRY(put_enum(v, "status", (int)t->status));
    TRY(put_str(v, "route", t->route));
    TRY(put_str(v, "worker_id", t->worker_id));
    TRY(put_long(v, "created_at_ms", t->created_at_ms));
    TRY(put_int(v, "queue_ms", t->queue_ms));
    TRY(put_int(v, "provider_ms", t->provider_ms));
    TRY(put_int(v, "total_ms", t->total_ms));
    TRY(avro_value_get_by_name(v, "spans", &arr, NULL));
    for (i = 0; i < t->n_spans; i++) {
        const lq_span_t *s = &t->spans[i];
        TRY(avro_value_append(&arr, &el, NULL));
        TRY(put_str(&el, "name", s->name));
        TRY(put_long(&el, "start_ms", s->start_ms));
        TRY(put_int(&el, "duration_ms", s->duration_ms));
        TRY(avro_value_get_by_name(&el, "attrs", &map, NULL));
        for (k = 0; k < s->n_attrs; k++) {
            TRY(avro_value_add(&map, s->attr_keys[k], &mv, NULL, NULL));
            TRY(avro_value_set_string(&mv, s->attr_values[k] ? s->attr_values[k] : ""));
        }
    }
    return finish_encode(c, LQ_SCHEMA_TRACE_EVENT, buf, len, errstr, errstr_size);
bad:
    snprintf(errstr, errstr_size, "TraceEvent: %s", avro_strerror());
    return LQ_ERR_AVRO;
}

void lq_trace_event_clear(lq_trace_event_t *t)
{
    size_t i, k;

    if (!t)
        return;
    free(t->trace_id);
    free(t->job_id);
    free(t->tenant_id);
    free(t->project_id);
    free(t->api_key_id);
    free(t->user_id);
    free(t->model);
    free(t->provider);
    free(t->route);
    free(t->worker_id);
    for (i = 0; t->spans && i < t->n_spans; i++) {
        lq_span_t *s = &t->spans[i];
        free(s->name);
        for (k = 0; k < s->n_attrs; k++) {
            free(s->attr_keys[k]);
            free(s->attr_values[k]);
        }
        free(s->attr_keys);
        free(s->attr_values);
    }
    free(t->spans);
    memset(t, 0, sizeof(*t));
}

lq_err_t lq_decode_trace_event(lq_codec_t *c, const void *buf, size_t len, lq_trace_event_t *t,
                               char *errstr, size_t errstr_size)
{
    avro_value_t *v = &c->slots[LQ_SCHEMA_TRACE_EVENT].value, arr, el, map, mv;
    lq_err_t err;
    size_t i, k, n = 0, na = 0;
    int e = 0;

    memset(t, 0, sizeof(*t));
    err = start_decode(c, LQ_SCHEMA_TRACE_EVENT, buf, len, &v, errstr, errstr_size);
    if (err)
        return err;
    TRY(get_str(v, "trace_id", &t->trace_id));
    TRY(get_str(v, "job_id", &t->job_id));
    TRY(get_str(v, "tenant_id", &t->tenant_id));
    TRY(get_opt_str(v, "project_id", &t->project_id));
    TRY(get_opt_str(v, "api_key_id", &t->api_key_id));
    TRY(get_opt_str(v, "user_id", &t->user_id));
    TRY(get_str(v, "model", &t->model));
    TRY(get_str(v, "provider", &t->provider));
    TRY(get_enum(v, "status", &e));
    t->status = (lq_job_status_t)e;
    TRY(get_str(v, "route", &t->route));
    TRY(get_str(v, "worker_id", &t->worker_id));
    TRY(get_long(v, "created_at_ms", &t->created_at_ms));
    TRY(get_int(v, "queue_ms", &t->queue_ms));
    TRY(get_int(v, "provider_ms", &t->provider_ms));
    TRY(get_int(v, "total_ms", &t->total_ms));
    TRY(get_array(v, "spans", &arr, &n, 1));
    t->spans = calloc(n ? n : 1, sizeof(*t->spans));
    TRY(!t->spans);
    for (i = 0; i < n; i++) {
        lq_span_t *s = &t->spans[i];
        t->n_spans = i + 1;
        TRY(avro_value_get_by_index(&arr, i, &el, NULL));
        TRY(get_str(&el, "name", &s->name));
        TRY(get_long(&el, "start_ms", &s->start_ms));
        TRY(get_int(&el, "duration_ms", &s->duration_ms));
        TRY(get_array(&el, "attrs", &map, &na, 1));
        s->attr_keys = calloc(na ? na : 1, sizeof(char *));
        s->attr_values = calloc(na ? na : 1, sizeof(char *));
        TRY(!s->attr_keys || !s->attr_values);
        for (k = 0; k < na; k++) {
            const char *key = NULL, *p = NULL;
            size_t size = 0;
            TRY(avro_value_get_by_index(&map, k, &mv, &key));
            TRY(avro_value_get_string(&mv, &p, &size));
            s->attr_keys[k] = strdup(key);
            s->attr_values[k] = strndup(p, size ? size - 1 : 0);
            s->n_attrs = k + 1;
            TRY(!s->attr_keys[k] || !s->attr_values[k]);
        }
    }
    return LQ_OK;
bad:
    snprintf(errstr, errstr_size, "TraceEvent: %s", avro_strerror());
    lq_trace_event_clear(t);
    return LQ_ERR_AVRO;
}

/* ---------- ChatChunk ---------- */

lq_err_t lq_encode_chat_chunk(lq_codec_t *c, const lq_chat_chunk_t *k, const void **buf,
                              size_t *len, char *errstr, size_t errstr_size)
{
    avro_value_t *v = &c->slots[LQ_SCHEMA_CHAT_CHUNK].value;

    avro_value_reset(v);
    TRY(put_str(v, "job_id", k->job_id));
    TRY(put_int(v, "seq", k->seq));
    TRY(put_str(v, "delta", k->delta ? k->delta : ""));
    TRY(put_opt_str(v, "provider_model", k->provider_model));
    TRY(put_opt_str(v, "worker_id", k->worker_id));
    TRY(put_long(v, "ts_ms", k->ts_ms));
    return finish_encode(c, LQ_SCHEMA_CHAT_CHUNK, buf, len, errstr, errstr_size);
bad:
    snprintf(errstr, errstr_size, "ChatChunk: %s", avro_strerror());
    return LQ_ERR_AVRO;
}

void lq_chat_chunk_clear(lq_chat_chunk_t *k)
{
    if (!k)
        return;
    free(k->job_id);
    free(k->delta);
    free(k->provider_model);
    free(k->worker_id);
    memset(k, 0, sizeof(*k));
}

lq_err_t lq_decode_chat_chunk(lq_codec_t *c, const void *buf, size_t len, lq_chat_chunk_t *k,
                              char *errstr, size_t errstr_size)
{
    avro_value_t *v = &c->slots[LQ_SCHEMA_CHAT_CHUNK].value;
    lq_err_t err;

    memset(k, 0, sizeof(*k));
    err = start_decode(c, LQ_SCHEMA_CHAT_CHUNK, buf, len, &v, errstr, errstr_size);
    if (err)
        return err;
    TRY(get_str(v, "job_id", &k->job_id));
    TRY(get_int(v, "seq", &k->seq));
    TRY(get_str(v, "delta", &k->delta));
    TRY(get_opt_str(v, "provider_model", &k->provider_model));
    TRY(get_opt_str(v, "worker_id", &k->worker_id));
    TRY(get_long(v, "ts_ms", &k->ts_ms));
    return LQ_OK;
bad:
    snprintf(errstr, errstr_size, "ChatChunk: %s", avro_strerror());
    lq_chat_chunk_clear(k);
    return LQ_ERR_AVRO;
}

/* ---------- JobCancel ---------- */

lq_err_t lq_encode_job_cancel(lq_codec_t *c, const lq_job_cancel_t *k, const void **buf,
                              size_t *len, char *errstr, size_t errstr_size)
{
    avro_value_t *v = &c->slots[LQ_SCHEMA_JOB_CANCEL].value;

    avro_value_reset(v);
    TRY(put_str(v, "job_id", k->job_id));
    TRY(put_str(v, "tenant_id", k->tenant_id));
    TRY(put_str(v, "reason", k->reason));
    TRY(put_long(v, "ts_ms", k->ts_ms));
    return finish_encode(c, LQ_SCHEMA_JOB_CANCEL, buf, len, errstr, errstr_size);
bad:
    snprintf(errstr, errstr_size, "JobCancel: %s", avro_strerror());
    return LQ_ERR_AVRO;
}

void lq_job_cancel_clear(lq_job_cancel_t *k)
{
    if (!k)
        return;
    free(k->job_id);
    free(k->tenant_id);
    free(k->reason);
    memset(k, 0, sizeof(*k));
}

lq_err_t lq_decode_job_cancel(lq_codec_t *c, const void *buf, size_t len, lq_job_cancel_t *k,
                              char *errstr, size_t errstr_size)
{
    avro_value_t *v = &c->slots[LQ_SCHEMA_JOB_CANCEL].value;
    lq_err_t err;

    memset(k, 0, sizeof(*k));
    err = start_decode(c, LQ_SCHEMA_JOB_CANCEL, buf, len, &v, errstr, errstr_size);
    if (err)
        return err;
    TRY(get_str(v, "job_id", &k->job_id));
    TRY(get_str(v, "tenant_id", &k->tenant_id));
    TRY(get_str(v, "reason", &k->reason));
    TRY(get_long(v, "ts_ms", &k->ts_ms));
    return LQ_OK;
bad:
    snprintf(errstr, errstr_size, "JobCancel: %s", avro_strerror());
    lq_job_cancel_clear(k);
    return LQ_ERR_AVRO;
}

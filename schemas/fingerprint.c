#include "schemas/fingerprint.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
} sbuf_t;

static void put(sbuf_t *b, const char *s)
{
    size_t n = strlen(s);

    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = (b->len + n + 1) * 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

static void put_quoted(sbuf_t *b, const char *s)
{
    /* Avro names and symbols are [A-Za-z0-9_.]: no escaping needed. */
    put(b, "\"");
    put(b, s);
    put(b, "\"");
}

static int is_primitive(const char *t)
{
    static const char *const prims[] = {"null",  "boolean", "int",   "long",
                                        "float", "double",  "bytes", "string"};
    size_t i;

    for (i = 0; i < sizeof(prims) / sizeof(prims[0]); i++)
        if (strcmp(t, prims[i]) == 0)
            return 1;
    return 0;
}

static void put_fullname(sbuf_t *b, const char *name, const char *ns)
{
    if (strchr(name, '.') || !ns || !*ns) {
        put_quoted(b, name);
        return;
    }
    put(b, "\"");
    put(b, ns);
    put(b, ".");
    put(b, name);
    put(b, "\"");
}

static int pcf(sbuf_t *b, json_t *node, const char *ns, char *errstr, size_t errstr_size);

static int pcf_named(sbuf_t *b, json_t *node, const char *type, const char *ns, char *errstr,
                     size_t errstr_size)
{
    const char *name = json_string_value(json_object_get(node, "name"));
    const char *own_ns = json_string_value(json_object_get(node, "namespace"));
    char nsbuf[512];
    const char *new_ns = ns;

    if (!name) {
        snprintf(errstr, errstr_size, "named type without a name");
        return -1;
    }
    if (strchr(name, '.')) {
        const char *dot = strrchr(name, '.');
        snprintf(nsbuf, sizeof(nsbuf), "%.*s", (int)(dot - name), name);
        new_ns = nsbuf;
    } else if (own_ns) {
        new_ns = own_ns;
    }
    put(b, "{\"name\":");
    put_fullname(b, name, new_ns);
    put(b, ",\"type\":");
    put_quoted(b, type);
    if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0) {
        json_t *fields = json_object_get(node, "fields"), *f;
        size_t i;
        put(b, ",\"fields\":[");
        json_array_foreach(fields, i, f)
        {
            const char *fname = json_string_value(json_object_get(f, "name"));
            if (!fname) {
                snprintf(errstr, errstr_size, "field without a name in %s", name);
                return -1;
            }
            if (i)
                put(b, ",");
            put(b, "{\"name\":");
            put_quoted(b, fname);
            put(b, ",\"type\":");
            if (pcf(b, json_object_get(f, "type"), new_ns, errstr, errstr_size))
                return -1;
            put(b, "}");
        }
        put(b, "]");
    } else if (strcmp(type, "enum") == 0) {
        json_t *syms = json_object_get(node, "symbols"), *s;
        size_t i;
        put(b, ",\"symbols\":[");
        json_array_foreach(syms, i, s)
        {
            if (i)
                put(b, ",");
            put_quoted(b, json_string_value(s) ? json_string_value(s) : "");
        }
        put(b, "]");
    } else { /* fixed */
        char num[32];
        snprintf(num, sizeof(num), "%lld",
                 (long long)json_integer_value(json_object_get(node, "size")));
        put(b, ",\"size\":");
        put(b, num);
    }
    put(b, "}");
    return 0;
}

static int pcf(sbuf_t *b, json_t *node, const char *ns, char *errstr, size_t errstr_size)
{
    if (json_is_string(node)) {
        const char *t = json_string_value(node);
        if (is_primitive(t))
            put_quoted(b, t);
        else
            put_fullname(b, t, ns);
        return 0;
    }
    if (json_is_array(node)) {
        json_t *v;
        size_t i;
        put(b, "[");
        json_array_foreach(node, i, v)
        {
            if (i)
                put(b, ",");
            if (pcf(b, v, ns, errstr, errstr_size))
                return -1;
        }
        put(b, "]");
        return 0;
    }
    if (json_is_object(node)) {
        json_t *type = json_object_get(node, "type");
        const char *t = json_string_value(type);
        if (!type) {
            snprintf(errstr, errstr_size, "schema object without \"type\"");
            return -1;
        }
        if (!t)
            return pcf(b, type, ns, errstr, errstr_size);
        if (is_primitive(t)) {
            put_quoted(b, t);
            return 0;
        }
        if (!strcmp(t, "record") || !strcmp(t, "error") || !strcmp(t, "enum") ||
            !strcmp(t, "fixed"))
            return pcf_named(b, node, t, ns, errstr, errstr_size);
        if (!strcmp(t, "array")) {
            put(b, "{\"type\":\"array\",\"items\":");
            if (pcf(b, json_object_get(node, "items"), ns, errstr, errstr_size))
                return -1;
            put(b, "}");
            return 0;
        }
        if (!strcmp(t, "map")) {
            put(b, "{\"type\":\"map\",\"values\":");
            if (pcf(b, json_object_get(node, "values"), ns, errstr, errstr_size))
                return -1;
            put(b, "}");
            return 0;
        }
        put_fullname(b, t, ns); /* a reference to a named type */
        return 0;
    }
    snprintf(errstr, errstr_size, "unexpected JSON in schema");
    return -1;
}

lq_err_t lq_avro_canonical_form(const char *schema_json, char **out, char *errstr,
                                size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = json_loads(schema_json, JSON_DECODE_ANY, &jerr);
    sbuf_t b = {NULL, 0, 0, 0};
    lq_err_t err = LQ_ERR_INVALID;

    *out = NULL;
    if (!root) {
        snprintf(errstr, errstr_size, "schema JSON: %s (line %d)", jerr.text, jerr.line);
        return LQ_ERR_JSON;
    }
    if (pcf(&b, root, NULL, errstr, errstr_size))
        goto out;
    if (b.failed) {
        err = LQ_ERR_NOMEM;
        goto out;
    }
    *out = b.p;
    b.p = NULL;
    err = LQ_OK;
out:
    free(b.p);
    json_decref(root);
    return err;
}

#define CRC64_EMPTY 0xc15d213aa4d7a795ULL

static uint64_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void)
{
    uint64_t i;
    int j;

    for (i = 0; i < 256; i++) {
        uint64_t f = i;
        for (j = 0; j < 8; j++)
            f = (f >> 1) ^ (CRC64_EMPTY & (0 - (f & 1)));
        crc_table[i] = f;
    }
}

uint64_t lq_avro_crc64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t fp = CRC64_EMPTY;
    size_t i;

    pthread_once(&crc_once, crc_table_init);
    for (i = 0; i < len; i++)
        fp = (fp >> 8) ^ crc_table[(fp ^ p[i]) & 0xff];
    return fp;
}

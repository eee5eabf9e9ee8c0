#include "schemas/writer_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SKIP_DEPTH 32

typedef struct compile_ctx {
    int exact;
    lq_err_t err;
    char *errstr;
    size_t errstr_size;
} compile_ctx_t;

static int compile_record(compile_ctx_t *cc, avro_schema_t w, const lq_record_desc_t *rec,
                          lq_plan_t **out);

static int refuse(compile_ctx_t *cc, const char *name, const char *why)
{
    snprintf(cc->errstr, cc->errstr_size, "%s: %s", name, why);
    return -1;
}

static int out_of_memory(compile_ctx_t *cc, const char *name)
{
    cc->err = LQ_ERR_NOMEM;
    return refuse(cc, name, "out of memory");
}

static avro_schema_t follow(avro_schema_t s)
{
    while (s && is_avro_link(s))
        s = avro_schema_link_target(s);
    return s;
}

static const lq_field_t *find_field(const lq_record_desc_t *rec, const char *name)
{
    size_t i;

    for (i = 0; i < rec->n_fields; i++)
        if (strcmp(rec->fields[i].name, name) == 0)
            return &rec->fields[i];
    return NULL;
}

/* Whether a writer value of type t reads as the table's kind (exact: only its own type). */
static int readable(lq_field_kind_t kind, avro_type_t t, int exact)
{
    switch (kind) {
    case LQ_FIELD_STRING:
        return t == AVRO_STRING || (!exact && t == AVRO_BYTES);
    case LQ_FIELD_INT:
        return t == AVRO_INT32;
    case LQ_FIELD_LONG:
        return t == AVRO_INT64 || (!exact && t == AVRO_INT32);
    case LQ_FIELD_DOUBLE:
        return t == AVRO_DOUBLE ||
               (!exact && (t == AVRO_INT32 || t == AVRO_INT64 || t == AVRO_FLOAT));
    case LQ_FIELD_ENUM:
        return t == AVRO_ENUM;
    case LQ_FIELD_RECORD:
        return t == AVRO_RECORD;
    case LQ_FIELD_ARRAY:
        return t == AVRO_ARRAY;
    case LQ_FIELD_MAP:
        return t == AVRO_MAP;
    }
    return 0;
}

/* A value of the table's field f (or of an array's items) written as t. */
static int compile_value(compile_ctx_t *cc, lq_plan_step_t *s, const lq_field_t *f, avro_schema_t t)
{
    if (!t || !readable(f->kind, avro_typeof(t), cc->exact))
        return refuse(cc, s->name, "the writer's type cannot be read as the table's");
    switch (f->kind) {
    case LQ_FIELD_DOUBLE:
        s->value_type = avro_typeof(t);
        return 0;
    case LQ_FIELD_ENUM:
        s->n_symbols = (int)avro_schema_enum_number_of_symbols(t);
        if (cc->exact && s->n_symbols != f->n_symbols)
            return refuse(cc, s->name, "the enum's symbols differ from the table's");
        return 0;
    case LQ_FIELD_RECORD:
        return compile_record(cc, t, f->rec, &s->sub);
    case LQ_FIELD_ARRAY:
        return compile_value(cc, s, f->items, follow(avro_schema_array_items(t)));
    case LQ_FIELD_MAP:
        if (!readable(LQ_FIELD_STRING, avro_typeof(follow(avro_schema_map_values(t))), cc->exact))
            return refuse(cc, s->name, "a map of something other than strings");
        return 0;
    default:
        return 0;
    }
}

/* A writer union: its null branch and the one other branch llmq reads. */
static int split_union(compile_ctx_t *cc, lq_plan_step_t *s, avro_schema_t *value)
{
    size_t i, n = avro_schema_union_size(s->type);

    for (i = 0; i < n; i++) {
        avro_schema_t b = follow(avro_schema_union_branch(s->type, (int)i));
        if (is_avro_null(b) && s->null_branch < 0) {
            s->null_branch = (int)i;
        } else if (s->value_branch < 0) {
            s->value_branch = (int)i;
            *value = b;
        } else {
            return refuse(cc, s->name, "a union of more than null and one type");
        }
    }
    if (s->value_branch < 0)
        return refuse(cc, s->name, "a union of null alone");
    return 0;
}

static int compile_step(compile_ctx_t *cc, lq_plan_step_t *s)
{
    int optional = (s->field->flags & LQ_FIELD_OPTIONAL) != 0;
    avro_schema_t t = s->type;

    s->null_branch = s->value_branch = -1;
    if (is_avro_union(t) && split_union(cc, s, &t))
        return -1;
    if (cc->exact &&
        (optional ? s->null_branch != 0 || s->value_branch != 1 : s->value_branch >= 0))
        return refuse(cc, s->name,
                      "optional (a union with null first) in one of the schema "
                      "and the table, not the other");
    return compile_value(cc, s, s->field, t);
}

/* Whether one of the first n steps already fills f (a decode would then leak the first). */
static int filled_before(const lq_plan_t *p, size_t n, const lq_field_t *f)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (p->steps[i].field == f)
            return 1;
    return 0;
}

static int match_fields(compile_ctx_t *cc, avro_schema_t w, lq_plan_t *p)
{
    size_t i;

    for (i = 0; i < p->n_steps; i++) {
        lq_plan_step_t *s = &p->steps[i];
        s->name = avro_schema_record_field_name(w, (int)i);
        s->type = follow(avro_schema_record_field_get_by_index(w, (int)i));
        s->field = find_field(p->rec, s->name);
        if (cc->exact && s->field != &p->rec->fields[i])
            return refuse(cc, s->name, "not the table's field at this position");
        if (s->field && filled_before(p, i, s->field))
            return refuse(cc, s->name, "twice in the writer");
        if (s->field && compile_step(cc, s))
            return -1;
    }
    return 0;
}

static int find_missing(compile_ctx_t *cc, avro_schema_t w, lq_plan_t *p)
{
    size_t i;

    for (i = 0; i < p->rec->n_fields; i++) {
        const lq_field_t *f = &p->rec->fields[i];
        if (avro_schema_record_field_get_index(w, f->name) >= 0)
            continue;
        if (cc->exact || !(f->flags & (LQ_FIELD_OPTIONAL | LQ_FIELD_DEFAULT)))
            return refuse(cc, f->name, "missing from the writer, and it has no default");
        p->missing[p->n_missing++] = f;
    }
    return 0;
}

static int compile_record(compile_ctx_t *cc, avro_schema_t w, const lq_record_desc_t *rec,
                          lq_plan_t **out)
{
    size_t n = avro_schema_record_size(w);
    lq_plan_t *p = calloc(1, sizeof(*p));

    *out = p; /* freed by the caller on failure, however far it got */
    if (!p)
        return out_of_memory(cc, rec->name);
    p->rec = rec;
    p->steps = calloc(n ? n : 1, sizeof(*p->steps));
    p->missing = calloc(rec->n_fields, sizeof(*p->missing));
    if (!p->steps || !p->missing)
        return out_of_memory(cc, rec->name);
    p->n_steps = n;
    if (cc->exact && n != rec->n_fields)
        return refuse(cc, rec->name, "the schema and the table have different fields");
    return match_fields(cc, w, p) || find_missing(cc, w, p) ? -1 : 0;
}

lq_err_t lq_plan_compile(avro_schema_t writer, const lq_record_desc_t *rec, int exact,
                         lq_plan_t **out, char *errstr, size_t errstr_size)
{
    compile_ctx_t cc = {exact, LQ_ERR_AVRO, errstr, errstr_size};

    *out = NULL;
    writer = follow(writer);
    if (!writer || !is_avro_record(writer)) {
        snprintf(errstr, errstr_size, "the writer schema is not a record");
        return LQ_ERR_AVRO;
    }
    if (compile_record(&cc, writer, rec, out) == 0)
        return LQ_OK;
    lq_plan_free(*out);
    *out = NULL;
    return cc.err;
}

void lq_plan_free(lq_plan_t *p)
{
    size_t i;

    if (!p)
        return;
    for (i = 0; p->steps && i < p->n_steps; i++)
        lq_plan_free(p->steps[i].sub);
    free(p->steps);
    free(p->missing);
    free(p);
}

/* ---------- skipping what the table does not know ---------- */

static int skip_value(lq_avro_in_t *in, avro_schema_t s, int depth);

static int skip_record(lq_avro_in_t *in, avro_schema_t s, int depth)
{
    size_t i, n = avro_schema_record_size(s);

    for (i = 0; i < n; i++)
        if (skip_value(in, avro_schema_record_field_get_by_index(s, (int)i), depth + 1))
            return -1;
    return 0;
}

static int skip_union(lq_avro_in_t *in, avro_schema_t s, int depth)
{
    int64_t b;

    if (lq_avro_get_long(in, &b) || b < 0 || (size_t)b >= avro_schema_union_size(s))
        return -1;
    return skip_value(in, avro_schema_union_branch(s, (int)b), depth + 1);
}

/* Arrays and maps: blocks of items (a map's each after its key) until a count of 0. */
static int skip_blocks(lq_avro_in_t *in, avro_schema_t items, int keyed, int depth)
{
    const unsigned char *key;
    size_t n, i, key_len;

    for (;;) {
        if (lq_avro_get_block(in, &n))
            return -1;
        if (n == 0)
            return 0;
        for (i = 0; i < n; i++)
            if ((keyed && lq_avro_get_bytes(in, &key, &key_len)) ||
                skip_value(in, items, depth + 1))
                return -1;
    }
}

static int skip_value(lq_avro_in_t *in, avro_schema_t s, int depth)
{
    const unsigned char *p;
    size_t len;
    int64_t v;

    if (depth > MAX_SKIP_DEPTH)
        return -1;
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        return 0;
    case AVRO_BOOLEAN:
        return lq_avro_get_raw(in, 1, &p);
    case AVRO_INT32:
    case AVRO_INT64:
    case AVRO_ENUM:
        return lq_avro_get_long(in, &v);
    case AVRO_FLOAT:
        return lq_avro_get_raw(in, 4, &p);
    case AVRO_DOUBLE:
        return lq_avro_get_raw(in, 8, &p);
    case AVRO_STRING:
    case AVRO_BYTES:
        return lq_avro_get_bytes(in, &p, &len);
    case AVRO_FIXED:
        return lq_avro_get_raw(in, avro_schema_fixed_size(s), &p);
    case AVRO_RECORD:
        return skip_record(in, s, depth);
    case AVRO_UNION:
        return skip_union(in, s, depth);
    case AVRO_ARRAY:
        return skip_blocks(in, avro_schema_array_items(s), 0, depth);
    case AVRO_MAP:
        return skip_blocks(in, avro_schema_map_values(s), 1, depth);
    case AVRO_LINK:
        return skip_value(in, avro_schema_link_target(s), depth + 1);
    }
    return -1;
}

int lq_plan_skip(lq_avro_in_t *in, avro_schema_t type)
{
    return skip_value(in, type, 0);
}

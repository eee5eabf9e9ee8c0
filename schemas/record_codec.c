#include "schemas/record_codec.h"

#include <stdlib.h>
#include <string.h>

/* Fields are reached as base + offset. Pointers are moved with memcpy, whatever they point
 * to (char *, lq_message_t *, ...); numbers through pointers of their own type. */

static const void *at(const void *base, size_t off)
{
    return (const char *)base + off;
}

static void *at_mut(void *base, size_t off)
{
    return (char *)base + off;
}

static void *ptr_at(const void *base, size_t off)
{
    void *p;

    memcpy(&p, at(base, off), sizeof(p));
    return p;
}

static void set_ptr(void *base, size_t off, void *p)
{
    memcpy(at_mut(base, off), &p, sizeof(p));
}

static size_t count_at(const void *base, size_t off)
{
    return *(const size_t *)at(base, off);
}

/* ---------- encoding ---------- */

typedef struct enc {
    lq_avro_out_t *o;
    const char *bad_field;
} enc_t;

static void put_field(enc_t *e, const lq_field_t *f, const void *base);
static void put_value(enc_t *e, const lq_field_t *f, const void *base);

static void put_fields(enc_t *e, const lq_record_desc_t *rec, const void *base)
{
    size_t i;

    for (i = 0; i < rec->n_fields; i++)
        put_field(e, &rec->fields[i], base);
}

/* An optional field is null when its flag is clear or, unflagged, when it is NULL or 0. */
static int is_present(const lq_field_t *f, const void *base)
{
    if (f->flags & LQ_FIELD_FLAGGED)
        return *(const int *)at(base, f->flag_off) != 0;
    if (f->kind == LQ_FIELD_LONG)
        return *(const int64_t *)at(base, f->off) != 0;
    return ptr_at(base, f->off) != NULL;
}

static void put_string_or(enc_t *e, const char *s, const char *def)
{
    lq_avro_put_string(e->o, s ? s : def ? def : "");
}

static void put_enum(enc_t *e, const lq_field_t *f, int v)
{
    if (v < 0 || v >= f->n_symbols) {
        if (!e->bad_field)
            e->bad_field = f->name;
        return;
    }
    lq_avro_put_long(e->o, v);
}

/* One block of all the items, then the end (an empty array is the end alone). */
static void put_array(enc_t *e, const lq_field_t *f, const void *base)
{
    const char *items = ptr_at(base, f->off);
    size_t n = count_at(base, f->count_off), size = lq_field_item_size(f->items), i;

    if (n && items) {
        lq_avro_put_long(e->o, (int64_t)n);
        for (i = 0; i < n; i++)
            put_value(e, f->items, items + i * size);
    }
    lq_avro_put_long(e->o, 0);
}

static void put_map(enc_t *e, const lq_field_t *f, const void *base)
{
    char *const *keys = ptr_at(base, f->off);
    char *const *values = ptr_at(base, f->values_off);
    size_t n = count_at(base, f->count_off), i;

    if (n && keys && values) {
        lq_avro_put_long(e->o, (int64_t)n);
        for (i = 0; i < n; i++) {
            put_string_or(e, keys[i], NULL);
            put_string_or(e, values[i], NULL);
        }
    }
    lq_avro_put_long(e->o, 0);
}

static void put_value(enc_t *e, const lq_field_t *f, const void *base)
{
    const void *v = at(base, f->off);

    switch (f->kind) {
    case LQ_FIELD_STRING:
        put_string_or(e, ptr_at(base, f->off), f->def_str);
        break;
    case LQ_FIELD_INT:
        lq_avro_put_long(e->o, *(const int32_t *)v);
        break;
    case LQ_FIELD_LONG:
        lq_avro_put_long(e->o, *(const int64_t *)v);
        break;
    case LQ_FIELD_DOUBLE:
        lq_avro_put_double(e->o, *(const double *)v);
        break;
    case LQ_FIELD_ENUM:
        put_enum(e, f, *(const int *)v);
        break;
    case LQ_FIELD_RECORD:
        put_fields(e, f->rec, v);
        break;
    case LQ_FIELD_ARRAY:
        put_array(e, f, base);
        break;
    case LQ_FIELD_MAP:
        put_map(e, f, base);
        break;
    }
}

static void put_field(enc_t *e, const lq_field_t *f, const void *base)
{
    if (f->flags & LQ_FIELD_OPTIONAL) {
        int present = is_present(f, base);
        lq_avro_put_long(e->o, present); /* the union's branch: 0 null, 1 the value */
        if (!present)
            return;
    }
    put_value(e, f, base);
}

int lq_fields_encode(lq_avro_out_t *o, const lq_record_desc_t *rec, const void *value,
                     const char **bad_field)
{
    enc_t e = {o, NULL};

    put_fields(&e, rec, value);
    *bad_field = e.bad_field;
    return e.bad_field || o->nomem ? -1 : 0;
}

/* ---------- decoding ---------- */

static int get_value(lq_fields_dec_t *d, const lq_plan_step_t *s, const lq_field_t *f, void *base);

static int fail(lq_fields_dec_t *d, const char *field, const char *why)
{
    d->field = field;
    d->why = why;
    return -1;
}

static int no_memory(lq_fields_dec_t *d, const char *field)
{
    d->nomem = 1;
    return fail(d, field, "out of memory");
}

static int get_string(lq_fields_dec_t *d, const char *field, char **out)
{
    const unsigned char *p;
    size_t n;
    char *s;

    if (lq_avro_get_bytes(&d->in, &p, &n))
        return fail(d, field, "a length exceeds the message");
    s = malloc(n + 1);
    if (!s)
        return no_memory(d, field);
    memcpy(s, p, n);
    s[n] = '\0';
    *out = s;
    return 0;
}

static int get_double(lq_fields_dec_t *d, const lq_plan_step_t *s, double *out)
{
    int64_t i = 0;
    int rc;

    switch (s->value_type) {
    case AVRO_DOUBLE:
        rc = lq_avro_get_double(&d->in, out);
        break;
    case AVRO_FLOAT:
        rc = lq_avro_get_float(&d->in, out);
        break;
    default:
        rc = lq_avro_get_long(&d->in, &i);
        *out = (double)i;
        break;
    }
    return rc ? fail(d, s->name, "truncated") : 0;
}

/* Symbols map by position; one the table does not have yet reads as the enum's default. */
static int get_enum(lq_fields_dec_t *d, const lq_plan_step_t *s, const lq_field_t *f, int *out)
{
    int64_t v;

    if (lq_avro_get_long(&d->in, &v) || v < 0 || v >= s->n_symbols)
        return fail(d, s->name, "an enum symbol out of range");
    *out = v < f->n_symbols ? (int)v : (int)f->def_int;
    return 0;
}

/* Make room for `add` more zeroed items of `size` bytes in the array at base + off. */
static int grow(lq_fields_dec_t *d, const char *field, void *base, size_t off, size_t have,
                size_t add, size_t size)
{
    char *p;

    if (add > SIZE_MAX / size - have)
        return fail(d, field, "too many items");
    p = realloc(ptr_at(base, off), (have + add) * size);
    if (!p)
        return no_memory(d, field);
    memset(p + have * size, 0, add * size);
    set_ptr(base, off, p);
    return 0;
}

static int get_array(lq_fields_dec_t *d, const lq_plan_step_t *s, const lq_field_t *f, void *base)
{
    size_t *count = at_mut(base, f->count_off), size = lq_field_item_size(f->items), n, i;
    char *items;

    for (;;) {
        if (lq_avro_get_block(&d->in, &n))
            return fail(d, s->name, "a block count exceeds the message");
        if (n == 0)
            return 0;
        if (grow(d, s->name, base, f->off, *count, n, size))
            return -1;
        *count += n; /* zeroed: clear frees what the items get, however far they get */
        items = ptr_at(base, f->off);
        for (i = *count - n; i < *count; i++)
            if (get_value(d, s, f->items, items + i * size))
                return -1;
    }
}

static int get_map(lq_fields_dec_t *d, const lq_plan_step_t *s, const lq_field_t *f, void *base)
{
    size_t *count = at_mut(base, f->count_off), n, i;
    char **keys, **values;

    for (;;) {
        if (lq_avro_get_block(&d->in, &n))
            return fail(d, s->name, "a block count exceeds the message");
        if (n == 0)
            return 0;
        if (grow(d, s->name, base, f->off, *count, n, sizeof(char *)) ||
            grow(d, s->name, base, f->values_off, *count, n, sizeof(char *)))
            return -1;
        *count += n;
        keys = ptr_at(base, f->off);
        values = ptr_at(base, f->values_off);
        for (i = *count - n; i < *count; i++)
            if (get_string(d, s->name, &keys[i]) || get_string(d, s->name, &values[i]))
                return -1;
    }
}

static int get_value(lq_fields_dec_t *d, const lq_plan_step_t *s, const lq_field_t *f, void *base)
{
    void *v = at_mut(base, f->off);

    switch (f->kind) {
    case LQ_FIELD_STRING:
        return get_string(d, s->name, v);
    case LQ_FIELD_INT:
        return lq_avro_get_int(&d->in, v) ? fail(d, s->name, "not an int") : 0;
    case LQ_FIELD_LONG:
        return lq_avro_get_long(&d->in, v) ? fail(d, s->name, "truncated") : 0;
    case LQ_FIELD_DOUBLE:
        return get_double(d, s, v);
    case LQ_FIELD_ENUM:
        return get_enum(d, s, f, v);
    case LQ_FIELD_RECORD:
        return lq_fields_decode(d, s->sub, v);
    case LQ_FIELD_ARRAY:
        return get_array(d, s, f, base);
    case LQ_FIELD_MAP:
        return get_map(d, s, f, base);
    }
    return fail(d, s->name, "a field kind the codec does not know");
}

/* A field the table knows: the writer's union branch (if a union), then the value. */
static int get_field(lq_fields_dec_t *d, const lq_plan_step_t *s, void *base)
{
    const lq_field_t *f = s->field;
    int64_t branch;

    if (s->value_branch >= 0) {
        if (lq_avro_get_long(&d->in, &branch))
            return fail(d, s->name, "truncated");
        if (branch == s->null_branch)
            return f->flags & LQ_FIELD_OPTIONAL ? 0 : fail(d, s->name, "null, and required");
        if (branch != s->value_branch)
            return fail(d, s->name, "a union branch out of range");
    }
    if (f->flags & LQ_FIELD_FLAGGED)
        *(int *)at_mut(base, f->flag_off) = 1;
    return get_value(d, s, f, base);
}

/* The table's fields the writer lacked: their defaults (null and empty are the zeroes). */
static int set_defaults(lq_fields_dec_t *d, const lq_plan_t *p, void *base)
{
    size_t i;

    for (i = 0; i < p->n_missing; i++) {
        const lq_field_t *f = p->missing[i];
        void *v = at_mut(base, f->off);
        if (!(f->flags & LQ_FIELD_DEFAULT))
            continue;
        if (f->kind == LQ_FIELD_INT) {
            *(int32_t *)v = (int32_t)f->def_int;
        } else if (f->kind == LQ_FIELD_LONG) {
            *(int64_t *)v = f->def_int;
        } else if (f->kind == LQ_FIELD_STRING) {
            *(char **)v = strdup(f->def_str);
            if (!*(char **)v)
                return no_memory(d, f->name);
        }
    }
    return 0;
}

/* A field the table does not know (from another writer version). */
static int skip_field(lq_fields_dec_t *d, const lq_plan_step_t *s)
{
    return lq_plan_skip(&d->in, s->type) ? fail(d, s->name, "a length exceeds the message") : 0;
}

int lq_fields_decode(lq_fields_dec_t *d, const lq_plan_t *plan, void *value)
{
    size_t i;

    for (i = 0; i < plan->n_steps; i++) {
        const lq_plan_step_t *s = &plan->steps[i];
        if (s->field ? get_field(d, s, value) : skip_field(d, s))
            return -1;
    }
    return set_defaults(d, plan, value);
}

/* ---------- clearing ---------- */

static void clear_fields(const lq_record_desc_t *rec, void *base);

static void clear_items(const lq_field_t *f, void *base)
{
    char *items = ptr_at(base, f->off);
    size_t n = count_at(base, f->count_off), size = lq_field_item_size(f->items), i;

    if (f->items->kind == LQ_FIELD_STRING)
        for (i = 0; items && i < n; i++)
            free(ptr_at(items, i * size));
    else
        for (i = 0; items && i < n; i++)
            clear_fields(f->items->rec, items + i * size);
    free(items);
}

static void clear_map(const lq_field_t *f, void *base)
{
    char **keys = ptr_at(base, f->off), **values = ptr_at(base, f->values_off);
    size_t n = count_at(base, f->count_off), i;

    for (i = 0; i < n; i++) {
        if (keys)
            free(keys[i]);
        if (values)
            free(values[i]);
    }
    free(keys);
    free(values);
}

static void clear_fields(const lq_record_desc_t *rec, void *base)
{
    size_t i;

    for (i = 0; i < rec->n_fields; i++) {
        const lq_field_t *f = &rec->fields[i];
        switch (f->kind) {
        case LQ_FIELD_STRING:
            free(ptr_at(base, f->off));
            break;
        case LQ_FIELD_RECORD:
            clear_fields(f->rec, at_mut(base, f->off));
            break;
        case LQ_FIELD_ARRAY:
            clear_items(f, base);
            break;
        case LQ_FIELD_MAP:
            clear_map(f, base);
            break;
        default:
            break;
        }
    }
}

void lq_fields_clear(const lq_record_desc_t *rec, void *value)
{
    if (!value)
        return;
    clear_fields(rec, value);
    memset(value, 0, rec->size);
}

/* schemas/record_fields.h — the records of records.h described once, as field tables: one
 * row per Avro field {name, kind, offset into the C struct, optional / default, nested
 * table}. schemas/record_codec.c encodes, decodes and clears from these rows, and
 * schemas/writer_plan.c matches other writer versions against them; a codec refuses to
 * start when a table and its .avsc disagree (names, order, types, unions, enum sizes).
 *
 * Adding a field: add it to the .avsc and one row to the table in schemas/records.c. */
#ifndef LQ_RECORD_FIELDS_H
#define LQ_RECORD_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include "schemas/codec.h"

typedef enum lq_field_kind {
    LQ_FIELD_STRING, /* char *; a required one that is NULL is written as its default or "" */
    LQ_FIELD_INT,    /* int32_t */
    LQ_FIELD_LONG,   /* int64_t */
    LQ_FIELD_DOUBLE, /* double */
    LQ_FIELD_ENUM,   /* an int-sized enum of records.h: symbols 0 .. n_symbols - 1 */
    LQ_FIELD_RECORD, /* a struct embedded at off, described by rec */
    LQ_FIELD_ARRAY,  /* a pointer to count_off's size_t many items (described by items) */
    LQ_FIELD_MAP     /* of strings: keys (char **) at off, values (char **) at values_off */
} lq_field_kind_t;

enum {
    LQ_FIELD_OPTIONAL = 1, /* ["null", T], default null: absent is NULL, 0 or a clear flag */
    LQ_FIELD_FLAGGED = 2,  /* presence is the int at flag_off (else a NULL / 0 value is null) */
    LQ_FIELD_DEFAULT = 4   /* has a default: def_str, def_int, or empty for arrays and maps */
};

typedef struct lq_record_desc lq_record_desc_t;

typedef struct lq_field {
    const char *name; /* the Avro field name */
    lq_field_kind_t kind;
    unsigned flags;
    size_t off;
    size_t flag_off;              /* LQ_FIELD_FLAGGED */
    size_t count_off;             /* arrays and maps: the size_t count */
    size_t values_off;            /* maps */
    const struct lq_field *items; /* arrays: an item, described at offset 0 */
    const lq_record_desc_t *rec;  /* records */
    int n_symbols;                /* enums */
    int64_t def_int;              /* ints and longs; enums: the symbol for unknown ones */
    const char *def_str;          /* strings */
} lq_field_t;

struct lq_record_desc {
    const char *name; /* the Avro record name */
    size_t size;      /* sizeof the C struct */
    const lq_field_t *fields;
    size_t n_fields;
};

/** The table of a top-level record (static). */
const lq_record_desc_t *lq_record_desc(lq_schema_id_t id);

/** Bytes one array item takes in C. */
size_t lq_field_item_size(const lq_field_t *items);

#endif

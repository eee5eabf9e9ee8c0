/* schemas/writer_plan.h — how to read a record written with a given writer schema into the
 * C struct of a field table (record_fields.h): Avro schema resolution, worked out once per
 * writer schema instead of once per record.
 *
 * Writer fields are matched to the table's by name. A matched field's writer type must be
 * readable as the table's (the same, int -> long, int/long/float -> double, bytes ->
 * string, a union of null and one such type); writer fields the table lacks are skipped;
 * table fields the writer lacks take their default (null, the row's default, empty). A
 * writer lacking a field that has no default cannot be read, and is refused here. */
#ifndef LQ_WRITER_PLAN_H
#define LQ_WRITER_PLAN_H

#include <avro.h>

#include "common/err.h"
#include "schemas/avro_binary.h"
#include "schemas/record_fields.h"

typedef struct lq_plan lq_plan_t;

/* One field of the writer's record, in the writer's order. */
typedef struct lq_plan_step {
    const char *name;        /* the writer's field name (borrowed from the writer schema) */
    const lq_field_t *field; /* the table's field it fills; NULL: skipped */
    avro_schema_t type;      /* the writer's type (borrowed from the writer schema) */
    avro_type_t value_type;  /* the writer's type of the value (inside the union) */
    int null_branch;         /* the writer union's null branch, or -1 */
    int value_branch;        /* the writer union's other branch; -1: not a union */
    int n_symbols;           /* enums: the writer's symbol count */
    lq_plan_t *sub;          /* records and arrays of records: the nested record's plan */
} lq_plan_step_t;

struct lq_plan {
    const lq_record_desc_t *rec;
    lq_plan_step_t *steps;
    size_t n_steps;
    const lq_field_t **missing; /* the table's fields the writer lacks */
    size_t n_missing;
};

/** Plan reading records of schema `writer` (a record, borrowed for the plan's life) into
 * rec's struct. exact: the writer must be the table's own schema (every field, in order,
 * with the table's types and unions), as a codec checks its current schemas. On LQ_OK
 * *out is the caller's (lq_plan_free). */
lq_err_t lq_plan_compile(avro_schema_t writer, const lq_record_desc_t *rec, int exact,
                         lq_plan_t **out, char *errstr, size_t errstr_size);
void lq_plan_free(lq_plan_t *p); /* NULL-safe */

/** Step over one value of writer type `type`, checking every length; 0, or -1 when the
 * bytes do not hold one. */
int lq_plan_skip(lq_avro_in_t *in, avro_schema_t type);

#endif

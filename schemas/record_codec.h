/* schemas/record_codec.h — Avro binary bodies of the records of records.h, from their field
 * tables (record_fields.h): encode, decode (through a writer plan, writer_plan.h) and
 * clear, for every record type alike. */
#ifndef LQ_RECORD_CODEC_H
#define LQ_RECORD_CODEC_H

#include "schemas/avro_binary.h"
#include "schemas/record_fields.h"
#include "schemas/writer_plan.h"

/** Append value's Avro body (value: a struct of rec's shape) to o. 0, or -1: o->nomem, or
 * *bad_field names a field whose value has no Avro form (an enum out of range). */
int lq_fields_encode(lq_avro_out_t *o, const lq_record_desc_t *rec, const void *value,
                     const char **bad_field);

/* Decoding state: the bytes left and, when decoding stopped, where and why. */
typedef struct lq_fields_dec {
    lq_avro_in_t in;
    const char *field; /* the writer field being read */
    const char *why;   /* static text */
    int nomem;
} lq_fields_dec_t;

/** Read one record of plan's writer into value (zeroed by the caller, of the shape of
 * plan->rec). 0, or -1 with d->field and d->why set; value may then hold allocations
 * (lq_fields_clear). */
int lq_fields_decode(lq_fields_dec_t *d, const lq_plan_t *plan, void *value);

/** Free what a decode allocated in value and zero it. NULL-safe. */
void lq_fields_clear(const lq_record_desc_t *rec, void *value);

#endif

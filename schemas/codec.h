/* schemas/codec.h — Avro encoding of llmq's records with Avro single-object framing
 * (0xC3 0x01, the writer schema's CRC-64-AVRO fingerprint little-endian, then the
 * binary body), so readers can resolve records written with older schemas.
 *
 * A codec belongs to one thread (encoders write into its buffer; its schemas are avro-c
 * objects, and avro-c as packaged is not thread-safe). Use lq_codec_thread() for a lazily
 * created per-thread codec. */
#ifndef LQ_CODEC_H
#define LQ_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "schemas/records.h"

typedef enum lq_schema_id {
    LQ_SCHEMA_CHAT_REQUEST = 0,
    LQ_SCHEMA_CHAT_RESPONSE,
    LQ_SCHEMA_USAGE_EVENT,
    LQ_SCHEMA_TRACE_EVENT,
    LQ_SCHEMA_CHAT_CHUNK,
    LQ_SCHEMA_JOB_CANCEL,
    LQ_SCHEMA_COUNT
} lq_schema_id_t;

typedef struct lq_codec lq_codec_t;

/** The .avsc text compiled into the binary (borrowed, static). */
const char *lq_schema_json(lq_schema_id_t id);
const char *lq_schema_name(lq_schema_id_t id); /* "ChatRequest", ... */

lq_err_t lq_codec_create(lq_codec_t **out, char *errstr, size_t errstr_size);
void lq_codec_destroy(lq_codec_t *c); /* NULL-safe */

/** This thread's codec, created on first use and destroyed at thread exit. NULL if the
 * schemas cannot be loaded (logged). */
lq_codec_t *lq_codec_thread(void);

/** Make n codecs now (at most 64 wait) for the first n threads that call lq_codec_thread:
 * a codec takes a few milliseconds to make (its schemas parsed, resolvers built), which
 * would otherwise fall on the first request each thread serves. */
void lq_codec_prepare(size_t n);

/** Teach the codec another writer schema of a record type (an older or newer version), so
 * records carrying its fingerprint are resolved into the current schema. */
lq_err_t lq_codec_register_writer(lq_codec_t *c, lq_schema_id_t id, const char *schema_json,
                                  char *errstr, size_t errstr_size);

/** The current schema's fingerprint (CRC-64-AVRO of its Parsing Canonical Form). */
uint64_t lq_codec_fingerprint(const lq_codec_t *c, lq_schema_id_t id);

/** Which record type a framed message holds (by its writer fingerprint, current or
 * registered); -1 when it is not a single-object message of a known schema. */
int lq_codec_identify(const lq_codec_t *c, const void *buf, size_t len);

/* Encoders: on LQ_OK, *buf points into the codec (valid until its next encode). */
lq_err_t lq_encode_chat_request(lq_codec_t *c, const lq_chat_request_t *r, const void **buf,
                                size_t *len, char *errstr, size_t errstr_size);
lq_err_t lq_encode_chat_response(lq_codec_t *c, const lq_chat_response_t *r, const void **buf,
                                 size_t *len, char *errstr, size_t errstr_size);
lq_err_t lq_encode_usage_event(lq_codec_t *c, const lq_usage_event_t *u, const void **buf,
                               size_t *len, char *errstr, size_t errstr_size);
lq_err_t lq_encode_trace_event(lq_codec_t *c, const lq_trace_event_t *t, const void **buf,
                               size_t *len, char *errstr, size_t errstr_size);
lq_err_t lq_encode_chat_chunk(lq_codec_t *c, const lq_chat_chunk_t *k, const void **buf,
                              size_t *len, char *errstr, size_t errstr_size);
lq_err_t lq_encode_job_cancel(lq_codec_t *c, const lq_job_cancel_t *k, const void **buf,
                              size_t *len, char *errstr, size_t errstr_size);

/* Decoders: *out is zeroed first; on LQ_OK the caller clears it (lq_*_clear). On error
 * *out holds nothing to free. */
lq_err_t lq_decode_chat_request(lq_codec_t *c, const void *buf, size_t len, lq_chat_request_t *out,
                                char *errstr, size_t errstr_size);
lq_err_t lq_decode_chat_response(lq_codec_t *c, const void *buf, size_t len,
                                 lq_chat_response_t *out, char *errstr, size_t errstr_size);
lq_err_t lq_decode_usage_event(lq_codec_t *c, const void *buf, size_t len, lq_usage_event_t *out,
                               char *errstr, size_t errstr_size);
lq_err_t lq_decode_trace_event(lq_codec_t *c, const void *buf, size_t len, lq_trace_event_t *out,
                               char *errstr, size_t errstr_size);
lq_err_t lq_decode_chat_chunk(lq_codec_t *c, const void *buf, size_t len, lq_chat_chunk_t *out,
                              char *errstr, size_t errstr_size);
lq_err_t lq_decode_job_cancel(lq_codec_t *c, const void *buf, size_t len, lq_job_cancel_t *out,
                              char *errstr, size_t errstr_size);

#endif

/* Fuzz target: the Avro decoders (records on Kafka topics may come from any producer).
 * The first byte picks the record type; the rest is the body after a valid header, so the
 * fuzzer explores the Avro body rather than the framing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lq_codec_t *c;
    uint8_t *buf;
    char err[256];
    uint64_t fp;
    lq_schema_id_t id;
    int i;

    if (!c && lq_codec_create(&c, err, sizeof(err)) != LQ_OK)
        abort();
    if (size < 1 || size > 65536)
        return 0;
    id = (lq_schema_id_t)(data[0] % LQ_SCHEMA_COUNT);
    buf = malloc(size + 10);
    if (!buf)
        abort();
    fp = lq_codec_fingerprint(c, id);
    buf[0] = 0xC3;
    buf[1] = 0x01;
    for (i = 0; i < 8; i++)
        buf[2 + i] = (uint8_t)(fp >> (8 * i));
    memcpy(buf + 10, data + 1, size - 1);
    switch (id) {
    case LQ_SCHEMA_CHAT_REQUEST: {
        lq_chat_request_t r;
        if (lq_decode_chat_request(c, buf, size + 9, &r, err, sizeof(err)) == LQ_OK)
            lq_chat_request_clear(&r);
        break;
    }
    case LQ_SCHEMA_CHAT_RESPONSE: {
        lq_chat_response_t r;
        if (lq_decode_chat_response(c, buf, size + 9, &r, err, sizeof(err)) == LQ_OK)
            lq_chat_response_clear(&r);
        break;
    }
    case LQ_SCHEMA_USAGE_EVENT: {
        lq_usage_event_t u;
        if (lq_decode_usage_event(c, buf, size + 9, &u, err, sizeof(err)) == LQ_OK)
            lq_usage_event_clear(&u);
        break;
    }
    case LQ_SCHEMA_CHAT_CHUNK: {
        lq_chat_chunk_t k;
        if (lq_decode_chat_chunk(c, buf, size + 9, &k, err, sizeof(err)) == LQ_OK)
            lq_chat_chunk_clear(&k);
        break;
    }
    case LQ_SCHEMA_JOB_CANCEL: {
        lq_job_cancel_t k;
        if (lq_decode_job_cancel(c, buf, size + 9, &k, err, sizeof(err)) == LQ_OK)
            lq_job_cancel_clear(&k);
        break;
    }
    default: {
        lq_trace_event_t t;
        if (lq_decode_trace_event(c, buf, size + 9, &t, err, sizeof(err)) == LQ_OK)
            lq_trace_event_clear(&t);
        break;
    }
    }
    free(buf);
    return 0;
}

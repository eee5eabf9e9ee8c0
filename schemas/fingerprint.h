/* schemas/fingerprint.h — Avro Parsing Canonical Form and the CRC-64-AVRO fingerprint. */
#ifndef LQ_FINGERPRINT_H
#define LQ_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/** Parsing Canonical Form of a schema given as JSON text. On LQ_OK *out is malloc'ed. */
lq_err_t lq_avro_canonical_form(const char *schema_json, char **out, char *errstr,
                                size_t errstr_size);

/** CRC-64-AVRO (Rabin) fingerprint of bytes. */
uint64_t lq_avro_crc64(const void *data, size_t len);

#endif

/* common/ids.h — time-sortable ids (UUIDv7) and random tokens. */
#ifndef LQ_IDS_H
#define LQ_IDS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define LQ_UUID_STR_LEN 36

/** Write a UUIDv7 (RFC 9562) for time unix_ms into out (37 bytes incl. NUL).
 * Ids from one thread are strictly increasing. */
void lq_uuid7(char out[LQ_UUID_STR_LEN + 1], int64_t unix_ms);

/** 1 when s is a canonical lower- or upper-case UUID string. */
int lq_uuid_valid(const char *s);

/** Milliseconds since the epoch encoded in a UUIDv7, or -1. */
int64_t lq_uuid7_time_ms(const char *s);

/** Fill buf with n cryptographically random bytes. */
lq_err_t lq_random_bytes(void *buf, size_t n);

/** Lower-case hex of n bytes into out (2n+1 bytes). */
void lq_hex(char *out, const unsigned char *in, size_t n);
/** Hex digits to bytes (at most max); the byte count, or -1 for bad or too long input. */
int lq_unhex(const char *hex, unsigned char *out, size_t max);

/** SHA-256 of data as 64 hex chars + NUL. */
lq_err_t lq_sha256_hex(char out[65], const void *data, size_t len);

#endif

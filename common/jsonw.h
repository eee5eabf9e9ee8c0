/* common/jsonw.h — a small streaming JSON writer for hot paths: builds JSON text in one
 * growing buffer, with commas and string escaping handled. Far cheaper than building a
 * jansson tree and dumping it. Nesting is limited to LQ_JSONW_MAX_DEPTH. */
#ifndef LQ_JSONW_H
#define LQ_JSONW_H

#include <stddef.h>
#include <stdint.h>

#define LQ_JSONW_MAX_DEPTH 16

typedef struct lq_jsonw {
    char *p;
    size_t len, cap;
    int failed; /* allocation failed or misuse: discard the text */
    int depth;
    unsigned count[LQ_JSONW_MAX_DEPTH]; /* values written at each level */
    int after_key;
} lq_jsonw_t;

void lq_jsonw_init(lq_jsonw_t *w);
void lq_jsonw_reset(lq_jsonw_t *w); /* keep the buffer, drop the text */
void lq_jsonw_free(lq_jsonw_t *w);

void lq_jsonw_obj_open(lq_jsonw_t *w);
void lq_jsonw_obj_close(lq_jsonw_t *w);
void lq_jsonw_arr_open(lq_jsonw_t *w);
void lq_jsonw_arr_close(lq_jsonw_t *w);
void lq_jsonw_key(lq_jsonw_t *w, const char *key);

void lq_jsonw_str(lq_jsonw_t *w, const char *s); /* NULL writes null */
void lq_jsonw_strn(lq_jsonw_t *w, const char *s, size_t n);
void lq_jsonw_int(lq_jsonw_t *w, int64_t v);
void lq_jsonw_double(lq_jsonw_t *w, double v);
void lq_jsonw_bool(lq_jsonw_t *w, int v);
void lq_jsonw_null(lq_jsonw_t *w);
/** A value that is already JSON text (trusted: produced by this process). */
void lq_jsonw_raw(lq_jsonw_t *w, const char *json);
/* n bytes as they are, outside JSON's structure (no comma, no escaping): for other text
 * formats built in the same growing buffer (the sink's COPY rows) */
void lq_jsonw_bytes(lq_jsonw_t *w, const char *s, size_t n);

/* Shorthands for "key": value */
void lq_jsonw_kstr(lq_jsonw_t *w, const char *key, const char *s);
void lq_jsonw_kint(lq_jsonw_t *w, const char *key, int64_t v);
/** v == 0 writes null (for optional times). */
void lq_jsonw_kint_or_null(lq_jsonw_t *w, const char *key, int64_t v);

#endif

/* common/err.h — the one error enum of llmq. */
#ifndef LQ_ERR_H
#define LQ_ERR_H

typedef enum lq_err {
    LQ_OK = 0,
    LQ_ERR_NOMEM = -1,   /* allocation failed */
    LQ_ERR_INVALID = -2, /* bad argument or bad input (fatal for that input) */
    LQ_ERR_CONFIG = -3,  /* bad configuration */
    LQ_ERR_KAFKA = -4,   /* Kafka client error (retriable) */
    LQ_ERR_DB = -5,      /* PostgreSQL error (retriable) */
    LQ_ERR_AVRO = -6,    /* Avro encode/decode error (fatal for that record) */
    LQ_ERR_JSON = -7,    /* JSON parse error (fatal for that input) */
    LQ_ERR_IO = -8,      /* system call failed (retriable) */
    LQ_ERR_TIMEOUT = -9, /* deadline passed (retriable) */
    LQ_ERR_NOT_FOUND = -10,
    LQ_ERR_PROVIDER = -11, /* LLM provider answered with an error */
    LQ_ERR_FULL = -12,     /* queue or buffer full (retriable) */
    LQ_ERR_TOO_LARGE = -13 /* input over a configured limit */
} lq_err_t;

const char *lq_err2str(lq_err_t err);

/** 1 when retrying the same operation later may succeed. */
int lq_err_is_retriable(lq_err_t err);

#endif

#include "common/err.h"

const char *lq_err2str(lq_err_t err)
{
    switch (err) {
    case LQ_OK:
        return "ok";
    case LQ_ERR_NOMEM:
        return "out of memory";
    case LQ_ERR_INVALID:
        return "invalid input";
    case LQ_ERR_CONFIG:
        return "configuration error";
    case LQ_ERR_KAFKA:
        return "kafka error";
    case LQ_ERR_DB:
        return "database error";
    case LQ_ERR_AVRO:
        return "avro error";
    case LQ_ERR_JSON:
        return "json error";
    case LQ_ERR_IO:
        return "i/o error";
    case LQ_ERR_TIMEOUT:
        return "timed out";
    case LQ_ERR_NOT_FOUND:
        return "not found";
    case LQ_ERR_PROVIDER:
        return "provider error";
    case LQ_ERR_FULL:
        return "queue full";
    case LQ_ERR_TOO_LARGE:
        return "too large";
    }
    return "unknown error";
}

int lq_err_is_retriable(lq_err_t err)
{
    return err == LQ_ERR_KAFKA || err == LQ_ERR_DB || err == LQ_ERR_IO || err == LQ_ERR_TIMEOUT ||
           err == LQ_ERR_FULL;
}

/* common/log.h — one line per event, plain or JSON, level-checked before formatting. */
#ifndef LQ_LOG_H
#define LQ_LOG_H

typedef enum lq_log_level {
    LQ_LOG_ERROR = 0,
    LQ_LOG_WARN = 1,
    LQ_LOG_INFO = 2,
    LQ_LOG_DEBUG = 3
} lq_log_level_t;

extern int lq_log_level_current;

/** Set the daemon name, level ("error".."debug") and format. Returns -1 on a bad level. */
int lq_log_setup(const char *daemon, const char *level, int json);

void lq_log_write(lq_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LQ_LOG(level, ...)                        \
    do {                                          \
        if ((int)(level) <= lq_log_level_current) \
            lq_log_write((level), __VA_ARGS__);   \
    } while (0)
#define LQ_ERROR(...) LQ_LOG(LQ_LOG_ERROR, __VA_ARGS__)
#define LQ_WARN(...)  LQ_LOG(LQ_LOG_WARN, __VA_ARGS__)
#define LQ_INFO(...)  LQ_LOG(LQ_LOG_INFO, __VA_ARGS__)
#define LQ_DEBUG(...) LQ_LOG(LQ_LOG_DEBUG, __VA_ARGS__)

#endif

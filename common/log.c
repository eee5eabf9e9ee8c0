#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int lq_log_level_current = LQ_LOG_INFO;
static const char *log_daemon = "llmq";
static int log_json;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int lq_log_setup(const char *daemon, const char *level, int json)
{
    int i;

    if (daemon)
        log_daemon = daemon;
    log_json = json;
    if (!level)
        return 0;
    for (i = 0; i < 4; i++) {
        if (strcmp(level, level_names[i]) == 0) {
            lq_log_level_current = i;
            return 0;
        }
    }
    return -1;
}

/* Escape a message for a JSON string value; truncates quietly. */
static void json_escape(char *dst, size_t dst_size, const char *src)
{
    size_t o = 0;

    for (; *src && o + 7 < dst_size; src++) {
        unsigned char c = (unsigned char)*src;
        if (c == '"' || c == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(dst + o, dst_size - o, "\\u%04x", c);
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o] = '\0';
}

void lq_log_write(lq_log_level_t level, const char *fmt, ...)
{
    char msg[2048], ts[64];
    struct timespec now;
    struct tm tm;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
    if (log_json) {
        char esc[4200];
        json_escape(esc, sizeof(esc), msg);
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"daemon\":\"%s\",\"msg\":\"%s\"}\n", ts,
                level_names[level], log_daemon, esc);
    } else {
        fprintf(stderr, "%s %-5s %s: %s\n", ts, level_names[level], log_daemon, msg);
    }
}

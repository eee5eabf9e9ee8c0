/* ops/llmqctl/call.h — one run of a command: its connections and the arguments given. */
#ifndef LQ_CTL_CALL_H
#define LQ_CTL_CALL_H

#include <libpq-fe.h>

#define CTL_MAX_OPTS 16

typedef struct ctl_call {
    char name[64];                        /* "key create": for messages */
    PGconn *conn;                         /* database commands: connected; else NULL */
    const char *brokers;                  /* Kafka's bootstrap servers */
    const char *pos;                      /* the positional argument (ID, JSON, ...), or NULL */
    const char *opt_names[CTL_MAX_OPTS];  /* "--tenant"; borrowed from argv */
    const char *opt_values[CTL_MAX_OPTS]; /* "" for a flag that takes no value */
    int n_opts;
} ctl_call_t;

/** The value given to option name ("--tenant"), or NULL when it was not given. */
const char *ctl_opt(const ctl_call_t *c, const char *name);

/** ctl_opt, or dflt when the option was not given. */
const char *ctl_opt_or(const ctl_call_t *c, const char *name, const char *dflt);

/** Say "llmqctl: <message>" on standard error; returns status, for `return ctl_fail(1, ...)`. */
int ctl_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

#include "ops/llmqctl/call.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ctl_opt(const ctl_call_t *c, const char *name)
{
    int i;

    for (i = 0; i < c->n_opts; i++)
        if (strcmp(c->opt_names[i], name) == 0)
            return c->opt_values[i];
    return NULL;
}

const char *ctl_opt_or(const ctl_call_t *c, const char *name, const char *dflt)
{
    const char *v = ctl_opt(c, name);

    return v ? v : dflt;
}

int ctl_fail(int status, const char *fmt, ...)
{
    va_list ap;

    fputs("llmqctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return status;
}

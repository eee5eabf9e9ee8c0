#include "ops/llmqctl/dispatch.h"

#include <stdarg.h>
#include <string.h>

#define HELP_COLUMN 44 /* where a command's help starts in the usage text */
#define LINE_WIDTH  80

/* One argument of a command's spec (see ctl_command_t). */
typedef struct spec_item {
    const char *name; /* "--tenant", or "ID" for the positional argument */
    size_t name_len;
    const char *value; /* "T"; NULL for an option without a value and for the positional */
    size_t value_len;
    int positional;
} spec_item_t;

/* The next argument of a spec; 0 at its end. */
static int spec_next(const char **p, spec_item_t *it)
{
    const char *s = *p + strspn(*p, " ");

    memset(it, 0, sizeof(*it));
    if (!*s)
        return 0;
    it->name = s;
    it->name_len = strcspn(s, " ");
    s += it->name_len;
    it->positional = strncmp(it->name, "--", 2) != 0;
    if (!it->positional) {
        const char *v = s + strspn(s, " ");
        if (*v && strncmp(v, "--", 2) != 0) {
            it->value = v;
            it->value_len = strcspn(v, " ");
            s = v + it->value_len;
        }
    }
    *p = s;
    return 1;
}

/* Find option arg (or, for arg NULL, the positional argument) in spec. */
static int spec_find(const char *spec, const char *arg, spec_item_t *it)
{
    const char *p = spec ? spec : "";

    while (spec_next(&p, it)) {
        if (!arg && it->positional)
            return 1;
        if (arg && !it->positional && strlen(arg) == it->name_len &&
            strncmp(arg, it->name, it->name_len) == 0)
            return 1;
    }
    return 0;
}

/* The usage text is written item by item, wrapping at LINE_WIDTH under the first argument. */
typedef struct usage_out {
    FILE *fp;
    int col;
    int indent;
} usage_out_t;

static void put_item(usage_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put_item(usage_out_t *o, const char *fmt, ...)
{
    char item[160];
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(item, sizeof(item), fmt, ap);
    va_end(ap);
    if (len < 0)
        return;
    if (o->indent > 0 && o->col > o->indent && o->col + 1 + len > LINE_WIDTH)
        o->col = fprintf(o->fp, "\n%*s", o->indent, "") - 1;
    o->col += fprintf(o->fp, " %s", item);
}

static void put_spec(usage_out_t *o, const char *spec, int optional)
{
    const char *p = spec ? spec : "";
    spec_item_t it;

    while (spec_next(&p, &it))
        put_item(o, optional ? "[%.*s%s%.*s]" : "%.*s%s%.*s", (int)it.name_len, it.name,
                 it.value ? " " : "", (int)it.value_len, it.value ? it.value : "");
}

static void put_synopsis(usage_out_t *o, const ctl_command_t *cmd)
{
    put_item(o, "%s", cmd->group);
    if (cmd->verb)
        put_item(o, "%s", cmd->verb);
    o->indent = o->col;
    put_spec(o, cmd->required, 0);
    put_spec(o, cmd->optional, 1);
}

static void put_command_usage(FILE *fp, const ctl_command_t *cmd)
{
    usage_out_t o = {fp, 0, 0};

    o.col = fprintf(fp, "usage: llmqctl");
    put_synopsis(&o, cmd);
    fputc('\n', fp);
}

/* The help in its column, on the synopsis's line when there is room, word-wrapped. */
static void put_help(usage_out_t *o, const char *help)
{
    const char *p = help;
    int len;

    if (o->col >= HELP_COLUMN) {
        fputc('\n', o->fp);
        o->col = 0;
    }
    o->col += fprintf(o->fp, "%*s", HELP_COLUMN - 1 - o->col, "");
    o->indent = HELP_COLUMN - 1;
    while (*(p += strspn(p, " "))) {
        len = (int)strcspn(p, " ");
        put_item(o, "%.*s", len, p);
        p += len;
    }
    fputc('\n', o->fp);
}

void ctl_dispatch_usage(FILE *fp, const ctl_table_t *t)
{
    size_t i;

    fprintf(fp, "usage: %s\n\n", t->synopsis);
    for (i = 0; i < t->n; i++) {
        usage_out_t o = {fp, 1, 0};
        fputc(' ', fp);
        put_synopsis(&o, &t->rows[i]);
        put_help(&o, t->rows[i].help);
    }
    fprintf(fp, "\n%s", t->notes);
}

static int refuse(const ctl_command_t *cmd, const ctl_call_t *call, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A command line the table does not allow: say why, and how the command is called. */
static int refuse(const ctl_command_t *cmd, const ctl_call_t *call, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "llmqctl: %s: ", call->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    put_command_usage(stderr, cmd);
    return 2;
}

static int check_required(const ctl_command_t *cmd, const ctl_call_t *call)
{
    const char *p = cmd->required ? cmd->required : "";
    spec_item_t it;
    char name[64];

    while (spec_next(&p, &it)) {
        snprintf(name, sizeof(name), "%.*s", (int)it.name_len, it.name);
        if (it.positional ? !call->pos : !ctl_opt(call, name))
            return refuse(cmd, call, "missing %s", name);
    }
    return CTL_RUN;
}

static int take_option(const ctl_command_t *cmd, ctl_call_t *call, int argc, char **argv, int *i)
{
    spec_item_t it;

    if (!spec_find(cmd->required, argv[*i], &it) && !spec_find(cmd->optional, argv[*i], &it))
        return refuse(cmd, call, "unknown option %s", argv[*i]);
    if (it.value && *i + 1 >= argc)
        return refuse(cmd, call, "%s needs a value (%.*s)", argv[*i], (int)it.value_len, it.value);
    if (call->n_opts == CTL_MAX_OPTS)
        return refuse(cmd, call, "too many options");
    call->opt_names[call->n_opts] = argv[*i];
    call->opt_values[call->n_opts++] = it.value ? argv[++*i] : "";
    return CTL_RUN;
}

static int parse_args(const ctl_command_t *cmd, ctl_call_t *call, int argc, char **argv)
{
    spec_item_t it;
    int i, rc;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            put_command_usage(stdout, cmd);
            printf("%s\n", cmd->help);
            return 0;
        }
        if (strncmp(argv[i], "--", 2) == 0) {
            rc = take_option(cmd, call, argc, argv, &i);
            if (rc != CTL_RUN)
                return rc;
        } else if (call->pos ||
                   (!spec_find(cmd->required, NULL, &it) && !spec_find(cmd->optional, NULL, &it))) {
            return refuse(cmd, call, "unexpected argument %s", argv[i]);
        } else {
            call->pos = argv[i];
        }
    }
    return check_required(cmd, call);
}

static const ctl_command_t *find(const ctl_table_t *t, int argc, char **argv)
{
    size_t i;

    for (i = 0; i < t->n; i++) {
        const ctl_command_t *r = &t->rows[i];
        if (strcmp(argv[0], r->group) == 0 &&
            (!r->verb || (argc > 1 && strcmp(argv[1], r->verb) == 0)))
            return r;
    }
    return NULL;
}

int ctl_dispatch_parse(const ctl_table_t *t, int argc, char **argv, const ctl_command_t **cmd,
                       ctl_call_t *call)
{
    memset(call, 0, sizeof(*call));
    *cmd = argc > 0 ? find(t, argc, argv) : NULL;
    if (!*cmd) {
        if (argc > 0)
            fprintf(stderr, "llmqctl: unknown command: %s%s%s\n", argv[0], argc > 1 ? " " : "",
                    argc > 1 ? argv[1] : "");
        ctl_dispatch_usage(stderr, t);
        return 2;
    }
    snprintf(call->name, sizeof(call->name), "%s%s%s", (*cmd)->group, (*cmd)->verb ? " " : "",
             (*cmd)->verb ? (*cmd)->verb : "");
    return parse_args(*cmd, call, argc - ((*cmd)->verb ? 2 : 1), argv + ((*cmd)->verb ? 2 : 1));
}

/* tests/unit/expect.h — ".expect" files for the data-driven unit tests.
 *
 * A case is a folder entry NAME.json (the input) with NAME.expect next to it, which holds
 * key=value lines; empty lines and lines starting with '#' are skipped, a trailing '\r' is
 * dropped. The value is everything after the first '='. Values may use \n, \t, \r and \\
 * escapes (any other "\c" stands for c), except *_json values: those are JSON text as
 * written and are compared as JSON (json_equal), not as strings. <null> means NULL; for a
 * string field <any> skips the comparison. A field the file does not name must be absent
 * (NULL / the default). Every key must be looked at by the test (exp_all_used), so an
 * unknown key (a typo, a stale expectation) fails the case.
 *
 * All helpers are static inline: a test includes this header and uses what it needs. It
 * sets cur_case before each case so that failure lines (ck) name the case. */
#ifndef LQ_TEST_EXPECT_H
#define LQ_TEST_EXPECT_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "testutil.h"

typedef struct kv {
    char *key;
    char *val; /* escapes resolved */
    char *raw; /* as written: JSON values keep their own escapes */
    int used;
} kv_t;

typedef struct expect {
    kv_t *kv;
    size_t n;
} expect_t;

static const char *cur_case = "";

/* One check with a readable failure line naming the case. */
static inline void ck(int ok, const char *what, const char *got, const char *want)
{
    lq_test_checks++;
    if (!ok) {
        lq_test_failures++;
        fprintf(stderr, "case %s: %s: got \"%s\", expected \"%s\"\n", cur_case, what,
                got ? got : "(null)", want ? want : "(null)");
    }
}

/* dir/name.ext (name cut to name_len bytes), or abort when it does not fit. */
static inline void make_path(char *dst, size_t size, const char *dir, const char *name,
                             int name_len, const char *ext)
{
    int n = snprintf(dst, size, "%s/%.*s%s", dir, name_len, name, ext);

    if (n < 0 || (size_t)n >= size)
        abort();
}

static inline char *xstrdup(const char *s)
{
    char *d = strdup(s);

    if (!d)
        abort();
    return d;
}

/* A copy of s with \n, \t, \r and \X (X itself) resolved. */
static inline char *unescape(const char *s)
{
    char *out = xstrdup(s), *o = out;

    for (; *s; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            *o++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s == 'r' ? '\r' : *s;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

/* Read an .expect file into *e; -1 (and *e empty) when it cannot be read. A line without
 * '=' is a failed check. */
static inline int expect_load(expect_t *e, const char *path)
{
    char *text = lq_test_read_file(path, NULL), *line, *save = NULL;

    memset(e, 0, sizeof(*e));
    if (!text)
        return -1;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[--l] = '\0';
        if (!*line || *line == '#')
            continue;
        eq = strchr(line, '=');
        if (!eq) {
            ck(0, "malformed .expect line", line, "key=value");
            continue;
        }
        *eq = '\0';
        e->kv = realloc(e->kv, (e->n + 1) * sizeof(*e->kv));
        if (!e->kv)
            abort();
        e->kv[e->n].key = xstrdup(line);
        e->kv[e->n].val = unescape(eq + 1);
        e->kv[e->n].raw = xstrdup(eq + 1);
        e->kv[e->n].used = 0;
        e->n++;
    }
    free(text);
    return 0;
}

static inline void expect_free(expect_t *e)
{
    size_t i;

    for (i = 0; i < e->n; i++) {
        free(e->kv[i].key);
        free(e->kv[i].val);
        free(e->kv[i].raw);
    }
    free(e->kv);
}

/* The entry for key (marked as looked at), or NULL. */
static inline const kv_t *exp_find(expect_t *e, const char *key)
{
    size_t i;

    for (i = 0; i < e->n; i++) {
        if (strcmp(e->kv[i].key, key) == 0) {
            e->kv[i].used = 1;
            return &e->kv[i];
        }
    }
    return NULL;
}

/* The value with escapes resolved, or NULL when the key is absent. */
static inline const char *exp_get(expect_t *e, const char *key)
{
    const kv_t *kv = exp_find(e, key);
    return kv ? kv->val : NULL;
}

/* The value as written, or NULL when the key is absent. */
static inline const char *exp_get_raw(expect_t *e, const char *key)
{
    const kv_t *kv = exp_find(e, key);
    return kv ? kv->raw : NULL;
}

/* Every key of the file must have been looked at: catches typos and stale expectations. */
static inline void exp_all_used(const expect_t *e)
{
    size_t i;

    for (i = 0; i < e->n; i++)
        ck(e->kv[i].used, "key in .expect that this case does not check", e->kv[i].key, "");
}

/* A string field: absent key or <null> = must be NULL; <any> = not compared. */
static inline void exp_str(expect_t *e, const char *key, const char *got)
{
    const char *want = exp_get(e, key);

    if (want && strcmp(want, "<any>") == 0)
        return;
    if (!want || strcmp(want, "<null>") == 0)
        ck(got == NULL, key, got, "(null)");
    else
        ck(got && strcmp(got, want) == 0, key, got, want);
}

/* A JSON text field, compared as JSON: absent key or <null> = must be NULL. */
static inline void exp_json(expect_t *e, const char *key, const char *got)
{
    const char *want = exp_get_raw(e, key);
    json_t *a, *b;

    if (!want || strcmp(want, "<null>") == 0) {
        ck(got == NULL, key, got, "(null)");
        return;
    }
    a = got ? json_loads(got, JSON_DECODE_ANY, NULL) : NULL;
    b = json_loads(want, JSON_DECODE_ANY, NULL);
    ck(b != NULL, "expectation is not JSON", want, key);
    ck(a && b && json_equal(a, b), key, got, want);
    json_decref(a);
    json_decref(b);
}

/* An integer field: absent key = must equal def. */
static inline void exp_int(expect_t *e, const char *key, long long got, long long def)
{
    const char *want = exp_get(e, key);
    long long w = def;
    char gs[32], ws[32];

    if (want) {
        char *end;
        w = strtoll(want, &end, 10);
        ck(*want && !*end, "expectation is not an integer", want, key);
    }
    snprintf(gs, sizeof(gs), "%lld", got);
    snprintf(ws, sizeof(ws), "%lld", w);
    ck(got == w, key, gs, ws);
}

/* Start case NAME of dir: sets cur_case, reads dir/NAME.json (a failed check when it cannot:
 * NULL) and writes dir/NAME.expect's path to expect_path. The caller frees the body. */
static inline char *case_body(const char *dir, const char *name, size_t *len, char *expect_path,
                              size_t size)
{
    char *body;

    cur_case = name;
    make_path(expect_path, size, dir, name, (int)strlen(name), ".json");
    body = lq_test_read_file(expect_path, len);
    ck(body != NULL, "body file readable", expect_path, "");
    make_path(expect_path, size, dir, name, (int)strlen(name), ".expect");
    return body;
}

/* A copy of len bytes without a terminator, so that a parser must honour len. */
static inline char *exact_copy(const char *body, size_t len)
{
    char *p = malloc(len ? len : 1);

    if (!p)
        abort();
    memcpy(p, body, len);
    return p;
}

static inline int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run fn on every NAME of dir/NAME<ext> (ext such as ".json") in name order; returns the
 * count. An .expect without its NAME<ext> is a failed check. */
static inline size_t run_dir_ext(const char *dir, const char *ext,
                                 void (*fn)(const char *dir, const char *name))
{
    size_t el = strlen(ext);
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, i;

    if (!d) {
        ck(0, "opendir", dir, "a folder of cases");
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        char path[4096];
        FILE *fp;
        if (l > 7 && strcmp(de->d_name + l - 7, ".expect") == 0) {
            /* an .expect without its body is a broken case */
            make_path(path, sizeof(path), dir, de->d_name, (int)(l - 7), ext);
            fp = fopen(path, "rb");
            cur_case = de->d_name;
            ck(fp != NULL, "body for this .expect", path, "exists");
            if (fp)
                fclose(fp);
            continue;
        }
        if (l <= el || strcmp(de->d_name + l - el, ext) != 0)
            continue;
        names = realloc(names, (n + 1) * sizeof(*names));
        if (!names)
            abort();
        names[n] = strndup(de->d_name, l - el);
        if (!names[n])
            abort();
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    for (i = 0; i < n; i++) {
        fn(dir, names[i]);
        free(names[i]);
    }
    free(names);
    return n;
}

/* Run fn on every NAME of dir/NAME.json (see run_dir_ext). */
static inline size_t run_dir(const char *dir, void (*fn)(const char *dir, const char *name))
{
    return run_dir_ext(dir, ".json", fn);
}

/* main's argument: the tests/data folder, or NULL after a usage line. */
static inline const char *data_dir_arg(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s TESTS_DATA_DIR\n", argv[0]);
        return NULL;
    }
    return argv[1];
}

/* Run fn on every case of data/sub (see run_dir), print "N <what> cases in DIR" and fail
 * when there is none. */
static inline void run_cases(const char *data, const char *sub, const char *what,
                             void (*fn)(const char *dir, const char *name))
{
    char dir[4096];
    size_t n;

    snprintf(dir, sizeof(dir), "%s/%s", data, sub);
    n = run_dir(dir, fn);
    printf("%zu %s cases in %s\n", n, what, dir);
    cur_case = "(folder)";
    ck(n > 0, "number of cases", "0", "at least one");
}

#ifdef LQ_WORKER_PROVIDER_H /* the test includes workers/provider.h first */

/* Compare r with the worker_result_t fields of e (ok, content, finish_reason, extra_json,
 * response_extra_json, provider_model, prompt_tokens, completion_tokens, err_type, err_code,
 * http_status, retriable, retry_after_ms, err_message_contains, err_message_excludes). */
static inline void exp_worker_result(expect_t *e, const worker_result_t *r)
{
    const char *mc, *mx;

    exp_int(e, "ok", r->ok, -1);
    exp_str(e, "content", r->content);
    exp_str(e, "finish_reason", r->finish_reason);
    exp_json(e, "extra_json", r->extra_json);
    exp_json(e, "response_extra_json", r->response_extra_json);
    exp_str(e, "provider_model", r->provider_model);
    exp_int(e, "prompt_tokens", r->prompt_tokens, 0);
    exp_int(e, "completion_tokens", r->completion_tokens, 0);
    exp_str(e, "err_type", r->err_type);
    exp_str(e, "err_code", r->err_code);
    exp_int(e, "http_status", r->http_status, 0);
    exp_int(e, "retriable", r->retriable, 0);
    exp_int(e, "retry_after_ms", r->retry_after_ms, 0);
    mc = exp_get(e, "err_message_contains");
    mx = exp_get(e, "err_message_excludes");
    if (r->ok) {
        ck(r->err_message == NULL, "err_message", r->err_message, "(null)");
        return;
    }
    ck(r->err_message && *r->err_message, "err_message", r->err_message, "a message");
    if (mc)
        ck(r->err_message && strstr(r->err_message, mc), "err_message_contains", r->err_message,
           mc);
    if (mx)
        ck(r->err_message && !strstr(r->err_message, mx), "err_message_excludes", r->err_message,
           mx);
    /* a provider's 401/403 is never the client's 401/403 */
    ck(r->http_status != 401 && r->http_status != 403, "client status not 401/403", r->err_type,
       "another status");
    ck(r->err_message && strlen(r->err_message) < 400, "err_message bounded", r->err_message,
       "under 400 bytes");
}

/* A whole-answer parser (worker_openai_parse_response's signature). */
typedef void (*exp_parse_fn)(long http_status, const char *body, size_t len,
                             const char *retry_after, const char *transport_error,
                             int transport_timeout, worker_result_t *out);

/* Case NAME of dir: NAME.json is an answer body, NAME.expect the call's inputs (status,
 * retry_after, transport_error, timeout, no_body) and the expected result
 * (exp_worker_result). */
static inline void exp_answer_case(const char *dir, const char *name, exp_parse_fn parse)
{
    char path[4096];
    char *body, *exact;
    size_t len = 0;
    expect_t e;
    worker_result_t out;
    const char *st, *ra, *te, *to, *nb;

    body = case_body(dir, name, &len, path, sizeof(path));
    if (expect_load(&e, path) != 0 || !body) {
        ck(0, "expect file readable", path, "");
        free(body);
        return;
    }
    st = exp_get(&e, "status");
    ck(st != NULL, "status line present", NULL, "status=...");
    ra = exp_get(&e, "retry_after");
    te = exp_get(&e, "transport_error");
    to = exp_get(&e, "timeout");
    nb = exp_get(&e, "no_body");
    exact = exact_copy(body, len);   /* no terminator: the parser must honour len */
    memset(&out, 0x5a, sizeof(out)); /* garbage in: the function resets *out */
    parse(st ? atol(st) : -1, nb && atoi(nb) ? NULL : exact, nb && atoi(nb) ? 0 : len, ra, te,
          to ? atoi(to) : 0, &out);
    exp_worker_result(&e, &out);
    exp_all_used(&e);
    expect_free(&e);
    worker_result_clear(&out);
    ck(out.content == NULL && out.err_message == NULL && out.ok == 0, "cleared", "set", "zeroed");
    free(exact);
    free(body);
}

#endif /* LQ_WORKER_PROVIDER_H */

#endif /* LQ_TEST_EXPECT_H */

/* What every wire adapter shares: wire names, dispatch, the error mapping table of
 * provider.h, masking of provider messages, Retry-After, and small HTTP request helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/clock.h"
#include "workers/provider.h"

static const char *const wire_names[] = {"openai", "anthropic", "gemini"};

const char *worker_wire_name(worker_wire_t w)
{
    if ((unsigned)w >= sizeof(wire_names) / sizeof(wire_names[0]))
        return "unknown";
    return wire_names[w];
}

int worker_wire_parse(const char *name)
{
    size_t i;

    if (!name)
        return -1;
    for (i = 0; i < sizeof(wire_names) / sizeof(wire_names[0]); i++)
        if (strcmp(name, wire_names[i]) == 0)
            return (int)i;
    return -1;
}

/* ---- HTTP requests ---- */

void worker_http_request_clear(worker_http_request_t *r)
{
    size_t i;

    if (!r)
        return;
    free(r->url);
    free(r->body);
    for (i = 0; i < r->n_headers; i++)
        free(r->headers[i]);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

/* Append line (malloc'ed; freed here on failure); 0 or -1. */
static int push_header(worker_http_request_t *r, char *line)
{
    char **h = realloc(r->headers, (r->n_headers + 1) * sizeof(*h));

    if (!h) {
        free(line);
        return -1;
    }
    r->headers = h;
    r->headers[r->n_headers++] = line;
    return 0;
}

int worker_http_request_add_header(worker_http_request_t *r, const char *name,
                                   const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    char *line;

    line = malloc(nl + vl + 3);
    if (!line)
        return -1;
    memcpy(line, name, nl);
    memcpy(line + nl, ": ", 2);
    memcpy(line + nl + 2, value, vl + 1);
    return push_header(r, line);
}

int worker_http_request_add_target_headers(worker_http_request_t *r, const worker_target_t *t)
{
    size_t i;
    char *line;

    for (i = 0; i < t->n_headers; i++) {
        if (!t->headers[i] || !strchr(t->headers[i], ':'))
            continue; /* not a header line */
        line = strdup(t->headers[i]);
        if (!line || push_header(r, line))
            return -1;
    }
    return 0;
}

int worker_http_request_add_rest(worker_http_request_t *r, const worker_target_t *t, int stream,
                                 const char *key_header)
{
    if (t->api_key && *t->api_key && worker_http_request_add_header(r, key_header, t->api_key))
        return -1;
    if (stream && worker_http_request_add_header(r, "Accept", "text/event-stream"))
        return -1;
    return worker_http_request_add_target_headers(r, t);
}

int worker_http_request_set_url(worker_http_request_t *r, const char *base, const char *path1,
                                const char *path2)
{
    size_t bl = strlen(base), l1 = strlen(path1), l2 = path2 ? strlen(path2) : 0;
    char *u = malloc(bl + l1 + l2 + 1);

    if (!u)
        return -1;
    memcpy(u, base, bl);
    memcpy(u + bl, path1, l1);
    if (l2)
        memcpy(u + bl + l1, path2, l2);
    u[bl + l1 + l2] = '\0';
    free(r->url);
    r->url = u;
    return 0;
}

int worker_build_request(const lq_chat_request_t *req, const worker_target_t *t, int stream,
                         worker_http_request_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!req || !t || !t->base_url || !t->model)
        return -1;
    switch (t->wire) {
    case WORKER_WIRE_OPENAI:
        return worker_openai_build_request(req, t, stream, out);
    case WORKER_WIRE_ANTHROPIC:
        return worker_anthropic_build_request(req, t, stream, out);
    case WORKER_WIRE_GEMINI:
        return worker_gemini_build_request(req, t, stream, out);
    }
    return -1;
}

void worker_parse_response(worker_wire_t wire, long http_status, const char *body, size_t len,
                           const char *retry_after, const char *transport_error,
                           int transport_timeout, worker_result_t *out)
{
    switch (wire) {
    case WORKER_WIRE_ANTHROPIC:
        worker_anthropic_parse_response(http_status, body, len, retry_after, transport_error,
                                        transport_timeout, out);
        return;
    case WORKER_WIRE_GEMINI:
        worker_gemini_parse_response(http_status, body, len, retry_after, transport_error,
                                     transport_timeout, out);
        return;
    case WORKER_WIRE_OPENAI:
        break;
    }
    worker_openai_parse_response(http_status, body, len, retry_after, transport_error,
                                 transport_timeout, out);
}

/* ---- masking ---- */

static int key_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

/* 1 when the run of key characters s[0..n) looks like a credential. */
static int key_shaped(const char *s, size_t n)
{
    static const char *const prefixes[] = {"sk-", "AIza", "pplx-", "xai-", "gsk_", "r8_"};
    size_t i, pl;

    if (n >= 24)
        return 1;
    for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        pl = strlen(prefixes[i]);
        if (n >= pl + 4 && strncmp(s, prefixes[i], pl) == 0)
            return 1;
    }
    return 0;
}

void worker_mask_secrets(char *dst, size_t dst_size, const char *msg, size_t max_bytes)
{
    size_t o = 0, limit, i = 0;
    int cut = 0;

    if (!dst || dst_size == 0)
        return;
    dst[0] = '\0';
    if (!msg)
        return;
    if (dst_size < 8)
        return; /* no room for anything useful */
    limit = dst_size - 4 < max_bytes ? dst_size - 4 : max_bytes; /* room for "..." + NUL */
    while (msg[i] && !cut) {
        const char *piece = msg + i;
        size_t n = 1, adv = 1;
        char masked[8];
        if (key_char((unsigned char)msg[i]) && (i == 0 || !key_char((unsigned char)msg[i - 1]))) {
            size_t j = i;
            while (key_char((unsigned char)msg[j]))
                j++;
            n = adv = j - i;
            if (key_shaped(piece, n)) {
                memcpy(masked, piece, 4);
                memcpy(masked + 4, "***", 3);
                piece = masked;
                n = 7;
            }
        }
        if (o + n > limit) {
            n = limit - o;
            cut = 1;
        }
        memcpy(dst + o, piece, n);
        o += n;
        i += adv;
    }
    if (cut || msg[i]) {
        /* do not leave half a UTF-8 sequence behind */
        while (o > 0 && ((unsigned char)dst[o - 1] & 0xC0) == 0x80)
            o--;
        if (o > 0 && (unsigned char)dst[o - 1] >= 0xC0)
            o--;
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

/* ---- the error mapping table ---- */


void worker_fail_transport(worker_result_t *out, const char *transport_error, int timeout)
{
    char masked[WORKER_PROVIDER_MESSAGE_MAX + 8], detail[WORKER_PROVIDER_MESSAGE_MAX + 64];

    memset(out, 0, sizeof(*out));
    worker_mask_secrets(masked, sizeof(masked),
                        transport_error && *transport_error ? transport_error
                                                            : "connection failed",
                        WORKER_PROVIDER_MESSAGE_MAX);
    snprintf(detail, sizeof(detail), "The provider could not be reached: %s", masked);
    worker_result_fail(out, "provider_error", timeout ? "provider_timeout" : "provider_unreachable",
                       detail, timeout ? 504 : 502, 1);
}

void worker_fail_bad_answer(worker_result_t *out, const char *message)
{
    memset(out, 0, sizeof(*out));
    worker_result_fail(out, "provider_error", "bad_provider_response", message, 502, 1);
}

void worker_fail_nomem(worker_result_t *out)
{
    worker_result_clear(out);
    worker_result_fail(out, "server_error", "out_of_memory", "out of memory", 500, 1);
}

long worker_status_lookup(const worker_status_map_t *map, size_t n, const char *name, long dflt)
{
    size_t i;

    for (i = 0; name && i < n; i++)
        if (strcmp(name, map[i].name) == 0)
            dflt = map[i].status;
    return dflt;
}

int worker_parse_begin(long http_status, const char *body, size_t len, const char *retry_after,
                       const char *transport_error, int transport_timeout, int unwrap_array,
                       int error_in_2xx, worker_fail_error_fn fail_error, json_t **doc,
                       json_t **root, worker_result_t *out)
{
    json_error_t jerr;

    memset(out, 0, sizeof(*out));
    *doc = *root = NULL;
    if (http_status == 0) {
        worker_fail_transport(out, transport_error, transport_timeout);
        return 1;
    }
    *doc = body && len ? json_loadb(body, len, 0, &jerr) : NULL;
    *root = unwrap_array && json_is_array(*doc) ? json_array_get(*doc, 0) : *doc;
    if (http_status < 200 || http_status >= 300) {
        fail_error(out, http_status, json_object_get(*root, "error"), retry_after);
        return 1;
    }
    if (error_in_2xx && json_is_object(json_object_get(*root, "error"))) {
        fail_error(out, 0, json_object_get(*root, "error"), retry_after);
        return 1;
    }
    return 0;
}

int worker_text_append(char **text, size_t *len, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    char *p = realloc(*text, *len + n + 1);

    if (!p)
        return -1;
    *text = p;
    memcpy(p + *len, s ? s : "", n + 1);
    *len += n;
    return 0;
}

int worker_tool_calls_add(json_t **calls, const char *id, const char *name, json_t *args)
{
    char *a = args ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_t *tc = worker_tool_call_new(id, name, a ? a : "{}");

    free(a);
    if (!tc || (!*calls && !(*calls = json_array())) || json_array_append_new(*calls, tc))
        return -1;
    return 0;
}

int worker_result_set_tool_calls(worker_result_t *out, json_t *calls)
{
    json_t *extra = json_pack("{s:O}", "tool_calls", calls);

    out->extra_json = extra ? json_dumps(extra, JSON_COMPACT) : NULL;
    json_decref(extra);
    return out->extra_json ? 0 : -1;
}

void worker_fail_http(worker_result_t *out, long http_status, const char *code,
                      const char *message, int overloaded, const char *retry_after)
{
    char masked[WORKER_PROVIDER_MESSAGE_MAX + 8], detail[WORKER_PROVIDER_MESSAGE_MAX + 64];
    const char *type = "provider_error";
    int status = 502, retriable = 0;

    memset(out, 0, sizeof(*out));
    if (code && !*code)
        code = NULL;
    worker_mask_secrets(masked, sizeof(masked), message && *message ? message : "no error message",
                        WORKER_PROVIDER_MESSAGE_MAX);
    snprintf(detail, sizeof(detail), "The provider answered %ld: %s", http_status, masked);
    if (overloaded || http_status == 529) {
        status = 503;
        code = "provider_overloaded";
        retriable = 1;
    } else if (http_status == 408) {
        status = 504;
        code = "provider_timeout";
        retriable = 1;
    } else if (http_status == 400 || http_status == 404 || http_status == 413 ||
               http_status == 422) {
        status = (int)http_status;
        type = "invalid_request_error";
    } else if (http_status == 401 || http_status == 403) {
        /* our credentials, not the client's: never a 401 to the client, and not the
         * provider's text or code (it may quote the key, it would blame the client's) */
        type = "provider_auth_error";
        code = "provider_auth_error";
        snprintf(detail, sizeof(detail),
                 "The provider refused llmq's credentials (%ld); an operator must fix the "
                 "provider key.",
                 http_status);
    } else if (http_status == 402) {
        code = "insufficient_credits";
    } else if (http_status == 429) {
        status = 429;
        type = "rate_limit_error";
        retriable = 1;
    } else if (http_status >= 500 && http_status <= 599) {
        retriable = 1;
    }
    worker_result_fail(out, type, code, detail, status, retriable);
    out->retry_after_ms = worker_retry_after_ms(retry_after, lq_wall_ms());
}

/* ---- Retry-After ---- */

static int parse_uint(const char *s, size_t n, int *out)
{
    size_t i;
    int v = 0;

    if (n == 0 || n > 4)
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" → seconds since the epoch, or -1. */
static int64_t parse_http_date(const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    static const char days[] = "SunMonTueWedThuFriSat";
    struct tm tm;
    int day, year, hh, mm, ss, mon = -1, i;
    time_t t;

    if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || strcmp(s + 25, " GMT") != 0)
        return -1;
    for (i = 0; i < 7; i++)
        if (strncmp(s, days + 3 * i, 3) == 0)
            break;
    if (i == 7)
        return -1;
    for (i = 0; i < 12; i++)
        if (strncmp(s + 8, months + 3 * i, 3) == 0)
            mon = i;
    if (mon < 0 || parse_uint(s + 5, 2, &day) || parse_uint(s + 12, 4, &year) ||
        parse_uint(s + 17, 2, &hh) || parse_uint(s + 20, 2, &mm) || parse_uint(s + 23, 2, &ss))
        return -1;
    if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || year < 1970)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = mon;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    t = timegm(&tm);
    return t == (time_t)-1 ? -1 : (int64_t)t;
}

int64_t worker_retry_after_ms(const char *value, int64_t now_ms)
{
    const int64_t cap = 3600 * 1000;
    const char *p;
    size_t n;
    int64_t secs = 0, ms;
    char buf[40];

    if (!value)
        return 0;
    while (*value == ' ' || *value == '\t')
        value++;
    n = strlen(value);
    while (n && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof(buf))
        return 0;
    memcpy(buf, value, n);
    buf[n] = '\0';
    if (buf[0] >= '0' && buf[0] <= '9') {
        for (p = buf; *p; p++) {
            if (*p < '0' || *p > '9')
                return 0;
            if (secs <= 3600)
                secs = secs * 10 + (*p - '0');
        }
        return secs >= 3600 ? cap : secs * 1000;
    }
    secs = parse_http_date(buf);
    if (secs < 0)
        return 0;
    ms = secs * 1000 - now_ms;
    if (ms <= 0)
        return 0;
    return ms > cap ? cap : ms;
}

/* ---- JSON helpers ---- */

json_t *worker_json_object_load(const char *text)
{
    json_error_t jerr;
    json_t *j;

    if (!text)
        return NULL;
    j = json_loads(text, 0, &jerr);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

json_t *worker_tool_call_new(const char *id, const char *name, const char *arguments)
{
    json_t *fn = json_object(), *tc = json_object();

    if (!fn || !tc || json_object_set_new(fn, "name", json_string(name ? name : "")) ||
        json_object_set_new(fn, "arguments", json_string(arguments ? arguments : "{}")) ||
        json_object_set_new(tc, "id", json_string(id ? id : "")) ||
        json_object_set_new(tc, "type", json_string("function")) ||
        json_object_set(tc, "function", fn)) {
        json_decref(fn);
        json_decref(tc);
        return NULL;
    }
    json_decref(fn);
    return tc;
}

int32_t worker_json_tokens(json_t *v)
{
    json_int_t n = json_integer_value(v);

    if (n <= 0)
        return 0;
    return n > INT32_MAX ? INT32_MAX : (int32_t)n;
}

int worker_buf_add(worker_buf_t *b, const char *s, size_t n)
{
    size_t need = b->len + n + 1;
    char *np;

    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < need)
            cap *= 2;
        np = realloc(b->p, cap);
        if (!np)
            return -1;
        b->p = np;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* ---- request pieces ---- */

int worker_system_append(char **sys, const char *s)
{
    size_t old = *sys ? strlen(*sys) : 0, n = strlen(s);
    char *p = realloc(*sys, old + n + 3);

    if (!p)
        return -1;
    if (old) {
        memcpy(p + old, "\n\n", 2);
        old += 2;
    }
    memcpy(p + old, s, n + 1);
    *sys = p;
    return 0;
}

int worker_json_set_sampling(json_t *obj, const lq_chat_request_t *req, const char *top_p_key,
                             const char *stop_key)
{
    json_t *stop;
    size_t i;

    if (req->has_temperature)
        json_object_set_new(obj, "temperature", json_real(req->temperature));
    if (req->has_top_p)
        json_object_set_new(obj, top_p_key, json_real(req->top_p));
    if (!req->n_stop)
        return 0;
    stop = json_array();
    if (!stop || json_object_set_new(obj, stop_key, stop))
        return -1;
    for (i = 0; i < req->n_stop; i++)
        if (json_array_append_new(stop, json_string(req->stop[i])))
            return -1;
    return 0;
}

/* An image_url part through f->image, or NULL (no URL, a malformed data: URL). */
static json_t *image_block(const worker_turn_format_t *f, json_t *part)
{
    json_t *iu = json_object_get(part, "image_url");
    const char *url = json_is_string(iu) ? json_string_value(iu)
                                         : json_string_value(json_object_get(iu, "url"));
    const char *semi, *comma;

    if (!url)
        return NULL;
    if (strncmp(url, "data:", 5) != 0)
        return f->image(url, NULL, 0, NULL);
    semi = strchr(url, ';');
    comma = strchr(url, ',');
    if (!semi || !comma || semi > comma || strncmp(semi, ";base64,", 8) != 0)
        return NULL;
    return f->image(url, url + 5, (size_t)(semi - (url + 5)), comma + 1);
}

/* Append a text block unless text is empty (the APIs refuse those); 0 or -1. */
static int add_text(const worker_turn_format_t *f, json_t *blocks, const char *text)
{
    if (!text || !*text)
        return 0;
    return json_array_append_new(blocks, f->text(text));
}

/* The content of a user or assistant message as blocks; 0 or -1. */
static int content_blocks(const worker_turn_format_t *f, const lq_message_t *m, json_t *blocks)
{
    json_error_t jerr;
    json_t *parts = m->content_json ? json_loads(m->content_json, 0, &jerr) : NULL, *part;
    size_t i;
    int rc = 0;

    if (!json_is_array(parts)) {
        json_decref(parts);
        return add_text(f, blocks, m->content);
    }
    json_array_foreach(parts, i, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *b;
        if (!type)
            continue;
        if (strcmp(type, "text") == 0) {
            rc = add_text(f, blocks, json_string_value(json_object_get(part, "text")));
        } else if (strcmp(type, "image_url") == 0) {
            b = image_block(f, part);
            if (b)
                rc = json_array_append_new(blocks, b);
        } else if (f->keep_other_parts) {
            rc = json_array_append(blocks, part);
        }
        if (rc)
            break;
    }
    json_decref(parts);
    return rc;
}

/* The tool_calls of an assistant message (its extra_json) as blocks; 0 or -1. */
static int tool_call_blocks(const worker_turn_format_t *f, const lq_message_t *m,
                            json_t *blocks)
{
    json_t *extra = worker_json_object_load(m->extra_json), *tc, *args;
    size_t i;
    int rc = 0;

    json_array_foreach(json_object_get(extra, "tool_calls"), i, tc) {
        json_t *fn = json_object_get(tc, "function");
        const char *a = json_string_value(json_object_get(fn, "arguments"));
        const char *id = json_string_value(json_object_get(tc, "id"));
        const char *name = json_string_value(json_object_get(fn, "name"));
        json_error_t jerr;
        if (!name)
            continue;
        args = a ? json_loads(a, 0, &jerr) : NULL;
        if (!json_is_object(args)) {
            json_decref(args);
            args = json_object();
        }
        rc = json_array_append_new(blocks, f->tool_call(id, name, args));
        if (rc)
            break;
    }
    json_decref(extra);
    return rc;
}

json_t *worker_turns(const lq_chat_request_t *req, const worker_turn_format_t *f, char **sys)
{
    json_t *turns = json_array(), *blocks = NULL;
    const char *prev_role = NULL;
    size_t i;

    if (!turns)
        return NULL;
    for (i = 0; i < req->n_messages; i++) {
        const lq_message_t *m = &req->messages[i];
        const char *role = strcmp(m->role, "assistant") == 0 ? f->assistant_role : "user";
        int rc;
        if (strcmp(m->role, "system") == 0 || strcmp(m->role, "developer") == 0) {
            if (worker_system_append(sys, m->content))
                goto fail;
            continue;
        }
        if (!prev_role || strcmp(prev_role, role) != 0) {
            blocks = json_array();
            if (!blocks || json_array_append_new(turns, json_pack("{s:s, s:o}", "role", role,
                                                                   f->blocks_key, blocks)))
                goto fail;
            prev_role = role;
        }
        if (strcmp(m->role, "tool") == 0)
            rc = f->tool_result(req, i, blocks);
        else if (strcmp(m->role, "assistant") == 0)
            rc = content_blocks(f, m, blocks) || tool_call_blocks(f, m, blocks);
        else
            rc = content_blocks(f, m, blocks);
        if (rc)
            goto fail;
    }
    return turns;
fail:
    json_decref(turns);
    return NULL;
}

json_t *worker_tool_declarations(json_t *extra, const char *schema_key, int default_schema)
{
    json_t *out = NULL, *t;
    size_t i;

    json_array_foreach(json_object_get(extra, "tools"), i, t) {
        json_t *fn = json_object_get(t, "function"), *schema, *d;
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!name)
            continue;
        if (!out && !(out = json_array()))
            return NULL;
        schema = json_object_get(fn, "parameters");
        d = json_pack("{s:s}", "name", name);
        if (!d || json_array_append_new(out, d)) {
            json_decref(out);
            return NULL;
        }
        if (json_is_string(json_object_get(fn, "description")))
            json_object_set(d, "description", json_object_get(fn, "description"));
        if (json_is_object(schema))
            json_object_set(d, schema_key, schema);
        else if (default_schema)
            json_object_set_new(d, schema_key, json_pack("{s:s, s:{}}", "type", "object",
                                                         "properties"));
    }
    return out;
}

worker_tool_choice_t worker_tool_choice(json_t *extra, const char **name)
{
    json_t *tc = json_object_get(extra, "tool_choice");
    const char *s = json_string_value(tc);

    *name = json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
    if (s && strcmp(s, "auto") == 0)
        return WORKER_TOOL_CHOICE_AUTO;
    if (s && strcmp(s, "required") == 0)
        return WORKER_TOOL_CHOICE_REQUIRED;
    if (s && strcmp(s, "none") == 0)
        return WORKER_TOOL_CHOICE_NONE;
    return *name ? WORKER_TOOL_CHOICE_NAMED : WORKER_TOOL_CHOICE_UNSET;
}

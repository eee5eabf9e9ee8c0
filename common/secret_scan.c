/* Credential shapes, matched by hand. See common/secret_scan.h. */
#include "common/secret_scan.h"

#include <ctype.h>
#include <pthread.h>
#include <string.h>

static const char *const names[LQ_SECRET_KIND_COUNT] = {
    "openai_key",     "anthropic_key", "aws_access_key", "aws_secret_key",
    "github_token",   "gitlab_token",  "private_key",    "slack_token",
    "google_api_key", "stripe_key",    "llmq_key",       "jwt"};

const char *lq_secret_kind_name(lq_secret_kind_t k)
{
    return k < LQ_SECRET_KIND_COUNT ? names[k] : "secret";
}

int lq_secret_kind_parse(const char *name)
{
    int i;

    for (i = 0; name && i < LQ_SECRET_KIND_COUNT; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

int lq_secret_severity(lq_secret_kind_t k)
{
    return k == LQ_SECRET_JWT ? LQ_SEVERITY_MEDIUM : LQ_SEVERITY_HIGH;
}

/* character classes */
enum { C_ALNUM = 1, C_DASH = 2, C_UNDER = 4, C_HEX = 8, C_UPPERNUM = 16, C_B64 = 32 };
static unsigned char cls[256];
static unsigned char first[256];      /* bytes that may start a secret */
static unsigned char pair[65536 / 8]; /* bit (a << 8 | b): two bytes that may start one */

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
    int c;

    for (c = 0; c < 256; c++) {
        unsigned char k = 0;
        if (isalnum(c))
            k |= C_ALNUM | C_B64;
        if (isxdigit(c) && !isupper(c))
            k |= C_HEX;
        if (isdigit(c) || isupper(c))
            k |= C_UPPERNUM;
        if (c == '-')
            k |= C_DASH;
        if (c == '_')
            k |= C_UNDER;
        if (c == '/' || c == '+')
            k |= C_B64;
        cls[c] = k;
    }
    first['s'] = first['r'] = first['A'] = first['g'] = first['x'] = first['-'] = 1;
    first['l'] = first['e'] = first['a'] = 1;
    {
        /* the first two bytes of every shape: most letters of prose stop here */
        static const char *const starts2[] = {"sk", "rk", "AK", "AS", "AI", "gh", "gl", "xo", "ll",
                                              "ey", "aw", "aW", "AW", "Aw", "gi", "--", NULL};
        int i2;
        for (i2 = 0; starts2[i2]; i2++) {
            unsigned v =
                (unsigned)(unsigned char)starts2[i2][0] << 8 | (unsigned char)starts2[i2][1];
            pair[v >> 3] = (unsigned char)(pair[v >> 3] | (1u << (v & 7)));
        }
    }
}

static void init_tables(void)
{
    pthread_once(&tables_once, build_tables);
}

static size_t run(const unsigned char *p, size_t n, unsigned mask)
{
    size_t i = 0;

    while (i < n && (cls[p[i]] & mask))
        i++;
    return i;
}

static int starts(const unsigned char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);

    return n >= l && memcmp(p, lit, l) == 0;
}

static int starts_ci(const unsigned char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit), i;

    if (n < l)
        return 0;
    for (i = 0; i < l; i++)
        if (tolower(p[i]) != lit[i])
            return 0;
    return 1;
}

#define TOKEN (C_ALNUM | C_DASH | C_UNDER)

/* aws_secret_access_key (any case) = <40 base64 characters> */
static size_t aws_secret(const unsigned char *p, size_t n, lq_secret_kind_t *kind)
{
    size_t i = 21;

    if (!starts_ci(p, n, "aws_secret_access_key"))
        return 0;
    while (i < n && i < 30 && strchr(" \t\"'=:", p[i]))
        i++;
    if (i < n && run(p + i, n - i, C_B64) == 40) {
        *kind = LQ_SECRET_AWS_SECRET_KEY;
        return i + 40;
    }
    return 0;
}

/* The secret starting at p (n bytes left), its length, or 0. */
/* Secrets that are a fixed prefix and a run of one character class: at least min
 * characters, or exactly exact (when not 0). Grouped by first byte, so a candidate is
 * tried against its own few rules; in a group a longer prefix comes before a shorter one it
 * starts with. */
typedef struct prefix_rule {
    const char *prefix;
    size_t len;
    unsigned charset;
    size_t min, exact;
    lq_secret_kind_t kind;
} prefix_rule_t;

static const prefix_rule_t rules_s[] = {{"sk-ant-", 7, TOKEN, 20, 0, LQ_SECRET_ANTHROPIC_KEY},
                                        {"sk-", 3, TOKEN, 20, 0, LQ_SECRET_OPENAI_KEY},
                                        {"sk_live_", 8, C_ALNUM, 20, 0, LQ_SECRET_STRIPE_KEY},
                                        {"sk_test_", 8, C_ALNUM, 20, 0, LQ_SECRET_STRIPE_KEY}};
static const prefix_rule_t rules_r[] = {{"rk_live_", 8, C_ALNUM, 20, 0, LQ_SECRET_STRIPE_KEY}};
static const prefix_rule_t rules_A[] = {{"AKIA", 4, C_UPPERNUM, 16, 16, LQ_SECRET_AWS_ACCESS_KEY},
                                        {"ASIA", 4, C_UPPERNUM, 16, 16, LQ_SECRET_AWS_ACCESS_KEY},
                                        {"AIza", 4, TOKEN, 35, 0, LQ_SECRET_GOOGLE_API_KEY}};
static const prefix_rule_t rules_g[] = {
    {"github_pat_", 11, C_ALNUM | C_UNDER, 22, 0, LQ_SECRET_GITHUB_TOKEN},
    {"glpat-", 6, TOKEN, 20, 0, LQ_SECRET_GITLAB_TOKEN}};
static const prefix_rule_t rules_l[] = {{"llmq-", 5, C_HEX, 48, 48, LQ_SECRET_LLMQ_KEY}};
#define RULES(group) group, sizeof(group) / sizeof(group[0])

static size_t match_prefix_rules(const unsigned char *p, size_t n, const prefix_rule_t *rules,
                                 size_t count, lq_secret_kind_t *kind)
{
    size_t i, r;

    for (i = 0; i < count; i++) {
        const prefix_rule_t *ru = &rules[i];
        if (n < ru->len || memcmp(p, ru->prefix, ru->len) != 0)
            continue;
        r = run(p + ru->len, n - ru->len, ru->charset);
        if (ru->exact ? r == ru->exact : r >= ru->min) {
            *kind = ru->kind;
            return ru->len + r;
        }
    }
    return 0;
}

/* gh[pousr]_ and 36+ letters or digits: GitHub's classic tokens */
static size_t match_github(const unsigned char *p, size_t n, lq_secret_kind_t *kind)
{
    size_t r;

    if (n <= 4 || p[1] != 'h' || !strchr("pousr", p[2]) || p[3] != '_' ||
        (r = run(p + 4, n - 4, C_ALNUM)) < 36)
        return 0;
    *kind = LQ_SECRET_GITHUB_TOKEN;
    return 4 + r;
}

/* xox[baprs]- and 10+ letters, digits or dashes: Slack's tokens */
static size_t match_slack(const unsigned char *p, size_t n, lq_secret_kind_t *kind)
{
    size_t r;

    if (n <= 5 || p[1] != 'o' || p[2] != 'x' || !strchr("baprs", p[3]) || p[4] != '-' ||
        (r = run(p + 5, n - 5, C_ALNUM | C_DASH)) < 10)
        return 0;
    *kind = LQ_SECRET_SLACK_TOKEN;
    return 5 + r;
}

/* a JWT: three base64url parts, the first two JSON objects ("eyJ").
 * Linear time: the first part is a run of token bytes, and '-' inside it lets another
 * candidate start there ("eyJ-eyJ-eyJ-..."), whose first part ends where this one's does
 * and whose fate is decided by the same bytes after it. So when a candidate fails past its
 * first part, *dead is set to what is left of the text at that part's end, and a candidate
 * with more left than that (one inside the part) fails at once. Without this, 1 MiB of
 * "eyJ-" took a minute of CPU. */
static size_t match_jwt(const unsigned char *p, size_t n, lq_secret_kind_t *kind, size_t *dead)
{
    size_t a, b, c;

    if (n > *dead || !starts(p, n, "eyJ"))
        return 0;
    a = run(p, n, TOKEN);
    if (a < 10 || a >= n || p[a] != '.' || !starts(p + a + 1, n - a - 1, "eyJ") ||
        (b = run(p + a + 1, n - a - 1, TOKEN)) < 10 || a + 1 + b >= n || p[a + 1 + b] != '.' ||
        (c = run(p + a + 2 + b, n - a - 2 - b, TOKEN)) < 10) {
        *dead = n - a;
        return 0;
    }
    *kind = LQ_SECRET_JWT;
    return a + 2 + b + c;
}

/* Where "-----BEGIN [RSA |EC |OPENSSH |DSA |ENCRYPTED |PGP ]PRIVATE KEY[ BLOCK]-----" ends;
 * 0 when p is no such header. */
static size_t private_key_header(const unsigned char *p, size_t n)
{
    size_t i, k;

    if (!starts(p, n, "-----BEGIN "))
        return 0;
    for (i = 11; i + 16 <= n && i < 60; i++) {
        if (memcmp(p + i, "PRIVATE KEY", 11) != 0)
            continue;
        k = i + 11;
        if (starts(p + k, n - k, " BLOCK"))
            k += 6;
        return starts(p + k, n - k, "-----") ? k + 5 : 0;
    }
    return 0;
}

/* A private key block, to the end of its "-----END ...-----" line (or of the text, when
 * the block is cut off). */
static size_t match_private_key(const unsigned char *p, size_t n, lq_secret_kind_t *kind)
{
    size_t i, end = 0, hdr = private_key_header(p, n);

    if (!hdr)
        return 0;
    *kind = LQ_SECRET_PRIVATE_KEY;
    for (i = hdr; i + 8 <= n && !end; i++)
        if (memcmp(p + i, "-----END", 8) == 0)
            end = i + 8;
    if (!end)
        return n; /* cut off: everything after the header counts */
    for (i = end; i < n && p[i] != '\n' && i < end + 60; i++)
        ;
    return i;
}

/* jwt_dead: see match_jwt (the scan's memory of failed JWT candidates) */
static size_t match(const unsigned char *p, size_t n, lq_secret_kind_t *kind, size_t *jwt_dead)
{
    size_t r;

    /* by the first byte, so a candidate no rule starts with costs one branch */
    switch (p[0]) {
    case 's':
        return match_prefix_rules(p, n, RULES(rules_s), kind);
    case 'r':
        return match_prefix_rules(p, n, RULES(rules_r), kind);
    case 'l':
        return match_prefix_rules(p, n, RULES(rules_l), kind);
    case 'A':
        r = match_prefix_rules(p, n, RULES(rules_A), kind);
        return r ? r : aws_secret(p, n, kind); /* AWS_SECRET_ACCESS_KEY=... as in .env files */
    case 'a':
        return aws_secret(p, n, kind);
    case 'g':
        r = match_github(p, n, kind);
        return r ? r : match_prefix_rules(p, n, RULES(rules_g), kind);
    case 'x':
        return match_slack(p, n, kind);
    case 'e':
        return match_jwt(p, n, kind, jwt_dead);
    case '-':
        return match_private_key(p, n, kind);
    default:
        return 0;
    }
}

/* The scan from text[from]: up to max findings into out; counts on to the end unless
 * stop_when_full (then it returns at the max-th). */
static size_t scan(const char *text, size_t len, size_t from, lq_secret_finding_t *out, size_t max,
                   int stop_when_full)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i = from, found = 0, jwt_dead = (size_t)-1;

    init_tables();
    while (i < len) {
        lq_secret_kind_t kind;
        size_t m;
        unsigned two = i + 1 < len ? (unsigned)p[i] << 8 | p[i + 1] : 0;
        /* a secret starts a word; an escape such as \n before it counts as a boundary (JSON
         * text, C strings) */
        if (!first[p[i]] || !(pair[two >> 3] & (1u << (two & 7))) ||
            (i > 0 && (cls[p[i - 1]] & (C_ALNUM | C_UNDER)) && p[i] != '-' &&
             !(i > 1 && p[i - 2] == '\\'))) {
            i++;
            continue;
        }
        m = match(p + i, len - i, &kind, &jwt_dead);
        if (!m) {
            i++;
            continue;
        }
        if (found < max) {
            out[found].kind = kind;
            out[found].start = i;
            out[found].len = m;
        }
        found++;
        i += m;
        if (stop_when_full && found >= max)
            break;
    }
    return found;
}

size_t lq_secret_scan(const char *text, size_t len, lq_secret_finding_t *out, size_t max)
{
    return scan(text, len, 0, out, max, 0);
}

size_t lq_secret_scan_from(const char *text, size_t len, size_t from, lq_secret_finding_t *out,
                           size_t max)
{
    return scan(text, len, from, out, max, 0);
}

/* ---- where a secret could still be growing (streamed text) ---- */

/* The bytes a matcher other than the AWS secret key's and the private key block's reads
 * are all in these: letters, digits, '-', '_' and the dots of a JWT. */
static int reach_byte(unsigned char c)
{
    return (cls[c] & TOKEN) || c == '.';
}

/* An "aws_secret_access_key" label at p: is its value still open at the end of the text? */
static int aws_secret_open(const unsigned char *p, size_t n)
{
    size_t i = 21;

    if (!starts_ci(p, n, "aws_secret_access_key"))
        return 0;
    while (i < n && i < 30 && strchr(" \t\"'=:", p[i]))
        i++;
    return i >= n || i + run(p + i, n - i, C_B64) >= n;
}

/* A private key block at p: is it (or its header) still open at the end of the text? The
 * header is settled 81 bytes in at the latest; the block at the end of its END line. */
static int private_key_open(const unsigned char *p, size_t n)
{
    static const char begin[] = "-----BEGIN ";
    size_t hdr, i, end = 0;

    if (n < 11)
        return memcmp(p, begin, n) == 0;
    if (memcmp(p, begin, 11) != 0)
        return 0;
    hdr = private_key_header(p, n);
    if (!hdr)
        return n < 81;
    for (i = hdr; i + 8 <= n && !end; i++)
        if (memcmp(p + i, "-----END", 8) == 0)
            end = i + 8;
    if (!end)
        return 1;
    for (i = end; i < n && p[i] != '\n' && i < end + 60; i++)
        ;
    return i >= n;
}

size_t lq_secret_open_from(const char *text, size_t len, size_t from)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i, run_end = 0;

    init_tables();
    for (i = from; i < len; i++) {
        unsigned two;
        if (!first[p[i]])
            continue;
        if (i + 1 == len)
            return i; /* one byte: its pair is not known yet */
        two = (unsigned)p[i] << 8 | p[i + 1];
        if (!(pair[two >> 3] & (1u << (two & 7))))
            continue;
        if (run_end <= i) /* the same run of reachable bytes for every start inside it */
            for (run_end = i; run_end < len && reach_byte(p[run_end]); run_end++)
                ;
        if (run_end >= len)
            return i;
        if ((p[i] == 'a' || p[i] == 'A') && aws_secret_open(p + i, len - i))
            return i;
        if (p[i] == '-' && private_key_open(p + i, len - i))
            return i;
    }
    return len;
}

void lq_secret_mask(char *text, const lq_secret_finding_t *f, size_t n)
{
    size_t k, i;

    for (k = 0; k < n; k++) {
        if (f[k].len <= 8) {
            memset(text + f[k].start, '*', f[k].len);
            continue;
        }
        for (i = 4; i + 2 < f[k].len; i++)
            if (text[f[k].start + i] != '\n') /* keep a PEM block's lines */
                text[f[k].start + i] = '*';
    }
}

size_t lq_secret_sweep(char *text, size_t len, size_t from, lq_secret_visit_fn visit, void *arg)
{
    lq_secret_finding_t f;
    size_t total = 0, masked, at;
    int later = 0;
    lq_sweep_action_t a = LQ_SWEEP_KEEP;

    /* Each masked finding turns bytes that were not '*' into '*' (its middle holds the
     * shape's own bytes), so the sweeps end. */
    do {
        masked = 0;
        at = from;
        while (scan(text, len, at, &f, 1, 1) == 1) {
            a = visit(arg, &f);
            if (a == LQ_SWEEP_END || a == LQ_SWEEP_STOP)
                break;
            at = f.start + f.len;
            if (a == LQ_SWEEP_MASK) {
                lq_secret_mask(text, &f, 1);
                masked++;
                if (later && f.len > 8)
                    at -= 2; /* its kept tail follows a '*' now */
            }
        }
        total += masked;
        later = 1;
    } while (masked && a != LQ_SWEEP_STOP);
    return total;
}

static lq_sweep_action_t mask_all(void *arg, const lq_secret_finding_t *f)
{
    (void)arg;
    (void)f;
    return LQ_SWEEP_MASK;
}

size_t lq_secret_redact(char *text)
{
    return lq_secret_sweep(text, strlen(text), 0, mask_all, NULL);
}

int lq_contains_word(const char *text, size_t len, const char *word)
{
    size_t w = strlen(word), i, j;

    if (!w || w > len)
        return 0;
    for (i = 0; i + w <= len; i++) {
        if (i > 0 && isalnum((unsigned char)text[i - 1]))
            continue;
        for (j = 0; j < w && tolower((unsigned char)text[i + j]) == tolower((unsigned char)word[j]);
             j++)
            ;
        if (j == w && (i + w == len || !isalnum((unsigned char)text[i + w])))
            return 1;
    }
    return 0;
}

/* common/secret_scan.h — finding credentials in text (prompts, answers) and masking them.
 *
 * Hand-written matchers, one pass over the text with a first-byte filter: no regex
 * engine, no allocation while scanning. Each kind has a severity; the caller decides
 * what to do (ingest blocks high-severity findings in prompts by default, or redacts;
 * workers redact answers). Masking keeps the first 4 and the last 2 characters of a
 * secret and replaces the rest with '*', so the text keeps its length and stays UTF-8. */
#ifndef LQ_SECRET_SCAN_H
#define LQ_SECRET_SCAN_H

#include <stddef.h>

typedef enum lq_secret_kind {
    LQ_SECRET_OPENAI_KEY = 0, /* sk-…, sk-proj-… */
    LQ_SECRET_ANTHROPIC_KEY,  /* sk-ant-… */
    LQ_SECRET_AWS_ACCESS_KEY, /* AKIA…/ASIA… */
    LQ_SECRET_AWS_SECRET_KEY, /* aws_secret_access_key = <40 chars> */
    LQ_SECRET_GITHUB_TOKEN,   /* ghp_/gho_/ghu_/ghs_/ghr_…, github_pat_… */
    LQ_SECRET_GITLAB_TOKEN,   /* glpat-… */
    LQ_SECRET_PRIVATE_KEY,    /* -----BEGIN … PRIVATE KEY----- */
    LQ_SECRET_SLACK_TOKEN,    /* xoxb-/xoxp-/… */
    LQ_SECRET_GOOGLE_API_KEY, /* AIza… */
    LQ_SECRET_STRIPE_KEY,     /* sk_live_/rk_live_… */
    LQ_SECRET_LLMQ_KEY,       /* llmq-<48 hex> */
    LQ_SECRET_JWT,            /* eyJ….eyJ….… (medium) */
    LQ_SECRET_KIND_COUNT
} lq_secret_kind_t;

enum { LQ_SEVERITY_MEDIUM = 1, LQ_SEVERITY_HIGH = 2 };

typedef struct lq_secret_finding {
    lq_secret_kind_t kind;
    size_t start, len;
} lq_secret_finding_t;

/** "openai_key", "aws_access_key", ... (stable names: policies and traces use them). */
const char *lq_secret_kind_name(lq_secret_kind_t k);
/** The kind called name, or -1. */
int lq_secret_kind_parse(const char *name);
int lq_secret_severity(lq_secret_kind_t k);

/** Scan text[0..len); up to max findings (in order, not overlapping) into out. Returns
 * how many were found in all (may be more than max). */
size_t lq_secret_scan(const char *text, size_t len, lq_secret_finding_t *out, size_t max);

/** lq_secret_scan from text[from] on; the bytes before from are context (a secret starts a
 * word: the scan looks at the one or two bytes before a candidate). */
size_t lq_secret_scan_from(const char *text, size_t len, size_t from, lq_secret_finding_t *out,
                           size_t max);

/** For text that goes on (a streamed answer): the first position at or after from where a
 * secret could still start or grow when more text follows (a candidate start whose possible
 * extent reaches the end of text[0..len)), or len when there is none. What comes before it
 * scans the same whatever follows. */
size_t lq_secret_open_from(const char *text, size_t len, size_t from);

/** Mask the findings in place (text must be writable). */
void lq_secret_mask(char *text, const lq_secret_finding_t *f, size_t n);

/** Mask every secret of a NUL-terminated string in place; returns how many were masked. */
size_t lq_secret_redact(char *text);

/** What lq_secret_sweep does with a finding: leave it, mask it, end this sweep (the rest of
 * the text is not looked at until the next sweep), or stop sweeping (the visitor keeps why). */
typedef enum { LQ_SWEEP_KEEP, LQ_SWEEP_MASK, LQ_SWEEP_END, LQ_SWEEP_STOP } lq_sweep_action_t;

typedef lq_sweep_action_t (*lq_secret_visit_fn)(void *arg, const lq_secret_finding_t *f);

/** lq_secret_redact over text[from..len) (the bytes before from are context), asking visit
 * what to do with each finding. Sweeps until one masks nothing, each linear in the text:
 * the first finds what one scan finds; later ones go on from a masked finding's kept last
 * two bytes, which masking may have made a word start, so a chain of secrets that masking
 * exposes one after another is masked in one sweep. Returns how many were masked. */
size_t lq_secret_sweep(char *text, size_t len, size_t from, lq_secret_visit_fn visit, void *arg);

/** Does text contain word (any case, whole word)? For tenants' blocked keywords. */
int lq_contains_word(const char *text, size_t len, const char *word);

#endif

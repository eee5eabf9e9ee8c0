/* llmq-scan-bench: the prompt scanner's cost per KB (common/secret_scan.c), on prompt-like
 * text: prose, code and JSON with a few credentials. Prints one JSON object:
 *   {"scan_kb": N, "scan_ns_per_kb_p50": ..., "scan_mb_per_s": ...}
 * It scans the whole text (the policy's work on a clean prompt: nothing to mask).
 *   llmq-scan-bench hostile   one line per hostile shape (a unit repeated over 1 MiB): the
 *                             milliseconds of one scan and of one redaction, to show both stay
 *                             linear where candidates overlap or findings are many */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/secret_scan.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* 1 MiB of each shape: scanned, then redacted (a copy), milliseconds each */
static int hostile(void)
{
    static const char *const units[] = {"eyJ-",
                                        "eyJaaaaaaaaaa.eyJ-",
                                        "eyJaaaaaaaaaa.eyJaaaaaaaaaa.x.",
                                        "sk-aaaaaaaaaaaaaaaaaaaa ",
                                        "sk_live_AAAAAAAAAAAAAAAAAAsk",
                                        "-----BEGIN ",
                                        "ghp_"};
    size_t len = (size_t)1 << 20, u, i, k;
    char *text = malloc(len + 1);
    lq_secret_finding_t f[4];

    if (!text)
        return 2;
    for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
        double t0, scan_ms, redact_ms;
        size_t found, masked;
        u = strlen(units[k]);
        for (i = 0; i < len; i++)
            text[i] = units[k][i % u];
        text[len] = '\0';
        t0 = now_ns();
        found = lq_secret_scan(text, len, f, 4);
        scan_ms = (now_ns() - t0) / 1e6;
        t0 = now_ns();
        masked = lq_secret_redact(text);
        redact_ms = (now_ns() - t0) / 1e6;
        printf("{\"shape\": \"%s\", \"bytes\": %zu, \"findings\": %zu, \"scan_ms\": %.2f, "
               "\"masked\": %zu, \"redact_ms\": %.2f}\n",
               units[k], len, found, scan_ms, masked, redact_ms);
    }
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    static const char *const pieces[] = {
        "Summarise the benefits of durable queues for LLM traffic in three bullet points. ",
        "def handler(event, context):\n    return {\"statusCode\": 200, \"body\": "
        "json.dumps(event)}\n",
        "{\"user_id\": \"01a201d2-158f-771f-868f-884037abdccb\", \"items\": [1, 2, 3], \"total\": "
        "42.5}\n",
        "The task-force reviewed risk-assessment-of-the-programme and the skeleton plan. ",
        "SELECT account_id, sum(amount) FROM ledger WHERE created_at > now() - interval '7 "
        "days';\n"};
    size_t kb = argc > 1 ? (size_t)atol(argv[1]) : 64, len = kb * 1024, o = 0, i = 0;
    char *text = malloc(len + 1);
    double runs[41], total = 0;
    lq_secret_finding_t f[16];
    size_t found = 0;
    int r, reps = 0;

    if (argc > 1 && strcmp(argv[1], "hostile") == 0) {
        free(text);
        return hostile();
    }
    if (!text || kb == 0)
        return 2;
    while (o < len) {
        const char *p = pieces[i++ % 5];
        size_t n = strlen(p) < len - o ? strlen(p) : len - o;
        memcpy(text + o, p, n);
        o += n;
    }
    text[len] = '\0';
    for (r = 0; r < 41; r++) {
        double t0 = now_ns(), t;
        int k;
        for (k = 0; k < 20; k++)
            found += lq_secret_scan(text, len, f, 16);
        t = (now_ns() - t0) / 20;
        runs[r] = t / (double)kb;
        total += t;
        reps += 20;
    }
    qsort(runs, 41, sizeof(double), cmp_d);
    printf("{\"scan_kb\": %zu, \"scan_ns_per_kb_p50\": %.0f, \"scan_ns_per_kb_min\": %.0f, "
           "\"scan_mb_per_s\": %.0f, \"findings\": %zu}\n",
           kb, runs[20], runs[0], (double)len / (runs[20] * (double)kb) * 1e3,
           found / (size_t)reps);
    free(text);
    return 0;
}

/* A driver for the fuzz targets that needs no fuzzing engine: it replays every file given
 * (or every file in a given folder), then, with --mutate N, feeds N deterministic mutations
 * of each (bit flips, byte changes, truncations, insertions, splices of interesting bytes).
 * Under ASan/UBSan this catches shallow bugs on every CI run; with clang the same targets
 * link against libFuzzer instead (ops/fuzz.sh). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t files;

static void run_one(const uint8_t *data, size_t size, long mutations)
{
    static const char *const tokens[] = {"{",    "}",  "[",     "]",       "\"",   ":",    ",",
                                         "null", "-1", "1e999", "\\u0000", "\xff", "\xc3", "0"};
    uint8_t *buf = malloc(size + 64);
    long m;

    if (!buf)
        abort();
    LLVMFuzzerTestOneInput(data, size);
    files++;
    for (m = 0; m < mutations; m++) {
        size_t n = size, i, edits = 1 + next() % 4;
        memcpy(buf, data, size);
        for (i = 0; i < edits; i++) {
            size_t pos = n ? next() % n : 0;
            switch (next() % 5) {
            case 0: /* flip a bit */
                if (n)
                    buf[pos] ^= (uint8_t)(1u << (next() % 8));
                break;
            case 1: /* random byte */
                if (n)
                    buf[pos] = (uint8_t)next();
                break;
            case 2: /* truncate */
                n = pos;
                break;
            case 3: { /* insert a token */
                const char *t = tokens[next() % (sizeof(tokens) / sizeof(tokens[0]))];
                size_t tl = strlen(t);
                if (n + tl <= size + 64) {
                    memmove(buf + pos + tl, buf + pos, n - pos);
                    memcpy(buf + pos, t, tl);
                    n += tl;
                }
                break;
            }
            default: /* delete a byte */
                if (n) {
                    memmove(buf + pos, buf + pos + 1, n - pos - 1);
                    n--;
                }
            }
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    free(buf);
}

static void run_path(const char *path, long mutations)
{
    struct stat st;
    FILE *fp;
    uint8_t *data;
    long size;

    if (stat(path, &st) != 0) {
        perror(path);
        exit(2);
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        char sub[4096];
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            run_path(sub, mutations);
        }
        if (d)
            closedir(d);
        return;
    }
    fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        exit(2);
    }
    fseek(fp, 0, SEEK_END);
    size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    data = malloc((size_t)size + 1);
    if (!data || fread(data, 1, (size_t)size, fp) != (size_t)size)
        exit(2);
    fclose(fp);
    run_one(data, (size_t)size, mutations);
    free(data);
}

int main(int argc, char **argv)
{
    long mutations = 0;
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mutate") == 0 && i + 1 < argc) {
            mutations = atol(argv[++i]);
            continue;
        }
        run_path(argv[i], mutations);
    }
    printf("%zu inputs, %ld mutations each: no crash\n", files, mutations);
    return files ? 0 : 1;
}

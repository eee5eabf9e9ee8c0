/* ingest/batch_lines.h — a batch's input, line by line: the reader that walks a stored file's
 * chunks and cuts them into lines (numbered as in the file), and the check that turns one
 * line ({"custom_id","method","url","body"}) into a ChatRequest or says what is wrong with
 * it, as OpenAI's batch errors do. Pure: no database, no Kafka. */
#ifndef LQ_INGEST_BATCH_LINES_H
#define LQ_INGEST_BATCH_LINES_H

#include <stddef.h>

#include "ingest/policy.h"
#include "ingest/request_parse.h"
#include "schemas/records.h"

#define INGEST_CUSTOM_ID_MAX 512

/* Lines from chunks given in order. */
typedef struct ingest_line_reader {
    char *buf; /* bytes of lines not taken yet */
    size_t len, off, cap;
    int line;        /* number of the last line taken (1-based) */
    int eof;         /* every chunk was given */
    size_t max_line; /* longer lines are cut there (and refused as too large) */
    int too_long;    /* the line being taken was cut */
} ingest_line_reader_t;

void ingest_line_reader_init(ingest_line_reader_t *r, size_t max_line);
void ingest_line_reader_free(ingest_line_reader_t *r);
/** Give the next chunk; -1 without memory. */
int ingest_line_reader_feed(ingest_line_reader_t *r, const void *data, size_t n);
/** The next line (blank ones too; without its newline) into *line / *len, valid until the next
 * feed: 1; 0 when a whole line is not there yet (feed more, or eof: none left). *too_long is
 * set when the line was longer than max_line (its start is given). */
int ingest_line_reader_next(ingest_line_reader_t *r, const char **line, size_t *len, int *too_long);

/** 1 when the line has only blanks. */
int ingest_line_blank(const char *line, size_t len);

/* Why a line is not a request: the error of its item, in OpenAI's shape. */
typedef struct ingest_line_error {
    char code[48];
    char message[300];
    char param[64]; /* "" when none */
} ingest_line_error_t;

/** Check a line against the batch's endpoint, the node's limits and the tenant's policy, and
 * parse its body into *out (the caller fills ids, tenant, mode; and clears *out on 0). 0, or
 * -1 with *err (custom_id is given when the line had one). */
int ingest_batch_line_parse(const char *line, size_t len, const char *endpoint,
                            const ingest_limits_t *lim, const ingest_policy_t *policy,
                            lq_chat_request_t *out, char *custom_id, size_t custom_id_size,
                            ingest_line_error_t *err);

#endif

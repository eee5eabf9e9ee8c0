/* ingest/files.h — OpenAI's Files API (docs/batches.md): upload a file (multipart, streamed
 * to PostgreSQL in chunks of about 1 MiB while it arrives, so a node never holds a whole
 * file), list, read, download and delete them. Files are the tenant's; the database functions
 * (ops/migrations/0011_files_batches.sql) see only the caller's tenant. */
#ifndef LQ_INGEST_FILES_H
#define LQ_INGEST_FILES_H

#include "ingest/request_ctx.h"

/* The size of the chunks a file is stored in. */
#define INGEST_FILE_CHUNK (1024 * 1024)

struct ingest_file_io;

/** POST /v1/files: a piece of the multipart body (ingest_body_fn). */
void ingest_files_upload(req_ctx_t *c, const char *data, size_t *size);
/** POST /v1/files: the whole body was given; the file is stored and answered. */
ingest_step_t ingest_files_create(req_ctx_t *c);

ingest_step_t ingest_files_list(req_ctx_t *c);   /* GET /v1/files */
ingest_step_t ingest_file_get(req_ctx_t *c);     /* GET /v1/files/{id} */
ingest_step_t ingest_file_delete(req_ctx_t *c);  /* DELETE /v1/files/{id} */
ingest_step_t ingest_file_content(req_ctx_t *c); /* GET /v1/files/{id}/content */
/** Queue the content response once the download's plan is in (phase REQ_STREAM). */
enum MHD_Result ingest_file_content_start(req_ctx_t *c);

/** Count the lines of data that are not blank, continuing from *in_line (1 while the current
 * line has a character other than blanks): returns the lines that ended in data. */
size_t ingest_count_lines(const char *data, size_t n, int *in_line);

/** The request is over: an upload that did not become a file leaves nothing behind. */
void ingest_files_closed(req_ctx_t *c);

/** Free an upload's or download's state (NULL-safe). */
void ingest_file_io_free(struct ingest_file_io *io);

#endif

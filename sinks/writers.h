/* sinks/writers.h — turn a batch of Kafka records into PostgreSQL rows, written
 * idempotently: every row has a unique id and a redelivered record changes nothing.
 * Each writer collects rows as JSON and writes a whole batch with one statement
 * (jsonb_to_recordset), inside the sink's batch transaction. */
#ifndef LQ_SINK_WRITERS_H
#define LQ_SINK_WRITERS_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "common/err.h"
#include "common/jsonw.h"
#include "schemas/codec.h"

/* Each table's rows as one JSON array text, built directly (no JSON tree). */
typedef struct sink_batch {
    lq_jsonw_t jobs;         /* rows for jobs (from requests and responses) */
    lq_jsonw_t usage;        /* rows for usage_events (+ usage_daily) */
    lq_jsonw_t traces;       /* rows for traces */
    lq_jsonw_t dead_letters; /* records that could not be decoded */
    lq_jsonw_t turns;        /* conversations' turns that ended (conversation_turns_end) */
    lq_jsonw_t requests;     /* jobs' requests {id, request} (kept whichever record came first) */
    /* the jobs, usage and traces rows again as COPY text (lq_jsonw_bytes): how a batch
     * writes them; the JSON rows serve when a batch is written row by row */
    lq_jsonw_t jobs_copy, usage_copy, traces_copy;
    lq_jsonw_t scratch,
        scratch2; /* a row's JSON columns (spans; result, error) as they are built */
    size_t n_jobs, n_usage, n_traces, n_dead, n_turns, n_requests;
    const PGconn *prepared_conn; /* the connection (and its backend) holding the statements */
    int prepared_pid;
} sink_batch_t;

lq_err_t sink_batch_init(sink_batch_t *b);
void sink_batch_reset(sink_batch_t *b); /* drop the rows, keep the buffers */
void sink_batch_clear(sink_batch_t *b); /* free everything */
size_t sink_batch_rows(const sink_batch_t *b);

/* Which tables a sink writes (sink.writers). */
enum { SINK_JOBS = 1, SINK_USAGE = 2, SINK_TRACES = 4 };

/* Add one record; an undecodable one becomes a dead-letter row (never an error). A final
 * response carries its job's usage and trace: rows for the tables in writers (SINK_*). */
void sink_add_request(sink_batch_t *b, lq_codec_t *c, const void *buf, size_t len,
                      const char *topic, int32_t partition, int64_t offset);
void sink_add_response(sink_batch_t *b, lq_codec_t *c, const void *buf, size_t len,
                       const char *topic, int32_t partition, int64_t offset, unsigned writers);
void sink_add_usage(sink_batch_t *b, lq_codec_t *c, const void *buf, size_t len, const char *topic,
                    int32_t partition, int64_t offset);
void sink_add_trace(sink_batch_t *b, lq_codec_t *c, const void *buf, size_t len, const char *topic,
                    int32_t partition, int64_t offset);

/** Write every row of b in one transaction (its statements prepared once per connection). When PostgreSQL refuses the data itself (a bad
 * value in a record that decoded), the batch is written again row by row and each refused
 * row goes to dead_letters with the server's message, so one record cannot stop the sink.
 * LQ_ERR_DB (worth retrying) for anything else. */
lq_err_t sink_batch_write(PGconn *conn, sink_batch_t *b, char *errstr, size_t errstr_size);

#endif

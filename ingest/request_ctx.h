/* ingest/request_ctx.h — one HTTP request on its way through the steps (dispatch,
 * authentication, the route's handler, the answer), and the ways a step answers it.
 *
 * A request is reference-counted: the connection holds one reference; a Kafka message in
 * flight, a registered stream waiter and a queued SSE response each hold one more. Steps
 * that answer from another thread (a delivery report, a database callback, a reply) set
 * the answer, then resume the connection; they must not touch the request after that. */
#ifndef LQ_INGEST_REQUEST_CTX_H
#define LQ_INGEST_REQUEST_CTX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "common/api_key.h"
#include "common/ids.h"
#include "common/jsonw.h"
#include "common/limiter.h"
#include "common/trace.h"
#include "ingest/admin.h"
#include "ingest/auth.h"
#include "ingest/node.h"
#include "ingest/path_match.h"
#include "schemas/records.h"

typedef enum req_phase {
    REQ_NEW = 0, /* not authenticated yet */
    REQ_AUTH,    /* suspended while the database checks the key */
    REQ_WAIT,    /* suspended until a completer sets the answer */
    REQ_RESPOND, /* the answer is set: send it */
    REQ_STREAM   /* streamed bytes are ready: queue the SSE response */
} req_phase_t;

/* The request against its limits (limit_step.h). */
typedef enum ingest_limit_state {
    INGEST_LIMIT_NONE = 0, /* not asked yet */
    INGEST_LIMIT_FREE,     /* nothing limits it */
    INGEST_LIMIT_PENDING,  /* the limiter decides */
    INGEST_LIMIT_ADMITTED,
    INGEST_LIMIT_REFUSED,
    INGEST_LIMIT_RELEASED /* admitted, and its slots are back */
} ingest_limit_state_t;

/* A request that is a conversation's turn (conversation_turn.h). */
typedef enum ingest_conv_state {
    INGEST_CONV_NONE = 0,
    INGEST_CONV_BEGINNING, /* the database begins the turn */
    INGEST_CONV_BEGUN,     /* the turn is the conversation's: its end must come */
    INGEST_CONV_ENDED      /* ended (or left to the sink, which ends it with the job) */
} ingest_conv_state_t;

/* A request with an Idempotency-Key (idempotency.h). */
typedef enum ingest_idem_state {
    INGEST_IDEM_NONE = 0,
    INGEST_IDEM_CLAIMING,
    INGEST_IDEM_CLAIMED, /* the key is this request's: settle it when queued or not */
    INGEST_IDEM_DONE
} ingest_idem_state_t;

/* What a step did with the request. */
typedef enum ingest_step {
    INGEST_STEP_NEXT = 0, /* go on with the next step */
    INGEST_STEP_ANSWER,   /* the answer is set: send it now */
    INGEST_STEP_SUSPENDED /* the connection is suspended: a completer resumes it */
} ingest_step_t;

/* A streamed answer: SSE bytes flow from the reply thread to MHD's reader (sse_out.c). */
typedef struct ingest_sse {
    pthread_mutex_t mu; /* guards the fields below */
    int mu_init;
    int flags; /* INGEST_STREAM | INGEST_STREAM_USAGE */
    char *buf;
    size_t len, off, cap;
    int chunks;      /* answer chunks written */
    int done;        /* the last bytes are in buf */
    int hold_end;    /* the stream's end waits for ingest_sse_out_release (a turn being stored) */
    int end_held;    /* finished while held: [DONE] is still to be written */
    int suspended;   /* the reader suspended the connection until bytes arrive */
    int queued;      /* the SSE response is queued */
    char model[128]; /* the model named in the chunks */
} ingest_sse_t;

struct ingest_route;
struct ingest_file_io; /* an upload or download in progress (files.h) */

typedef struct req_ctx {
    ingest_node_t *node;
    struct MHD_Connection *conn;
    atomic_int refs;
    const struct ingest_route *route; /* NULL: no route (the answer is a 404 or 405) */
    ingest_path_params_t params;      /* the segments the route's pattern named */
    const char *method, *path;        /* MHD's, refreshed at each call of the handler */
    req_phase_t phase;
    int64_t start_us;
    char request_id[4 + LQ_UUID_STR_LEN + 1]; /* "req_" + a UUIDv7: x-request-id */
    char *body;
    size_t len, cap;
    int too_large;
    size_t discarded; /* body bytes past the limit, not kept */
    /* authentication */
    char key_hash[LQ_API_KEY_HASH_LEN + 1];
    char key_prefix[LQ_API_KEY_PREFIX_LEN + 1];
    int key_read;             /* the key was parsed and checked against the cache */
    uint64_t auth_generation; /* of the cache when the lookup was sent */
    ingest_auth_state_t auth_state;
    ingest_identity_t id;
    /* the job */
    admin_call_t admin;
    ingest_limit_state_t limit_state;
    atomic_int limit_handoff; /* 1: the handler suspended; 2: the limiter decided */
    lq_limit_verdict_t limit;
    ingest_conv_state_t conv_state;
    char conv_job[LQ_UUID_STR_LEN + 1]; /* the job's id when chosen before it is named (a
                                           conversation's turn, an Idempotency-Key) */
    char *conv_begun;                   /* the database's answer: conversation and history */
    int conv_queued;                    /* Kafka has the turn's request */
    int conv_then;                      /* what follows the turn's end (ingest_turn_then_t) */
    int turn_rewritten, turn_async;     /* POST /v1/conversations/{id}/messages */
    ingest_idem_state_t idem_state;
    char idem_key[256];
    char job_id[LQ_UUID_STR_LEN + 1];
    char model[128];
    int64_t created_ms;
    lq_mode_t mode;
    /* the answer */
    unsigned status;
    char *resp;
    size_t resp_len;
    const char *content_type; /* NULL: JSON */
    char location[96];
    char allow[64]; /* 405: the path's methods */
    int retry_after;
    ingest_sse_t sse;
    /* a route that takes its body in pieces (files.h) */
    int admitted;            /* authenticated and authorized before the body */
    int answered;            /* the answer was queued */
    int console;             /* a console page: its security headers (console.h) */
    long long body_expected; /* Content-Length (-1: none) */
    long long body_seen;     /* bytes handed to the route */
    struct ingest_file_io *file_io;
    /* its trace (tracing.h): set when its request record is produced */
    int traced, trace_has_parent; /* trace: the caller's context, or a new trace */
    lq_trace_ctx_t trace;
    uint8_t server_span[8], produce_span[8];
    int64_t produce_us, acked_us; /* the cluster's time (common/clock.h) */
} req_ctx_t;

/** A new request on conn with one reference (the connection's); NULL without memory. */
req_ctx_t *ingest_ctx_new(ingest_node_t *node, struct MHD_Connection *conn);
void ingest_ctx_ref(req_ctx_t *c);
void ingest_ctx_unref(req_ctx_t *c);

/** Prepare the SSE state of a streamed request; -1 when it cannot. */
int ingest_ctx_enable_stream(req_ctx_t *c, int flags);

/* Setting the answer (the phase becomes REQ_RESPOND). */
/** Takes body (a JSON value). */
void ingest_ctx_set_json(req_ctx_t *c, unsigned status, json_t *body);
/** Takes the text of a finished writer. */
void ingest_ctx_set_jsonw(req_ctx_t *c, unsigned status, lq_jsonw_t *w);
/** Takes text (malloc'ed; NULL: 500). */
void ingest_ctx_set_text(req_ctx_t *c, unsigned status, char *text, size_t len);
/** {"error":{message,type,param,code}}; param and code may be NULL. */
void ingest_ctx_set_error(req_ctx_t *c, unsigned status, const char *message, const char *type,
                          const char *param, const char *code);
/** 503 with Retry-After: 1. */
void ingest_ctx_set_unavailable(req_ctx_t *c, const char *message, const char *code);
void ingest_ctx_set_internal_error(req_ctx_t *c);

/** The value of the query parameter name (?name=...), or NULL. */
const char *ingest_ctx_query(req_ctx_t *c, const char *name);

/** Suspend the connection until a completer answers: INGEST_STEP_SUSPENDED. Suspend
 * before handing the request to another thread, so a resume never comes first. */
ingest_step_t ingest_ctx_suspend(req_ctx_t *c);
/** Let MHD send what a completer set. The caller must not touch c after (unless it holds
 * a reference of its own). */
void ingest_ctx_resume(req_ctx_t *c);

#endif

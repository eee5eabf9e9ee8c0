/* workers/reply_conns.h — the worker's own keep-alive HTTP/1.1 connections for direct replies
 * (workers/direct_reply.h) to ingest nodes whose reply URL names an IPv4 address and a port
 * (http://A.B.C.D:PORT/PATH, what a node advertises): a post is one sendmsg on a connection
 * kept from an earlier post, and its answer one status line read when the socket is readable,
 * on the worker's own poll. libcurl did the same with about 20 µs of work per post (a handle,
 * the URL parsed, proxy variables looked up, headers written and parsed); replies to any
 * other URL still go through it.
 *
 * A post succeeds when the node answers 204. Anything else — no connection within the connect
 * timeout, no answer within the whole timeout, another status, the connection closed — is a
 * failure, which the caller turns into the reply topic. A post that finds its kept connection
 * closed by the node (idle too long, restarted) before any byte of an answer is sent once more
 * on a new connection: a node that takes a reply twice counts the second as unmatched. Kept
 * connections idle longer than REPLY_CONNS_IDLE_MS are closed, before the node's own idle
 * timeout (60 s) can close them under a post.
 *
 * A node's answer is not waited for on the poll unless something waits behind its post
 * (reply_conns_await): it is read at the loop's next turn, whatever woke it. A sync reply's
 * 204 so costs no wake-up of its own; the post still ends by its deadline. */
#ifndef LQ_WORKER_REPLY_CONNS_H
#define LQ_WORKER_REPLY_CONNS_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#define REPLY_CONNS_IDLE_MS 20000

typedef struct reply_conns reply_conns_t;

/** A post ended: status is the node's HTTP status (0 when none came), why a few words on what
 * went wrong (NULL after a 204). post is the caller's, as given to reply_conns_post. */
typedef void (*reply_conns_done_fn)(void *arg, void *post, int status, const char *why);

/** At most max_conns connections at once; NULL without memory. done is called for every post
 * that started, from reply_conns_service (never from reply_conns_post). */
reply_conns_t *reply_conns_create(int max_conns, int connect_timeout_ms, int timeout_ms,
                                  reply_conns_done_fn done, void *arg);

/** Closes every connection; posts still on their way end without done being called. NULL-safe. */
void reply_conns_destroy(reply_conns_t *rc);

/** POST body (len bytes, borrowed until done is called) to url, Content-Type
 * application/avro. 1: on its way, done will say how it ended; 0: not a URL this module
 * handles, or every connection is busy (post it another way); -1: cannot start (no memory,
 * the connection refused at once): a failure, done is not called. */
int reply_conns_post(reply_conns_t *rc, const char *url, const void *body, size_t len, void *post,
                     int64_t now_us);

/** Something waits for the end of post (the next piece of the same reply): its answer is
 * waited for on the poll from now on. No-op when post is not on its way here. */
void reply_conns_await(reply_conns_t *rc, const void *post);

/** The sockets the posts on their way wait on, into fds (at most cap, which should be
 * max_conns): how many. Give them, with their revents, to the next reply_conns_service. */
int reply_conns_poll_fds(reply_conns_t *rc, struct pollfd *fds, int cap);

/** Move the posts along after a wait: fds and n as reply_conns_poll_fds filled them (revents
 * set; n may be 0), then end the posts past their deadline and close connections idle too
 * long. */
void reply_conns_service(reply_conns_t *rc, const struct pollfd *fds, int n, int64_t now_us);

/** Connections open now (busy or kept). */
int reply_conns_open(const reply_conns_t *rc);

#endif

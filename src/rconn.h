/*
 * rconn: one Redis connection that is allowed to be down. Parses the
 * redis_url forms of API.md section 7, connects lazily with the connect
 * timeout, applies the command timeout, AUTH and SELECT on every
 * (re)connect, and after a failure stays down for redis_retry_ms, so that
 * a dead Redis costs one timeout per back-off period, not one per request.
 * A connection left idle is checked (one poll(2)) before it is used, so
 * that one Redis closed meanwhile (a restart) is replaced at once instead
 * of failing a command and arming the back-off with Redis up again.
 */
#ifndef CHATDESK_RCONN_H
#define CHATDESK_RCONN_H

#include <stddef.h>
#include <stdint.h>

/* hiredis's types stay opaque here: only cache*, queue* and rconn.c
 * include hiredis.h and read replies. */
struct redisContext;
struct redisReader;
struct redisReply;

struct rconn_url {
	int	 is_unix;
	char	 host[256];
	int	 port;
	char	 path[256];
	int	 db;
	char	 password[256];	/* empty: no AUTH */
};

/* Parses redis://[:PASS@]host[:port][/db] or unix://[:PASS@]/path[?db=N].
 * Returns 0, or -1 with a short reason in err. */
int rconn_parse_url(const char *url, struct rconn_url *out, char *err,
    size_t errsz);

struct rconn;

/* The largest array reply accepted (elements); see rconn.c. */
#define RCONN_MAX_ELEMENTS	(1 << 20)
/* Replies chatdesk reads in pages (dead retry) ask for this many. */
#define RCONN_PAGE		1000

/* Makes reader refuse an array reply of more than RCONN_MAX_ELEMENTS
 * elements. Every connection's reader gets it; tests' readers too. */
void rconn_bound_reader(struct redisReader *reader);

/* A connection for url (already validated by config). Never connects here. */
struct rconn *rconn_new(const char *url, long long connect_ms,
    long long command_ms, long long retry_ms);
/* One more owner (a cache and a queue on the same server share one
 * connection); rconn_free drops one, the last frees. Returns rc. */
struct rconn *rconn_ref(struct rconn *);
void rconn_free(struct rconn *);

/*
 * Returns a live context, connecting if the back-off allows, or NULL if
 * Redis is down. The caller must report a failed command with
 * rconn_failed(), which drops the context (hiredis contexts are not
 * reusable after an error).
 */
struct redisContext *rconn_get(struct rconn *);
void rconn_failed(struct rconn *, const char *what);

/*
 * Runs one command given as argv (binary-safe). Returns the reply, or
 * NULL if Redis is down, the command failed at the transport, or Redis
 * answered an error (logged). The caller frees the reply.
 */
struct redisReply *rconn_cmd(struct rconn *, int argc, const char **argv,
    const size_t *lens);
/* Same, with NUL-terminated arguments, ended by NULL. */
struct redisReply *rconn_cmdv(struct rconn *, const char *arg0, ...)
    __attribute__((sentinel));

/* r, or NULL after logging, counting and freeing it when it is an error
 * reply (the command was refused): what rconn_cmd does with a reply, for
 * one read out of rconn_pipeline. */
struct redisReply *rconn_refused(struct redisReply *r, const char *what);

/*
 * Like rconn_cmd, but an error reply is returned to the caller (who
 * frees it) instead of being logged and dropped.
 */
struct redisReply *rconn_call(struct rconn *, int argc, const char **argv,
    const size_t *lens);

/*
 * Sends n commands in one write and reads their n replies: one round trip.
 * Returns 0 with every reply in replies[] (the caller frees them; error
 * replies included), or -1 if the transport failed (nothing to free).
 */
int rconn_pipeline(struct rconn *, int n, const int *argc,
    const char *const *argv[], const size_t *const lens[],
    struct redisReply **replies);

/* A Lua script, loaded on first use and again after NOSCRIPT. */
struct rscript {
	const char	*src;
	char		 sha[41];
};

/* EVALSHA of script with nkeys keys then the other arguments. Returns the
 * reply as rconn_cmd does. */
struct redisReply *rconn_eval(struct rconn *, struct rscript *, int nkeys, int argc,
    const char **argv, const size_t *lens);

/* The same with NUL-terminated arguments (keys first), ended by NULL. */
struct redisReply *rconn_evalv(struct rconn *, struct rscript *, int nkeys, ...)
    __attribute__((sentinel));

/* Called after every successful (re)connect, e.g. to replay invalidations
 * that failed while Redis was down. */
void rconn_on_connect(struct rconn *, void (*fn)(void *), void *arg);

/* The integer of a reply, which it frees; -1 if r is NULL or not an
 * integer (every caller's counts and flags are >= 0). */
long long rconn_int(struct redisReply *r);

/*
 * Tests and fuzzing only: while a reader is set, no command is sent and
 * each reply is the next one the reader parses from what its owner fed
 * it; none left, or a protocol error, is a transport failure. So every
 * consumer of replies runs on bytes a test chose. NULL: the server again.
 */
void rconn_set_reader(struct rconn *, struct redisReader *);

/* PING: 1 if Redis answers, else 0. */
int rconn_ping(struct rconn *);

/* "name:value" of an INFO text as a number (0 if absent). */
long long rconn_info_field(const char *info, const char *name);

#endif

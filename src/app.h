/*
 * app: the long-lived state of one process (configuration, the SQLite
 * handle, the Redis connections, the reusable buffers) and the request
 * dispatcher. Everything about one request lives in struct req.
 */
#ifndef CHATDESK_APP_H
#define CHATDESK_APP_H

#include <fcgiapp.h>

#include "config.h"
#include "db.h"
#include "http.h"
#include "rconn.h"

struct app {
	struct config	 cfg;
	struct db	*db;
	struct rconn	*cache;		/* redis_url */
	struct rconn	*queue;		/* queue_redis_url; may be == cache */
	struct http_io	 io;
	struct events	*events;	/* publishes after the answer */
	/* Called by long batch loops (the worker renews its lock here). */
	void		(*heartbeat)(struct app *);
	/* The pending-invalidation generation this process has replayed. */
	uint64_t	 pending_gen;
};

/*
 * Sets up everything but the FastCGI socket: configuration (already
 * loaded into app->cfg), the database, the Redis connections. Returns 0,
 * or -1 with a one-line reason in err.
 */
int app_open(struct app *, enum db_open_mode, char *err, size_t errsz);
void app_close(struct app *);

/* Handles one accepted request: parse, route, check access, run the
 * handler, answer, finish the FastCGI request, log. Never fails: every
 * error becomes a response. */
void app_handle(struct app *, FCGX_Request *);
/* The same for a request already initialised (tests, fuzzing). */
void app_dispatch(struct app *, struct req *);

/* Builds a Redis key under key_prefix: prefix + formatted name. Names
 * hold only fixed text and numbers, never client text. */
struct rkey {
	char	s[192];
	size_t	len;
};
void app_key(const struct app *, struct rkey *, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

/*
 * app: the long-lived state of one process: configuration, the SQLite
 * handle, the cache, queue and auth handles (each owning its Redis
 * connection), the reusable buffers. Everything about one request lives
 * in struct req; the dispatcher is serve.c, above every handler.
 */
#ifndef CHATDESK_APP_H
#define CHATDESK_APP_H

#include "config.h"
#include "db.h"
#include "http.h"

struct auth;
struct cache;
struct queue;

/*
 * The umask every program sets first (API.md section 7, Files): what they
 * create (databases, WAL and shared-memory files, the metrics file, logs)
 * is at most 0640, never readable by other local users. Sockets that
 * nginx's group must connect to are made 0660 on purpose.
 */
#define APP_UMASK	027

struct app {
	struct config	 cfg;
	const char	*config_path;	/* --config as given, or NULL */
	struct db	*db;
	struct cache	*cache;		/* redis_url */
	struct queue	*queue;		/* queue_redis_url */
	struct auth	*auth;		/* tokens and sessions */
	/* 1 when both name one server: they share a connection. */
	int		 one_redis;
	/* 1 when requests come over a unix socket (spawn-fcgi's, or
	 * --listen PATH): only local processes allowed on the socket, our
	 * nginx, can talk to us, so REMOTE_ADDR is what nginx saw. Over TCP
	 * anyone who reaches the port writes REMOTE_ADDR (/metrics). */
	int		 fcgi_unix;
	struct http_io	 io;
	struct events	*events;	/* publishes after the answer */
	/* Set before app_open by the pool: without the shared metrics
	 * file, start-up fails instead of counting per process. */
	int		 metrics_required;
	/* Called by long batch loops (the worker renews its lock here). */
	void		(*heartbeat)(struct app *);
};

/*
 * Sets up everything but the FastCGI socket: configuration (already
 * loaded into app->cfg), the database, the Redis connections. Returns 0,
 * or -1 with a one-line reason in err.
 */
int app_open(struct app *, enum db_open_mode, char *err, size_t errsz);
void app_close(struct app *);

#endif

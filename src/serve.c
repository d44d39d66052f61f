/* serve: see serve.h. */
#include "autoconf.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "cache.h"
#include "db.h"
#include "events.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "router.h"
#include "serve.h"
#include "util.h"

void
serve_init(void)
{
	static struct metrics_label labels[METRICS_ROUTES_MAX];
	size_t i;

	for (i = 0; i < api_nroutes && i < METRICS_ROUTES_MAX; i++) {
		labels[i].route = api_routes[i].pattern;
		labels[i].method = api_routes[i].method;
	}
	metrics_routes(labels, i);
}

/*
 * Asked by http_internal: a write failed while the database cannot take
 * writes (a full disk, a read-only file system). That is 503
 * unavailable, not 500: reads go on, and the client may retry the write.
 */
static int
serve_refused(void *arg, const struct req *req)
{
	struct app *app = arg;

	return db_read_only(app->db) && strcmp(req->method, "GET") != 0 &&
	    strcmp(req->method, "HEAD") != 0;
}

void
serve_dispatch(struct app *app, struct req *req)
{
	const struct route *rt;
	int64_t ids[ROUTER_MAX_IDS] = { 0, 0 };
	char allow[128];

	switch (router_match(api_routes, api_nroutes, req->method, req->path,
	    &rt, ids, allow, sizeof(allow))) {
	case ROUTER_NOT_FOUND:
		http_not_found(req);
		return;
	case ROUTER_BAD_METHOD:
		http_header(req, "Allow", allow);
		http_error(req, 405, "method_not_allowed", NULL,
		    "method %s not allowed here; allowed: %s",
		    req->method, allow);
		return;
	case ROUTER_OK:
		break;
	}
	req->route = rt->pattern;
	req->route_index = (int)(rt - api_routes);
	app->io.refused = serve_refused;
	app->io.refused_arg = app;
	/* While SQLite is unreadable every route but health answers 503;
	 * while it only cannot take writes, the writes do (db.c refuses
	 * them, serve_refused makes the answer 503). */
	if (rt->fn != api_health && db_down(app->db)) {
		http_unavailable(req);
		return;
	}
	if (rt->ahead != NULL)
		rt->ahead(app, req, ids);
	if (api_check_access(app, req, rt->access) == -1)
		return;
	rt->fn(app, req, ids);
}

/* The request line (info), or with slow_ms the slow-request line (warn,
 * php-fpm's slowlog): our own fields first, the client's method (bounded)
 * last. */
static void
log_request(const struct req *req, int64_t us, const char *method,
    long long slow_ms)
{
	enum log_level lvl = slow_ms > 0 ? LOGL_WARN : LOGL_INFO;
	struct logline l;

	if (!log_enabled(lvl))
		return;
	logline_init(&l, lvl, slow_ms > 0 ? "slow request" : "request");
	logline_str(&l, "request_id", req->request_id);
	logline_str(&l, "route", req->route ? req->route : "unmatched");
	logline_int(&l, "status", req->status);
	logline_int(&l, "us", us);
	logline_str(&l, "cache", req->cache ? req->cache : "-");
	logline_int(&l, "user_id", req->user_id);
	if (slow_ms > 0)
		logline_int(&l, "slow_request_ms", slow_ms);
	logline_str(&l, "method", method);
	logline_emit(&l);
}

void
serve_handle(struct app *app, FCGX_Request *fr)
{
	struct req req;
	int64_t us;
	char method[300];	/* more than a log value keeps (256) */

	/* libfcgi accepts without close-on-exec; nothing here execs, but no
	 * descriptor of ours is left for a child to inherit. */
	(void)fcntl(fr->ipcFd, F_SETFD, FD_CLOEXEC);
	metrics_busy(1);
	if (http_req_init(&req, fr, &app->io) == 0)
		serve_dispatch(app, &req);
	if (!req.responded) {
		log_error("request %s: handler gave no answer", req.request_id);
		http_internal(&req);
	}
	(void)db_idle(app->db);
	cache_ahead_drop(app->cache);
	us = util_mono_us() - req.start_us;
	metrics_request(req.route_index, req.status, us);
	/* Events of what this request committed, sent before the answer
	 * leaves (it waits in libfcgi's buffer until FCGX_Finish_r): each
	 * event is wholly in nginx's socket before the client can know of
	 * its change, so before any later change of the client's exists,
	 * whichever process makes it (docs/DESIGN.md, "Publishing events").
	 * Nchan's answer is read after the answer left (events_wait in the
	 * accept loop, or the next publish): the post does not wait for
	 * nginx's round trip. A failed publish is only counted and logged. */
	events_send(app->events);
	/* The answer goes to nginx before the log line is written; the
	 * FastCGI params (the method among them) are freed with it. */
	snprintf(method, sizeof(method), "%s", req.method);
	/*
	 * libfcgi ends a connection gracefully: it shuts its write side and
	 * reads until nginx closes (up to 2 s), so that a close with unread
	 * bytes cannot reset the connection under an answer in flight. When
	 * nginx has sent all it will send (the end of stdin is read) and the
	 * socket is a unix one (no reset: the answer already sits in nginx's
	 * receive queue), the wait only keeps this process from its next
	 * request until nginx has been scheduled. libfcgi's "detached" flag
	 * makes FCGX_Finish_r close at once (FCGX_Free clears it). A body
	 * left unread (an early 413) keeps the graceful close.
	 */
	if (app->fcgi_unix && (FCGX_HasSeenEOF(fr->in) == EOF ||
	    FCGX_GetChar(fr->in) == EOF))
		(void)FCGX_Detach(fr);
	FCGX_Finish_r(fr);
	metrics_busy(0);
	log_request(&req, us, method, 0);
	if (app->cfg.slow_request_ms > 0 &&
	    us >= app->cfg.slow_request_ms * 1000LL) {
		metrics_slow_request();
		log_request(&req, us, method, app->cfg.slow_request_ms);
	}
	http_req_free(&req);
}

/* app: see app.h. */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "cache.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "router.h"
#include "util.h"

int
app_open(struct app *app, enum db_open_mode mode, char *err, size_t errsz)
{
	const struct config *c = &app->cfg;

	http_io_init(&app->io);
	if ((app->db = db_open(c, mode, err, errsz)) == NULL)
		return -1;
	metrics_open(c->db_path);
	app->events = events_new(c->events_publish_url, c->events_socket,
	    c->events_timeout_ms);
	app->cache = rconn_new(c->redis_url, c->redis_connect_timeout_ms,
	    c->redis_command_timeout_ms, c->redis_retry_ms);
	/* Invalidations that failed while Redis was away go first. */
	rconn_on_connect(app->cache, cache_replay, app);
	/* One connection when both URLs name the same server. */
	if (strcmp(c->redis_url, c->queue_redis_url) == 0)
		app->queue = app->cache;
	else
		app->queue = rconn_new(c->queue_redis_url,
		    c->redis_connect_timeout_ms, c->redis_command_timeout_ms,
		    c->redis_retry_ms);
	return 0;
}

void
app_close(struct app *app)
{
	if (app->queue != app->cache)
		rconn_free(app->queue);
	rconn_free(app->cache);
	app->queue = app->cache = NULL;
	events_flush(app->events);
	events_free(app->events);
	app->events = NULL;
	db_close(app->db);
	app->db = NULL;
	metrics_close();
	http_io_free(&app->io);
}

void
app_key(const struct app *app, struct rkey *k, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(k->s, sizeof(k->s), "%s", app->cfg.key_prefix);
	if (n < 0 || (size_t)n >= sizeof(k->s))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(k->s + n, sizeof(k->s) - (size_t)n, fmt, ap);
	va_end(ap);
	k->len = strlen(k->s);
}

void
app_dispatch(struct app *app, struct req *req)
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
	/* While SQLite is unusable every route but health answers 503. */
	if (rt->fn != api_health && db_down(app->db)) {
		http_unavailable(req);
		return;
	}
	if (api_check_access(app, req, rt->access) == -1)
		return;
	rt->fn(app, req, ids);
}

static void
log_request(const struct req *req, int64_t us, const char *method)
{
	struct logline l;

	if (!log_enabled(LOGL_INFO))
		return;
	logline_init(&l, LOGL_INFO, "request");
	/* Our own fields first; the client's method (bounded) last. */
	logline_str(&l, "request_id", req->request_id);
	logline_str(&l, "route", req->route ? req->route : "unmatched");
	logline_int(&l, "status", req->status);
	logline_int(&l, "us", us);
	logline_str(&l, "cache", req->cache ? req->cache : "-");
	logline_int(&l, "user_id", req->user_id);
	logline_str(&l, "method", method);
	logline_emit(&l);
}

void
app_handle(struct app *app, FCGX_Request *fr)
{
	struct req req;
	int64_t us;
	char method[300];	/* more than a log value keeps (256) */

	if (http_req_init(&req, fr, &app->io) == 0)
		app_dispatch(app, &req);
	if (!req.responded) {
		log_error("request %s: handler gave no answer", req.request_id);
		http_internal(&req);
	}
	us = util_mono_us() - req.start_us;
	metrics_request(req.route_index, req.status, us);
	/* Events of what this request committed, before the answer leaves
	 * (it waits in libfcgi's buffer until FCGX_Finish_r): a client that
	 * posts again after its answer has its events in Nchan in the order
	 * it made them, whichever process serves it. A publish takes a
	 * fraction of a millisecond; a failed one at most events_timeout_ms,
	 * and is only counted and logged. */
	events_flush(app->events);
	/* The answer goes to nginx before the log line is written; the
	 * FastCGI params (the method among them) are freed with it. */
	snprintf(method, sizeof(method), "%s", req.method);
	FCGX_Finish_r(fr);
	log_request(&req, us, method);
	http_req_free(&req);
}

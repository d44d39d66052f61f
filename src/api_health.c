/* api_health: GET /api/v1/health (API.md section 3). */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "app.h"
#include "cache.h"
#include "db.h"
#include "http.h"
#include "queue.h"
#include "util.h"

static json_t *
count_or_null(long long n)
{
	return n < 0 ? json_null() : json_integer(n);
}

/* A warning when the queue's Redis may evict tasks, else NULL. */
static const char *
eviction_warning(struct app *app, char *buf, size_t bufsz)
{
	const char *policy;

	if ((policy = queue_eviction(app->queue)) == NULL)
		return NULL;
	snprintf(buf, bufsz, "the queue's Redis has maxmemory-policy "
	    "%.32s and may evict tasks: use a Redis with noeviction "
	    "for queue_redis_url", policy);
	return buf;
}

#define DB_READ_ONLY_WARNING "the database cannot take writes (disk full " \
	"or read-only file system): writes answer 503 until it can, reads go on"

/* A time of the API, or null for 0 (never). */
static json_t *
time_or_null(int64_t ms)
{
	char buf[UTIL_TIME_LEN];

	if (ms <= 0)
		return json_null();
	util_format_time(ms, buf);
	return json_string(buf);
}

/*
 * {"last_run_at","last_success_at"} of the worker, and a warning in buf
 * (returned) when no run succeeded within worker_stale_s: counted from the
 * last success, or from the database's creation while none ever did, so
 * that a fresh install is ok until its first runs are due.
 */
static const char *
worker_state(struct app *app, json_t **out, char *buf, size_t bufsz)
{
	struct db_worker w;
	int64_t since, now = util_now_ms();
	char when[UTIL_TIME_LEN];

	if (db_worker_get(app->db, &w) == -1) {
		*out = json_pack("{s:n, s:n}", "last_run_at", "last_success_at");
		return NULL;
	}
	*out = json_pack("{s:o, s:o}", "last_run_at",
	    time_or_null(w.last_run_at), "last_success_at",
	    time_or_null(w.last_success_at));
	since = w.last_success_at > 0 ? w.last_success_at : w.created_at;
	if (now - since <= app->cfg.worker_stale_s * 1000)
		return NULL;
	util_format_time(since, when);
	snprintf(buf, bufsz, "no chatdesk-worker run has succeeded for more "
	    "than worker_stale_s (%lld s): %s %s; is its cron job running?",
	    app->cfg.worker_stale_s, w.last_success_at > 0 ?
	    "last success at" : "none since the database was created at",
	    when);
	return buf;
}

/*
 * ok: SQLite and Redis answer and the worker ran lately. degraded: Redis
 * is down (everything still works from SQLite), the database cannot take
 * writes (read_only: reads still work), or no worker run succeeded within
 * worker_stale_s ("warnings" says which). down (503): the database file
 * is unreadable.
 */
void
api_health(struct app *app, struct req *req, const int64_t *ids)
{
	enum db_state db;
	int redis_ok;
	long long pending, failed;
	char wbuf[192], sbuf[256];
	const char *warn, *stale = NULL;
	json_t *body, *worker = NULL, *warnings;

	db = db_health(app->db);
	redis_ok = cache_ping(app->cache);
	if (!app->one_redis)
		redis_ok = queue_ping(app->queue) && redis_ok;
	pending = queue_length(app->queue, KEY_TASKS_PENDING);
	failed = queue_length(app->queue, KEY_TASKS_FAILED);
	warn = redis_ok ? eviction_warning(app, wbuf, sizeof(wbuf)) : NULL;
	if (db != DB_STATE_DOWN)
		stale = worker_state(app, &worker, sbuf, sizeof(sbuf));
	else
		worker = json_pack("{s:n, s:n}", "last_run_at",
		    "last_success_at");
	body = json_pack("{s:s, s:s, s:s, s:{s:o, s:o}, s:o}",
	    "status", db == DB_STATE_DOWN ? "down" :
	    redis_ok && db == DB_STATE_OK && stale == NULL ? "ok" : "degraded",
	    "database", db == DB_STATE_DOWN ? "down" :
	    db == DB_STATE_READ_ONLY ? "read_only" : "ok",
	    "redis", redis_ok ? "ok" : "down",
	    "queue",
	    "pending", count_or_null(pending),
	    "failed", count_or_null(failed),
	    "worker", worker);
	warnings = json_array();
	if (db == DB_STATE_READ_ONLY)
		json_array_append_new(warnings,
		    json_string(DB_READ_ONLY_WARNING));
	if (warn != NULL)
		json_array_append_new(warnings, json_string(warn));
	if (stale != NULL)
		json_array_append_new(warnings, json_string(stale));
	if (body != NULL && json_array_size(warnings) > 0)
		json_object_set_new(body, "warnings", warnings);
	else
		json_decref(warnings);
	http_json(req, db == DB_STATE_DOWN ? 503 : 200, body);
}

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

/*
 * ok: SQLite and Redis answer. degraded: Redis is down (everything still
 * works from SQLite), or the database cannot take writes (read_only:
 * reads still work). down (503): the database file is unreadable.
 */
void
api_health(struct app *app, struct req *req, const int64_t *ids)
{
	enum db_state db;
	int redis_ok;
	long long pending, failed;
	char wbuf[192];
	const char *warn;
	json_t *body, *warnings;

	db = db_health(app->db);
	redis_ok = cache_ping(app->cache);
	if (!app->one_redis)
		redis_ok = queue_ping(app->queue) && redis_ok;
	pending = queue_length(app->queue, KEY_TASKS_PENDING);
	failed = queue_length(app->queue, KEY_TASKS_FAILED);
	warn = redis_ok ? eviction_warning(app, wbuf, sizeof(wbuf)) : NULL;
	body = json_pack("{s:s, s:s, s:s, s:{s:o, s:o}}",
	    "status", db == DB_STATE_DOWN ? "down" :
	    redis_ok && db == DB_STATE_OK ? "ok" : "degraded",
	    "database", db == DB_STATE_DOWN ? "down" :
	    db == DB_STATE_READ_ONLY ? "read_only" : "ok",
	    "redis", redis_ok ? "ok" : "down",
	    "queue",
	    "pending", count_or_null(pending),
	    "failed", count_or_null(failed));
	warnings = json_array();
	if (db == DB_STATE_READ_ONLY)
		json_array_append_new(warnings,
		    json_string(DB_READ_ONLY_WARNING));
	if (warn != NULL)
		json_array_append_new(warnings, json_string(warn));
	if (body != NULL && json_array_size(warnings) > 0)
		json_object_set_new(body, "warnings", warnings);
	else
		json_decref(warnings);
	http_json(req, db == DB_STATE_DOWN ? 503 : 200, body);
}

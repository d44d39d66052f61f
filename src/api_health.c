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

/*
 * ok: SQLite and Redis answer. degraded: Redis is down (everything still
 * works from SQLite). down (503): the database file is unusable.
 */
void
api_health(struct app *app, struct req *req, const int64_t *ids)
{
	int db_ok, redis_ok;
	long long pending, failed;
	char wbuf[192];
	const char *warn;
	json_t *body;

	db_ok = db_health(app->db) == 0;
	redis_ok = cache_ping(app->cache);
	if (!app->one_redis)
		redis_ok = queue_ping(app->queue) && redis_ok;
	pending = queue_length(app->queue, KEY_TASKS_PENDING);
	failed = queue_length(app->queue, KEY_TASKS_FAILED);
	warn = redis_ok ? eviction_warning(app, wbuf, sizeof(wbuf)) : NULL;
	body = json_pack("{s:s, s:s, s:s, s:{s:o, s:o}}",
	    "status", !db_ok ? "down" : redis_ok ? "ok" : "degraded",
	    "database", db_ok ? "ok" : "down",
	    "redis", redis_ok ? "ok" : "down",
	    "queue",
	    "pending", count_or_null(pending),
	    "failed", count_or_null(failed));
	if (body != NULL && warn != NULL)
		json_object_set_new(body, "warnings", json_pack("[s]", warn));
	http_json(req, db_ok ? 200 : 503, body);
}

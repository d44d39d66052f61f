/* api_health: GET /api/v1/health (API.md section 3). */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "app.h"
#include "db.h"
#include "http.h"
#include "rconn.h"

/* LLEN of a queue key, or -1 if the queue's Redis is down. */
static long long
queue_len(struct app *app, const char *name)
{
	struct rkey k;
	redisReply *r;
	long long n = -1;

	app_key(app, &k, "%s", name);
	if ((r = rconn_cmdv(app->queue, "LLEN", k.s, NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	freeReplyObject(r);
	return n;
}

static json_t *
count_or_null(long long n)
{
	return n < 0 ? json_null() : json_integer(n);
}

static int
redis_ping(struct rconn *rc)
{
	redisReply *r;
	int ok;

	if ((r = rconn_cmdv(rc, "PING", NULL)) == NULL)
		return 0;
	ok = r->type == REDIS_REPLY_STATUS;
	freeReplyObject(r);
	return ok;
}

/* The queue's Redis evicts under memory pressure with an allkeys-*
 * policy, which would drop tasks: say so. NULL when it does not (or the
 * policy cannot be read). */
static const char *
queue_eviction(struct app *app, char *buf, size_t bufsz)
{
	redisReply *r;
	const char *w = NULL;

	if ((r = rconn_cmdv(app->queue, "CONFIG", "GET", "maxmemory-policy",
	    NULL)) == NULL)
		return NULL;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[1]->type == REDIS_REPLY_STRING &&
	    strncmp(r->element[1]->str, "allkeys-", 8) == 0) {
		snprintf(buf, bufsz, "the queue's Redis has maxmemory-policy "
		    "%.32s and may evict tasks: use a Redis with noeviction "
		    "for queue_redis_url", r->element[1]->str);
		w = buf;
	}
	freeReplyObject(r);
	return w;
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
	redis_ok = redis_ping(app->cache);
	if (app->queue != app->cache)
		redis_ok = redis_ping(app->queue) && redis_ok;
	pending = queue_len(app, "tasks:pending");
	failed = queue_len(app, "tasks:failed");
	warn = redis_ok ? queue_eviction(app, wbuf, sizeof(wbuf)) : NULL;
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

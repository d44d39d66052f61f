/* api_admin: /metrics, the cache administration and queue routes of
 * API.md section 3 (admin only, but /metrics from loopback). */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "cache.h"
#include "http.h"
#include "metrics.h"
#include "queue.h"

/* GET /metrics: Prometheus text. */
void
api_metrics(struct app *app, struct req *req, const int64_t *ids)
{
	struct strbuf *b = &app->io.body;

	strbuf_reset(b);
	metrics_render(app, b);
	http_text(req, 200, "text/plain; version=0.0.4; charset=utf-8",
	    b->buf, b->len);
}

/* Reads a number from an INFO text: "name:value". */
static long long
info_field(const char *info, const char *name)
{
	const char *p = info;
	size_t n = strlen(name);

	while ((p = strstr(p, name)) != NULL) {
		if ((p == info || p[-1] == '\n') && p[n] == ':')
			return strtoll(p + n + 1, NULL, 10);
		p += n;
	}
	return 0;
}

/* GET /api/v1/cache/stats */
void
api_cache_stats(struct app *app, struct req *req, const int64_t *ids)
{
	uint64_t hits, misses;
	redisReply *info, *size;
	long long keys = 0, kh = 0, km = 0, ev = 0, mem = 0;
	int connected = 0;

	metrics_cache_totals(&hits, &misses);
	if ((info = rconn_cmdv(app->cache, "INFO", NULL)) != NULL) {
		if (info->type == REDIS_REPLY_STRING) {
			connected = 1;
			kh = info_field(info->str, "keyspace_hits");
			km = info_field(info->str, "keyspace_misses");
			ev = info_field(info->str, "evicted_keys");
			mem = info_field(info->str, "used_memory");
		}
		freeReplyObject(info);
	}
	if (connected && (size = rconn_cmdv(app->cache, "DBSIZE", NULL)) != NULL) {
		if (size->type == REDIS_REPLY_INTEGER)
			keys = size->integer;
		freeReplyObject(size);
	}
	http_json(req, 200, json_pack("{s:b, s:I, s:I, s:I, s:f, s:I, s:I, s:I, "
	    "s:I}", "connected", connected, "keys", (json_int_t)keys,
	    "hits", (json_int_t)hits, "misses", (json_int_t)misses,
	    "hit_rate", hits + misses ? (double)hits / (double)(hits + misses) : 0.0,
	    "keyspace_hits", (json_int_t)kh, "keyspace_misses", (json_int_t)km,
	    "evicted_keys", (json_int_t)ev, "used_memory", (json_int_t)mem));
}

/* The cache families (API.md section 4) and their leases: never a queue
 * key, a rate-limit counter or the worker's lock. */
static const char *const cache_families[] = {
	"messages:room:", "user:", "ticket:", "session:", "stats:user:",
	"lease:", NULL
};

/* 1 if name (without prefix) is in a cache family and holds only the
 * characters of our key names (digits, letters, ':', '*'). */
static int
cache_name_ok(const char *name, int pattern)
{
	const char *p;
	int i, fam = 0;

	for (i = 0; cache_families[i] != NULL; i++)
		if (strncmp(name, cache_families[i],
		    strlen(cache_families[i])) == 0)
			fam = 1;
	if (!fam || strlen(name) > 128)
		return 0;
	for (p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == ':' || (pattern && *p == '*')))
			return 0;
	return 1;
}

/* UNLINK of prefix + name. Returns 1, 0, or -1. */
static long long
unlink_key(struct app *app, const char *name)
{
	struct rkey k;
	redisReply *r;
	long long n = -1;

	app_key(app, &k, "%s", name);
	if ((r = rconn_cmdv(app->cache, "UNLINK", k.s, NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	freeReplyObject(r);
	return n;
}

/* POST /api/v1/cache/invalidate {"key"} or {"pattern"} */
void
api_cache_invalidate(struct app *app, struct req *req, const int64_t *ids)
{
	const char *key = NULL, *pat = NULL;
	size_t len;
	long long n;
	int hk, hp;

	if (http_read_json(req, app->cfg.max_body_bytes, 0) == -1 ||
	    (hk = api_field_str(req, "key", 1, 128, 0, &key, &len)) == -1 ||
	    (hp = api_field_str(req, "pattern", 1, 128, 0, &pat, &len)) == -1)
		return;
	if (hk == hp) {
		http_invalid_field(req, "key", "give exactly one of key and "
		    "pattern");
		return;
	}
	if (!cache_name_ok(hk ? key : pat, hp)) {
		http_invalid_field(req, hk ? "key" : "pattern",
		    "%s must name a cache key family: messages:room:, user:, "
		    "ticket:, session:, stats:user:", hk ? "key" : "pattern");
		return;
	}
	/* Sessions kept in the processes' memory go with any invalidation
	 * an operator asks for. */
	metrics_session_bump();
	if ((n = hk ? unlink_key(app, key) :
	    cache_delete_pattern(app, pat)) < 0) {
		http_error(req, 503, "unavailable", NULL, "Redis is unavailable");
		return;
	}
	http_json(req, 200, json_pack("{s:I}", "deleted", (json_int_t)n));
}

/* POST /api/v1/cache/clear: every cache family, nothing else. */
void
api_cache_clear(struct app *app, struct req *req, const int64_t *ids)
{
	static const char *const pats[] = {
		"messages:room:*", "user:*", "ticket:*", "session:*",
		"stats:user:*", "lease:*", NULL
	};
	long long n, total = 0;
	int i;

	if (http_read_json(req, app->cfg.max_body_bytes, 1) == -1)
		return;
	metrics_session_bump();
	for (i = 0; pats[i] != NULL; i++) {
		if ((n = cache_delete_pattern(app, pats[i])) < 0) {
			http_error(req, 503, "unavailable", NULL,
			    "Redis is unavailable");
			return;
		}
		total += n;
	}
	http_json(req, 200, json_pack("{s:I}", "deleted", (json_int_t)total));
}

/* GET /api/v1/queue */
void
api_queue_stats(struct app *app, struct req *req, const int64_t *ids)
{
	struct queue_stats qs;

	if (queue_stats(app, &qs) == -1) {
		http_error(req, 503, "unavailable", NULL,
		    "the queue's Redis is unavailable");
		return;
	}
	http_json(req, 200, json_pack("{s:I, s:I, s:I, s:I, s:o}",
	    "pending", (json_int_t)qs.pending,
	    "processing", (json_int_t)qs.processing,
	    "delayed", (json_int_t)qs.delayed, "failed", (json_int_t)qs.failed,
	    "oldest_pending_age_s", qs.oldest_pending_age_s < 0 ? json_null() :
	    json_integer(qs.oldest_pending_age_s)));
}

/* POST /api/v1/queue/failed/retry */
void
api_queue_retry(struct app *app, struct req *req, const int64_t *ids)
{
	long long n;

	if (http_read_json(req, app->cfg.max_body_bytes, 1) == -1)
		return;
	if ((n = queue_dead_retry(app)) < 0) {
		http_error(req, 503, "unavailable", NULL,
		    "the queue's Redis is unavailable");
		return;
	}
	http_json(req, 200, json_pack("{s:I}", "requeued", (json_int_t)n));
}

/* DELETE /api/v1/queue/failed */
void
api_queue_clear(struct app *app, struct req *req, const int64_t *ids)
{
	long long n;

	if ((n = queue_dead_clear(app)) < 0) {
		http_error(req, 503, "unavailable", NULL,
		    "the queue's Redis is unavailable");
		return;
	}
	http_json(req, 200, json_pack("{s:I}", "deleted", (json_int_t)n));
}

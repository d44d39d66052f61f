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

/* A chatdesk_worker_last_*_timestamp_seconds gauge, without a sample
 * until the first run (a 0 would read as 1970). */
static void
worker_gauge(struct strbuf *b, const char *what, const char *verb, int64_t ms)
{
	strbuf_printf(b, "# HELP chatdesk_worker_last_%s_timestamp_seconds "
	    "When a chatdesk-worker run last %s (absent: never).\n"
	    "# TYPE chatdesk_worker_last_%s_timestamp_seconds gauge\n",
	    what, verb, what);
	if (ms > 0)
		strbuf_printf(b, "chatdesk_worker_last_%s_timestamp_seconds "
		    "%.3f\n", what, (double)ms / 1000.0);
}

/* GET /metrics: Prometheus text, the counters then the queue's and the
 * worker's gauges (read live). */
void
api_metrics(struct app *app, struct req *req, const int64_t *ids)
{
	struct strbuf *b = &app->io.body;
	struct queue_stats qs;
	struct db_worker w;

	strbuf_reset(b);
	metrics_render(b);
	strbuf_adds(b, "# HELP chatdesk_queue_length Tasks in each queue key "
	    "(absent while the queue's Redis is down).\n"
	    "# TYPE chatdesk_queue_length gauge\n");
	if (queue_stats(app->queue, &qs) == 0)
		strbuf_printf(b, "chatdesk_queue_length{queue=\"pending\"} %lld\n"
		    "chatdesk_queue_length{queue=\"processing\"} %lld\n"
		    "chatdesk_queue_length{queue=\"delayed\"} %lld\n"
		    "chatdesk_queue_length{queue=\"failed\"} %lld\n",
		    qs.pending, qs.processing, qs.delayed, qs.failed);
	strbuf_printf(b, "chatdesk_queue_length{queue=\"outbox\"} %lld\n"
	    "chatdesk_queue_length{queue=\"unfinished\"} %lld\n",
	    queue_outbox_count(app->queue), queue_unfinished_count(app->queue));
	if (db_worker_get(app->db, &w) == -1)
		w.last_run_at = w.last_success_at = 0;
	worker_gauge(b, "run", "started", w.last_run_at);
	worker_gauge(b, "success", "succeeded", w.last_success_at);
	http_text(req, 200, "text/plain; version=0.0.4; charset=utf-8",
	    b->buf, b->len);
}

/* GET /api/v1/cache/stats */
void
api_cache_stats(struct app *app, struct req *req, const int64_t *ids)
{
	struct cache_server cs;
	uint64_t hits, misses;

	metrics_cache_totals(&hits, &misses);
	cache_server_stats(app->cache, &cs);
	http_json(req, 200, json_pack("{s:b, s:I, s:I, s:I, s:f, s:I, s:I, s:I, "
	    "s:I}", "connected", cs.connected, "keys", (json_int_t)cs.keys,
	    "hits", (json_int_t)hits, "misses", (json_int_t)misses,
	    "hit_rate", hits + misses ? (double)hits / (double)(hits + misses) : 0.0,
	    "keyspace_hits", (json_int_t)cs.keyspace_hits,
	    "keyspace_misses", (json_int_t)cs.keyspace_misses,
	    "evicted_keys", (json_int_t)cs.evicted_keys,
	    "used_memory", (json_int_t)cs.used_memory));
}

/* UNLINK of prefix + name, or SCAN + UNLINK of prefix + pattern.
 * Returns the count, or -1 if Redis is down. */
static long long
delete_named(struct app *app, const char *name, int pattern)
{
	const struct keyspace *ks = cache_keys(app->cache);
	struct rkey k;

	if (!pattern) {
		if (keys_named(ks, &k, name) == -1)
			return -1;
		return cache_unlink(app->cache, &k);
	}
	if (keys_glob(ks, &k, KEY__MAX, name) == -1)
		return -1;
	return cache_delete_glob(app->cache, &k);
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
	if (!keys_cache_name_ok(hk ? key : pat, hp)) {
		http_invalid_field(req, hk ? "key" : "pattern",
		    "%s must name a cache key family: messages:room:, user:, "
		    "ticket:, session:, stats:user:", hk ? "key" : "pattern");
		return;
	}
	/* Sessions kept in the processes' memory go with any invalidation
	 * an operator asks for. */
	metrics_session_bump();
	if ((n = delete_named(app, hk ? key : pat, hp)) < 0) {
		http_error(req, 503, "unavailable", NULL, "Redis is unavailable");
		return;
	}
	http_json(req, 200, json_pack("{s:I}", "deleted", (json_int_t)n));
}

/* POST /api/v1/cache/clear: every cache family, nothing else. */
void
api_cache_clear(struct app *app, struct req *req, const int64_t *ids)
{
	char pat[64];
	long long n, total = 0;
	int i;

	if (http_read_json(req, app->cfg.max_body_bytes, 1) == -1)
		return;
	metrics_session_bump();
	for (i = 0; i < KEY__MAX; i++) {
		if (!keys_families[i].cache)
			continue;
		snprintf(pat, sizeof(pat), "%s*", keys_families[i].stem);
		if ((n = delete_named(app, pat, 1)) < 0) {
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

	if (queue_stats(app->queue, &qs) == -1) {
		http_error(req, 503, "unavailable", NULL,
		    "the queue's Redis is unavailable");
		return;
	}
	http_json(req, 200, json_pack("{s:I, s:I, s:I, s:I, s:o, s:o}",
	    "pending", (json_int_t)qs.pending,
	    "processing", (json_int_t)qs.processing,
	    "delayed", (json_int_t)qs.delayed, "failed", (json_int_t)qs.failed,
	    "oldest_pending_age_s", qs.oldest_pending_age_s < 0 ? json_null() :
	    json_integer(qs.oldest_pending_age_s),
	    "unfinished", qs.unfinished < 0 ? json_null() :
	    json_integer(qs.unfinished)));
}

/* POST /api/v1/queue/failed/retry */
void
api_queue_retry(struct app *app, struct req *req, const int64_t *ids)
{
	long long n;

	if (http_read_json(req, app->cfg.max_body_bytes, 1) == -1)
		return;
	if ((n = queue_dead_retry(app->queue)) < 0) {
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

	if ((n = queue_dead_clear(app->queue)) < 0) {
		http_error(req, 503, "unavailable", NULL,
		    "the queue's Redis is unavailable");
		return;
	}
	http_json(req, 200, json_pack("{s:I}", "deleted", (json_int_t)n));
}

/* cache: see cache.h. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"


/*
 * GET the key; on a miss try to take the lease. Returns {1, value} on a
 * hit, {0, 1} when the lease is ours, {0, 0} when another reader holds it.
 */
static struct rscript fill_get = { .src =
	"local v = redis.call('GET', KEYS[1])\n"
	"if v then return {1, v} end\n"
	"if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
	"  return {0, 1}\n"
	"end\n"
	"return {0, 0}\n"
};

/* Stores the value only if our lease survived: a writer's delete since
 * the miss removed it, and the value read may be older than that write. */
/* Gives a lease back when there was nothing to store. */
static struct rscript lease_release = { .src =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
	"  return redis.call('DEL', KEYS[1])\n"
	"end\n"
	"return 0\n"
};

static struct rscript fill_store = { .src =
	"if redis.call('GET', KEYS[2]) == ARGV[1] then\n"
	"  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])\n"
	"  redis.call('DEL', KEYS[2])\n"
	"  return 1\n"
	"end\n"
	"return 0\n"
};

const char *
cache_result_name(enum cache_result r)
{
	switch (r) {
	case CACHE_HIT:
		return "HIT";
	case CACHE_MISS:
		return "MISS";
	default:
		return "BYPASS";
	}
}

long long
cache_jitter(long long ttl)
{
	uint32_t r;
	long long cut;

	if (ttl < 10)
		return ttl;
	util_random(&r, sizeof(r));
	cut = (long long)(r % (uint32_t)(ttl / 10 + 1));
	return ttl - cut;
}

/* The lease key of a key: the family name behind "lease:", same prefix. */
static void
lease_key(struct app *app, const struct rkey *key, struct rkey *lease)
{
	size_t plen = strlen(app->cfg.key_prefix);

	app_key(app, lease, "lease:%s", key->s + plen);
}

static void
sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/* One round trip: value, or whether we hold the lease. Returns 1 hit (out
 * filled), 0 miss with *lease_ours set, -1 Redis unusable. */
static int
cache_try(struct app *app, const struct rkey *key, const struct rkey *lease,
    const char *token, struct strbuf *out, int *lease_ours)
{
	char ms[16];
	redisReply *r;
	int rc = -1;

	snprintf(ms, sizeof(ms), "%d", CACHE_LEASE_MS);
	if ((r = rconn_evalv(app->cache, &fill_get, 2, key->s, lease->s, token,
	    ms, NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER) {
		if (r->element[0]->integer == 1 &&
		    r->element[1]->type == REDIS_REPLY_STRING) {
			strbuf_reset(out);
			strbuf_add(out, r->element[1]->str, r->element[1]->len);
			rc = 1;
		} else if (r->element[1]->type == REDIS_REPLY_INTEGER) {
			*lease_ours = r->element[1]->integer == 1;
			rc = 0;
		}
	}
	freeReplyObject(r);
	return rc;
}

/* GET: 1 hit (out filled), 0 miss, -1 Redis unusable. */
static int
cache_plain_get(struct app *app, const struct rkey *key, struct strbuf *out)
{
	const char *argv[2] = { "GET", key->s };
	size_t lens[2] = { 3, key->len };
	redisReply *r;
	int rc = 0;

	if ((r = rconn_cmd(app->cache, 2, argv, lens)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_STRING) {
		strbuf_reset(out);
		strbuf_add(out, r->str, r->len);
		rc = 1;
	}
	freeReplyObject(r);
	return rc;
}

static void
cache_store(struct app *app, const struct rkey *key, const struct rkey *lease,
    const char *token, const struct strbuf *val, long long ttl)
{
	char ttls[24];
	redisReply *r;

	snprintf(ttls, sizeof(ttls), "%lld", cache_jitter(ttl));
	/* Cached values are JSON or "id role" text: never a NUL byte. */
	if ((r = rconn_evalv(app->cache, &fill_store, 2, key->s, lease->s,
	    token, val->buf, ttls, NULL)) != NULL)
		freeReplyObject(r);
}

int
cache_get(struct app *app, const struct rkey *key, long long ttl,
    cache_fill_fn fill, void *arg, struct strbuf *out, enum cache_result *res)
{
	struct rkey lease;
	unsigned char rnd[12];
	char token[25];
	int lease_ours = 0, i, got, rc, fam;

	/* The hit path is a plain GET: one round trip, no script. */
	if (cache_sync(app) == -1)
		got = -1;
	else if ((got = cache_plain_get(app, key, out)) != 1) {
		lease_key(app, key, &lease);
		util_random(rnd, sizeof(rnd));
		util_hex(rnd, sizeof(rnd), token);
		got = got == -1 ? -1 :
		    cache_try(app, key, &lease, token, out, &lease_ours);
	}
	/* Another reader is filling: wait a little for its value rather
	 * than read SQLite too. */
	for (i = 0; got == 0 && !lease_ours && i < CACHE_WAIT_TRIES; i++) {
		sleep_us(CACHE_WAIT_US);
		got = cache_try(app, key, &lease, token, out, &lease_ours);
	}
	fam = metrics_family_of(key->s + strlen(app->cfg.key_prefix));
	if (got == 1) {
		*res = CACHE_HIT;
		metrics_cache(fam, 0);
		return 0;
	}
	*res = got == -1 ? CACHE_BYPASS : CACHE_MISS;
	metrics_cache(fam, got == -1 ? 2 : 1);
	strbuf_reset(out);
	rc = fill(app, arg, out);
	if (rc == 0 && lease_ours) {
		if (app->cfg.debug_fill_delay_ms > 0)
			sleep_us((long)app->cfg.debug_fill_delay_ms * 1000);
		cache_store(app, key, &lease, token, out, ttl);
	} else if (lease_ours) {
		/* Nothing to store: let the next reader fill at once. */
		redisReply *r;

		if ((r = rconn_evalv(app->cache, &lease_release, 1, lease.s,
		    token, NULL)) != NULL)
			freeReplyObject(r);
	}
	return rc;
}

/* Remembers a key (or pattern) whose delete failed, for cache_replay. */
static void
cache_remember(struct app *app, const char *key, int pattern)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(app->db, SQL_CACHE_PENDING_ADD)) == NULL)
		return;
	db_bind_text(st, 1, key, strlen(key));
	db_bind_int(st, 2, pattern);
	db_bind_int(st, 3, util_now_ms());
	if (db_exec_stmt(app->db, st) == 0)
		metrics_pending_bump();
}

/* SCAN MATCH full (a glob, prefix included) and UNLINK what it finds.
 * Returns the number deleted, or -1. */
static long long
cache_scan_delete(struct app *app, const char *full)
{
	const char *argv[1 + 1000];
	size_t lens[1 + 1000];
	char cursor[32] = "0";
	redisReply *r, *u;
	long long deleted = 0;
	size_t i;

	do {
		r = rconn_cmdv(app->cache, "SCAN", cursor, "MATCH", full,
		    "COUNT", "1000", NULL);
		if (r == NULL)
			return -1;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			return -1;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		argv[0] = "UNLINK";
		lens[0] = 6;
		for (i = 0; i < r->element[1]->elements && i < 1000; i++) {
			argv[1 + i] = r->element[1]->element[i]->str;
			lens[1 + i] = r->element[1]->element[i]->len;
		}
		if (i > 0) {
			if ((u = rconn_cmd(app->cache, (int)i + 1, argv,
			    lens)) == NULL) {
				freeReplyObject(r);
				return -1;
			}
			if (u->type == REDIS_REPLY_INTEGER)
				deleted += u->integer;
			freeReplyObject(u);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return deleted;
}

/* Writes the prefix with glob characters escaped, then pattern. */
static void
glob_key(struct app *app, const char *pattern, char *out, size_t outsz)
{
	const char *p;
	size_t n = 0;

	for (p = app->cfg.key_prefix; *p != '\0' && n + 3 < outsz; p++) {
		if (strchr("*?[]\\", *p) != NULL)
			out[n++] = '\\';
		out[n++] = *p;
	}
	snprintf(out + n, outsz - n, "%s", pattern);
}

long long
cache_delete_pattern(struct app *app, const char *pattern)
{
	char full[512];

	glob_key(app, pattern, full, sizeof(full));
	return cache_scan_delete(app, full);
}

int
cache_invalidate_pattern(struct app *app, const char *pattern)
{
	char full[512], lease[256];
	long long a, b;

	glob_key(app, pattern, full, sizeof(full));
	a = cache_scan_delete(app, full);
	snprintf(lease, sizeof(lease), "lease:%s", pattern);
	glob_key(app, lease, full + 256, sizeof(full) - 256);
	b = a < 0 ? -1 : cache_scan_delete(app, full + 256);
	if (a >= 0 && b >= 0)
		return 0;
	log_warn("cache invalidation of a pattern failed; kept for replay");
	glob_key(app, pattern, full, sizeof(full));
	cache_remember(app, full, 1);
	return -1;
}

static int
cache_del(struct app *app, const struct rkey *keys, int n)
{
	const char *argv[1 + 2 * 8];
	size_t lens[1 + 2 * 8];
	struct rkey leases[8];
	redisReply *r;
	int i, argc = 1;

	if (n > 8)
		return -1;
	argv[0] = "DEL";
	lens[0] = 3;
	for (i = 0; i < n; i++) {
		lease_key(app, &keys[i], &leases[i]);
		argv[argc] = keys[i].s;
		lens[argc++] = keys[i].len;
		argv[argc] = leases[i].s;
		lens[argc++] = leases[i].len;
	}
	if ((r = rconn_cmd(app->cache, argc, argv, lens)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

int
cache_invalidate(struct app *app, const struct rkey *keys, int n)
{
	int i;

	if (n <= 8 && cache_del(app, keys, n) == 0)
		return 0;
	log_warn("cache invalidation failed; %d key(s) kept for replay", n);
	for (i = 0; i < n; i++)
		cache_remember(app, keys[i].s, 0);
	return -1;
}

static int
cache_replay_now(struct app *app)
{
	sqlite3_stmt *list, *del;
	struct rkey k;
	const unsigned char *s;
	int64_t start = util_now_ms();
	int n = 0, failed = 0;

	if (app->db == NULL || (list = db_stmt(app->db, SQL_CACHE_PENDING_LIST)) == NULL)
		return -1;
	while (!failed && db_step(app->db, list) == SQLITE_ROW) {
		s = sqlite3_column_text(list, 0);
		if (s == NULL)
			continue;
		snprintf(k.s, sizeof(k.s), "%s", (const char *)s);
		k.len = strlen(k.s);
		/* Stored with the prefix; leases go too. */
		if (sqlite3_column_int(list, 1)) {
			if (cache_scan_delete(app, k.s) < 0)
				failed = 1;
			else
				n++;
		} else if (cache_del(app, &k, 1) == -1)
			failed = 1;
		else
			n++;
	}
	db_reset(list);
	if (failed)
		return -1;
	if (n == 0)
		return 0;
	/* Only what was remembered before this replay began: a key added
	 * since by another process may not have been seen above. */
	if ((del = db_stmt(app->db, SQL_CACHE_PENDING_CLEAR)) != NULL) {
		db_bind_int(del, 1, start);
		db_exec_stmt(app->db, del);
	}
	log_info("replayed %d cache invalidation(s)", n);
	return 0;
}

void
cache_replay(void *arg)
{
	struct app *app = arg;
	uint64_t gen = metrics_pending_gen();

	if (cache_replay_now(app) == 0)
		app->pending_gen = gen;
}

int
cache_sync(struct app *app)
{
	uint64_t gen = metrics_pending_gen();

	if (gen == app->pending_gen)
		return 0;
	if (cache_replay_now(app) == -1)
		return -1;
	app->pending_gen = gen;
	return 0;
}

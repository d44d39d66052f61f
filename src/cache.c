/* cache: see cache.h. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "cache_int.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"

/*
 * Takes the lease of a missed key: 2 if the key exists (filled
 * meanwhile), 1 if the lease is ours, 0 if another reader holds it.
 */
static struct rscript lease_take = { .src =
	"if redis.call('EXISTS', KEYS[1]) == 1 then return 2 end\n"
	"if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
	"  return 1\n"
	"end\n"
	"return 0\n"
};

/* Gives a lease back when there was nothing to store. */
static struct rscript lease_release = { .src =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
	"  return redis.call('DEL', KEYS[1])\n"
	"end\n"
	"return 0\n"
};

/* Stores the value only if our lease survived: a writer's delete since
 * the miss removed it, and the value read may be older than that write. */
static struct rscript fill_store = { .src =
	"if redis.call('GET', KEYS[2]) == ARGV[1] then\n"
	"  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])\n"
	"  redis.call('DEL', KEYS[2])\n"
	"  return 1\n"
	"end\n"
	"return 0\n"
};

/* INCR and, on the first hit of a window, EXPIRE: one round trip, atomic. */
static struct rscript count_script = { .src =
	"local n = redis.call('INCR', KEYS[1])\n"
	"if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end\n"
	"return n\n"
};

struct cache *
cache_open(const struct config *cfg, struct db *db, struct rconn *rc,
    const struct keyspace *ks, const unsigned char *mac_key)
{
	struct cache *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		abort();
	c->rc = rc;
	c->cfg = cfg;
	c->db = db;
	c->ks = *ks;
	if (mac_key != NULL) {
		cache_mac_init(&c->mac, mac_key);
		c->keyed = 1;
	}
	strbuf_init(&c->sealed);
	/* Invalidations that failed while Redis was away go first. */
	rconn_on_connect(rc, cache_replay, c);
	return c;
}

void
cache_close(struct cache *c)
{
	if (c == NULL)
		return;
	rconn_on_connect(c->rc, NULL, NULL);
	rconn_free(c->rc);
	util_wipe(&c->mac, sizeof(c->mac));
	strbuf_free(&c->sealed);
	cache_ahead_drop(c);
	free(c);
}

const struct keyspace *
cache_keys(const struct cache *c)
{
	return &c->ks;
}

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

static void
sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

void
cache_fill_delay(const struct cache *c)
{
	if (c->cfg->debug_fill_delay_ms > 0)
		sleep_us((long)c->cfg->debug_fill_delay_ms * 1000);
}

enum cache_step
cache_after_read(int got)
{
	if (got == 1)
		return CACHE_STEP_SERVE;
	return got == 0 ? CACHE_STEP_LEASE : CACHE_STEP_BYPASS;
}

enum cache_step
cache_after_lease(int lease, int tries)
{
	switch (lease) {
	case 1:
		return CACHE_STEP_FILL;
	case 0:
	case 2:
		if (tries >= CACHE_WAIT_TRIES)
			return CACHE_STEP_GIVE_UP;
		/* 0: another reader is filling; 2: the value appeared (or
		 * it was filled empty, as a room without messages). */
		return lease == 0 ? CACHE_STEP_WAIT : CACHE_STEP_READ;
	default:
		return CACHE_STEP_BYPASS;
	}
}

/* 1 ours, 0 another reader's, 2 the key exists, -1 Redis unusable. */
static int
lease_try(struct cache *c, const struct rkey *key, const struct rkey *lease,
    const char *token)
{
	char ms[16];

	snprintf(ms, sizeof(ms), "%d", CACHE_LEASE_MS);
	return (int)rconn_int(rconn_evalv(c->rc, &lease_take, 2, key->s,
	    lease->s, token, ms, NULL));
}

int
cache_lease_read(struct cache *c, const struct rkey *key,
    const struct rkey *lease, char token[CACHE_TOKEN_LEN + 1],
    cache_read_fn read, void *ctx)
{
	unsigned char rnd[CACHE_TOKEN_LEN / 2];
	int i;

	if (cache_sync(c) == -1)
		return -1;
	for (i = 0; ; i++) {
		switch (cache_after_read(read(c, key, ctx))) {
		case CACHE_STEP_SERVE:
			return 1;
		case CACHE_STEP_LEASE:
			break;
		default:
			return -1;
		}
		/* A miss: the lease token (a syscall for its randomness) is
		 * made only now, off the hit path. */
		if (i == 0) {
			util_random(rnd, sizeof(rnd));
			util_hex(rnd, sizeof(rnd), token);
		}
		switch (cache_after_lease(lease_try(c, key, lease, token), i)) {
		case CACHE_STEP_FILL:
			return 0;
		case CACHE_STEP_GIVE_UP:
			return 2;
		case CACHE_STEP_WAIT:
			sleep_us(CACHE_WAIT_US);
			break;
		case CACHE_STEP_READ:
			break;
		default:
			return -1;
		}
	}
}

#define SEAL_MAC_HEX	64
#define SEAL_NUM_HEX	16

void
cache_mac_init(struct cache_mac *m, const unsigned char *mac_key)
{
	crypto_auth_hmacsha512256_init(&m->st, mac_key, CACHE_MAC_KEY_LEN);
}

/* The MAC of a seal: over the key name, a NUL, and the seal after the
 * mac (gen, exp, '|', value). */
static void
seal_mac(const struct cache_mac *m, const struct rkey *key,
    const char *tail, size_t len, unsigned char mac[crypto_auth_BYTES])
{
	crypto_auth_hmacsha512256_state st = m->st;

	/* crypto_auth is HMAC-SHA-512-256; its streaming form, from a
	 * state keyed once, spares keying and a copy of key and value into
	 * one buffer. */
	crypto_auth_hmacsha512256_update(&st, (const unsigned char *)key->s,
	    key->len + 1);
	crypto_auth_hmacsha512256_update(&st, (const unsigned char *)tail, len);
	crypto_auth_hmacsha512256_final(&st, mac);
	sodium_memzero(&st, sizeof(st));
}

static void
hex_u64(uint64_t v, char *out)
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = SEAL_NUM_HEX - 1; i >= 0; i--, v >>= 4)
		out[i] = digits[v & 0xf];
}

/* Reads SEAL_NUM_HEX lower-case hex digits. Returns 0 or -1. */
static int
parse_u64(const char *s, uint64_t *v)
{
	int i;

	*v = 0;
	for (i = 0; i < SEAL_NUM_HEX; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			*v = *v << 4 | (uint64_t)(s[i] - '0');
		else if (s[i] >= 'a' && s[i] <= 'f')
			*v = *v << 4 | (uint64_t)(s[i] - 'a' + 10);
		else
			return -1;
	}
	return 0;
}

void
cache_seal(const struct cache_mac *m, const struct rkey *key,
    uint64_t gen, int64_t exp, const char *val, size_t len, struct strbuf *out)
{
	unsigned char mac[crypto_auth_BYTES];
	char *p;

	strbuf_reset(out);
	strbuf_reserve(out, CACHE_SEAL_LEN + len);
	p = out->buf;
	hex_u64(gen, p + SEAL_MAC_HEX);
	hex_u64((uint64_t)exp, p + SEAL_MAC_HEX + SEAL_NUM_HEX);
	p[CACHE_SEAL_LEN - 1] = '|';
	memcpy(p + CACHE_SEAL_LEN, val, len);
	out->len = CACHE_SEAL_LEN + len;
	p[out->len] = '\0';
	seal_mac(m, key, p + SEAL_MAC_HEX, out->len - SEAL_MAC_HEX, mac);
	/* sodium_bin2hex writes a NUL after the digits: over the gen's
	 * first digit, so it goes first and the gen is written again. */
	sodium_bin2hex(p, SEAL_MAC_HEX + 1, mac, sizeof(mac));
	hex_u64(gen, p + SEAL_MAC_HEX);
}

enum cache_seal
cache_unseal(const struct cache_mac *m, const struct rkey *key,
    uint64_t gen, int64_t now, const char *sealed, size_t len,
    const char **val, size_t *vlen)
{
	unsigned char mac[crypto_auth_BYTES], got[crypto_auth_BYTES];
	uint64_t g, exp;
	size_t n;

	if (len < CACHE_SEAL_LEN || sealed[CACHE_SEAL_LEN - 1] != '|' ||
	    sodium_hex2bin(got, sizeof(got), sealed, SEAL_MAC_HEX, NULL, &n,
	    NULL) != 0 || n != sizeof(got) ||
	    parse_u64(sealed + SEAL_MAC_HEX, &g) == -1 ||
	    parse_u64(sealed + SEAL_MAC_HEX + SEAL_NUM_HEX, &exp) == -1)
		return CACHE_SEAL_FORGED;
	seal_mac(m, key, sealed + SEAL_MAC_HEX, len - SEAL_MAC_HEX, mac);
	if (crypto_verify_32(mac, got) != 0)
		return CACHE_SEAL_FORGED;
	if (g != gen || now < 0 || (uint64_t)now >= exp)
		return CACHE_SEAL_STALE;
	*val = sealed + CACHE_SEAL_LEN;
	*vlen = len - CACHE_SEAL_LEN;
	return CACHE_SEAL_OK;
}

/* What a sealed value is checked against. */
struct plain_ctx {
	struct strbuf	*out;
	uint64_t	 gen;
};

/* A value that fails its seal: counted, logged at most once a minute per
 * process (an attacker must not be able to flood the log). */
static void
cache_forged(struct cache *c, const struct rkey *key)
{
	int64_t now = util_mono_us();

	metrics_cache_forged(key->fam);
	if (c->forged_logged_us != 0 &&
	    now - c->forged_logged_us < 60 * 1000000LL)
		return;
	c->forged_logged_us = now;
	log_error("cache: a %s value in Redis fails its MAC (written by "
	    "something other than chatdesk): treated as a miss; see "
	    "chatdesk_cache_forged_total", keys_families[key->fam].label);
}

void
cache_ahead_drop(struct cache *c)
{
	c->ahead_queued = 0;
	if (c->ahead_reply != NULL)
		freeReplyObject(c->ahead_reply);
	c->ahead_reply = NULL;
}

void
cache_ahead_queue(struct cache *c, const struct rkey *key,
    enum cache_ahead kind)
{
	cache_ahead_drop(c);
	c->ahead = *key;
	c->ahead_kind = kind;
	c->ahead_queued = 1;
}

void
cache_get_ahead(struct cache *c, const struct rkey *key)
{
	cache_ahead_queue(c, key, CACHE_AHEAD_GET);
}

redisReply *
cache_ahead_take(struct cache *c, const struct rkey *key,
    enum cache_ahead kind)
{
	redisReply *r = c->ahead_reply;

	if (r == NULL || c->ahead_kind != kind ||
	    strcmp(c->ahead.s, key->s) != 0)
		return NULL;
	c->ahead_reply = NULL;
	return r;
}

/*
 * GET key: the reply sent ahead for it, or a round trip that also carries
 * the read queued ahead (cache.h; its reply kept for cache_ahead_take, an
 * error reply dropped so that the read asks again). The GET's reply, or
 * NULL (Redis down, or it answered an error).
 */
static redisReply *
get_with_ahead(struct cache *c, const struct rkey *key)
{
	const char *argv[2] = { "GET", key->s };
	size_t lens[2] = { 3, key->len };
	const char *av2[3] = { "LINDEX", c->ahead.s, "0" };
	size_t lens2[3] = { 6, c->ahead.len, 1 };
	const char *const *argvs[2] = { argv, av2 };
	const size_t *const lenss[2] = { lens, lens2 };
	int argc[2] = { 2, 3 };
	redisReply *rs[2];

	/* The GET of the key sent ahead is that read, not another. */
	if ((rs[0] = cache_ahead_take(c, key, CACHE_AHEAD_GET)) != NULL)
		return rs[0];
	if (!c->ahead_queued)
		return rconn_cmd(c->rc, 2, argv, lens);
	c->ahead_queued = 0;
	/* Read before anything went with it: the queued read itself. */
	if (strcmp(c->ahead.s, key->s) == 0)
		return rconn_cmd(c->rc, 2, argv, lens);
	if (c->ahead_kind == CACHE_AHEAD_GET) {
		av2[0] = "GET";
		lens2[0] = 3;
		argc[1] = 2;
	}
	if (rconn_pipeline(c->rc, 2, argc, argvs, lenss, rs) == -1)
		return NULL;
	if (rs[1]->type == REDIS_REPLY_ERROR)
		freeReplyObject(rs[1]);
	else
		c->ahead_reply = rs[1];
	return rconn_refused(rs[0], "GET");
}

/* GET: 1 hit (out filled), 0 miss, -1 Redis unusable. A value whose seal
 * fails is deleted and is a miss: the reader refills it from SQLite. */
static int
plain_get(struct cache *c, const struct rkey *key, void *ctx)
{
	struct plain_ctx *pc = ctx;
	const char *val;
	size_t vlen;
	redisReply *r;
	int rc = 0;

	if ((r = get_with_ahead(c, key)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_STRING) {
		switch (cache_unseal(&c->mac, key, pc->gen,
		    util_now_ms() / 1000, r->str, r->len, &val, &vlen)) {
		case CACHE_SEAL_OK:
			strbuf_reset(pc->out);
			strbuf_add(pc->out, val, vlen);
			rc = 1;
			break;
		case CACHE_SEAL_FORGED:
			cache_forged(c, key);
			/* FALLTHROUGH */
		case CACHE_SEAL_STALE:
			if (cache_unlink(c, key) == -1)
				rc = -1;
			break;
		}
	}
	freeReplyObject(r);
	return rc;
}

static void
cache_store(struct cache *c, const struct rkey *key, const struct rkey *lease,
    const char *token, const struct strbuf *val, long long ttl, uint64_t gen)
{
	long long t = cache_jitter(ttl);
	char ttls[24];
	redisReply *r;

	snprintf(ttls, sizeof(ttls), "%lld", t);
	cache_seal(&c->mac, key, gen, util_now_ms() / 1000 + t, val->buf,
	    val->len, &c->sealed);
	/* Cached values are JSON or "id role" text: never a NUL byte. */
	if ((r = rconn_evalv(c->rc, &fill_store, 2, key->s, lease->s,
	    token, c->sealed.buf, ttls, NULL)) != NULL)
		freeReplyObject(r);
}

int
cache_get(struct cache *c, const struct rkey *key, long long ttl,
    cache_fill_fn fill, void *arg, struct strbuf *out, enum cache_result *res)
{
	struct plain_ctx pc = { out, 0 };
	struct rkey lease;
	char token[CACHE_TOKEN_LEN + 1];
	redisReply *r;
	int got, rc;

	if (!c->keyed) {
		/* No secret to check a value with: Redis is not read. */
		*res = CACHE_BYPASS;
		metrics_cache(key->fam, 2);
		strbuf_reset(out);
		return fill(arg, out);
	}
	/* Read before SQLite is: a revocation during the fill leaves the
	 * value stored already stale. */
	if (key->fam == KEY_SESSION)
		pc.gen = metrics_session_gen();
	keys_lease(key, &lease);
	/* The hit path is a plain GET: one round trip, no script. */
	got = cache_lease_read(c, key, &lease, token, plain_get, &pc);
	if (got == 1) {
		*res = CACHE_HIT;
		metrics_cache(key->fam, 0);
		return 0;
	}
	*res = got == -1 ? CACHE_BYPASS : CACHE_MISS;
	metrics_cache(key->fam, got == -1 ? 2 : 1);
	strbuf_reset(out);
	rc = fill(arg, out);
	if (got != 0)
		return rc;
	if (rc == 0) {
		cache_fill_delay(c);
		cache_store(c, key, &lease, token, out, ttl, pc.gen);
	} else if ((r = rconn_evalv(c->rc, &lease_release, 1, lease.s, token,
	    NULL)) != NULL)
		/* Nothing to store: let the next reader fill at once. */
		freeReplyObject(r);
	return rc;
}

/* Remembers a key (or glob) whose delete failed, for cache_replay. */
static void
cache_remember(struct cache *c, const char *key, int pattern)
{
	if (db_cache_pending_add(c->db, key, pattern) == 0)
		metrics_pending_bump();
}

/* SCAN MATCH full (a glob, prefix included) and UNLINK what it finds.
 * Returns the number deleted, or -1. */
static long long
cache_scan_delete(struct cache *c, const char *full)
{
	const char *argv[1 + 1000];
	size_t lens[1 + 1000];
	char cursor[32] = "0";
	redisReply *r, *u;
	long long deleted = 0;
	size_t i;

	do {
		r = rconn_cmdv(c->rc, "SCAN", cursor, "MATCH", full,
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
			if ((u = rconn_cmd(c->rc, (int)i + 1, argv,
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

long long
cache_delete_glob(struct cache *c, const struct rkey *glob)
{
	return cache_scan_delete(c, glob->s);
}

int
cache_invalidate_glob(struct cache *c, const struct rkey *glob)
{
	struct rkey lease;
	long long a, b;

	keys_lease(glob, &lease);
	a = cache_scan_delete(c, glob->s);
	b = a < 0 ? -1 : cache_scan_delete(c, lease.s);
	if (a >= 0 && b >= 0)
		return 0;
	log_warn("cache invalidation of a pattern failed; kept for replay");
	cache_remember(c, glob->s, 1);
	return -1;
}

long long
cache_unlink(struct cache *c, const struct rkey *key)
{
	const char *argv[2] = { "UNLINK", key->s };
	size_t lens[2] = { 6, key->len };

	return rconn_int(rconn_cmd(c->rc, 2, argv, lens));
}

static int
cache_del(struct cache *c, const struct rkey *keys, int n)
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
		keys_lease(&keys[i], &leases[i]);
		argv[argc] = keys[i].s;
		lens[argc++] = keys[i].len;
		argv[argc] = leases[i].s;
		lens[argc++] = leases[i].len;
	}
	if ((r = rconn_cmd(c->rc, argc, argv, lens)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

int
cache_invalidate(struct cache *c, const struct rkey *keys, int n)
{
	int i;

	if (n <= 8 && cache_del(c, keys, n) == 0)
		return 0;
	log_warn("cache invalidation failed; %d key(s) kept for replay", n);
	for (i = 0; i < n; i++)
		cache_remember(c, keys[i].s, 0);
	return -1;
}

/* One remembered invalidation: deletes it now. Returns 0 or -1. */
static int
replay_one(void *arg, const char *text, int pattern)
{
	struct cache *c = arg;
	struct rkey k;

	if (keys_stored(&c->ks, &k, text) == -1)
		return 0;
	/* Stored with the prefix; leases go too. */
	if (pattern)
		return cache_scan_delete(c, k.s) < 0 ? -1 : 0;
	return cache_del(c, &k, 1);
}

static int
cache_replay_now(struct cache *c)
{
	int n;

	if (c->db == NULL)
		return -1;
	if ((n = db_cache_pending_replay(c->db, replay_one, c)) < 0)
		return -1;
	if (n > 0)
		log_info("replayed %d cache invalidation(s)", n);
	return 0;
}

void
cache_replay(void *arg)
{
	struct cache *c = arg;
	uint64_t gen = metrics_pending_gen();

	if (cache_replay_now(c) == 0)
		c->pending_gen = gen;
}

int
cache_sync(struct cache *c)
{
	uint64_t gen = metrics_pending_gen();

	if (gen == c->pending_gen)
		return 0;
	/* A read sent ahead may precede the deletes replayed now. */
	if (c->ahead_reply != NULL)
		cache_ahead_drop(c);
	if (cache_replay_now(c) == -1)
		return -1;
	c->pending_gen = gen;
	return 0;
}

long long
cache_count(struct cache *c, const struct rkey *key, long long ttl)
{
	char ttls[24];

	snprintf(ttls, sizeof(ttls), "%lld", ttl);
	return rconn_int(rconn_evalv(c->rc, &count_script, 1, key->s, ttls,
	    NULL));
}

int
cache_ping(struct cache *c)
{
	return rconn_ping(c->rc);
}

void
cache_server_stats(struct cache *c, struct cache_server *s)
{
	redisReply *info, *size;

	memset(s, 0, sizeof(*s));
	if ((info = rconn_cmdv(c->rc, "INFO", NULL)) != NULL) {
		if (info->type == REDIS_REPLY_STRING) {
			s->connected = 1;
			s->keyspace_hits = rconn_info_field(info->str,
			    "keyspace_hits");
			s->keyspace_misses = rconn_info_field(info->str,
			    "keyspace_misses");
			s->evicted_keys = rconn_info_field(info->str,
			    "evicted_keys");
			s->used_memory = rconn_info_field(info->str,
			    "used_memory");
		}
		freeReplyObject(info);
	}
	if (s->connected &&
	    (size = rconn_cmdv(c->rc, "DBSIZE", NULL)) != NULL) {
		if (size->type == REDIS_REPLY_INTEGER)
			s->keys = size->integer;
		freeReplyObject(size);
	}
}

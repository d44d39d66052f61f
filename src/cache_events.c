/* cache_events: see cache_events.h. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "cache_events.h"
#include "cache_int.h"
#include "keys.h"
#include "rconn.h"
#include "util.h"

#define PRESENCE_ROOMS_MAX	50	/* rooms= of one subscription */

int
cache_events_ticket_put(struct cache *c, const unsigned char hash[32],
    const unsigned char val[CACHE_EVENTS_TICKET_LEN], int ttl)
{
	struct rkey k;
	char ttls[16];
	const char *argv[5];
	size_t lens[5];
	redisReply *r;

	keys_event_ticket(&c->ks, &k, hash);
	snprintf(ttls, sizeof(ttls), "%d", ttl);
	argv[0] = "SET";
	argv[1] = k.s;
	argv[2] = (const char *)val;
	argv[3] = "EX";
	argv[4] = ttls;
	lens[0] = 3;
	lens[1] = k.len;
	lens[2] = CACHE_EVENTS_TICKET_LEN;
	lens[3] = 2;
	lens[4] = strlen(ttls);
	if ((r = rconn_cmd(c->rc, 5, argv, lens)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

int
cache_events_ticket_take(struct cache *c, const unsigned char hash[32],
    unsigned char val[CACHE_EVENTS_TICKET_LEN])
{
	struct rkey k;
	redisReply *r;
	int rc = 0;

	keys_event_ticket(&c->ks, &k, hash);
	/* GETDEL (Redis 6.2): two redeemers cannot both get it. */
	if ((r = rconn_cmdv(c->rc, "GETDEL", k.s, NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_STRING &&
	    r->len == CACHE_EVENTS_TICKET_LEN) {
		memcpy(val, r->str, CACHE_EVENTS_TICKET_LEN);
		rc = 1;
	}
	freeReplyObject(r);
	return rc;
}

/* Removes the entries that expired before ARGV[3] (ms) and counts them
 * out of the users' hash. Shared by the three scripts below. */
#define SWEEP_LUA \
	"local function sweep(z, h, now)\n" \
	"  local gone = redis.call('ZRANGEBYSCORE', z, '-inf', now)\n" \
	"  for _, m in ipairs(gone) do\n" \
	"    local u = string.match(m, '^(%d+):')\n" \
	"    if u and redis.call('HINCRBY', h, u, -1) <= 0 then\n" \
	"      redis.call('HDEL', h, u)\n" \
	"    end\n" \
	"  end\n" \
	"  if #gone > 0 then\n" \
	"    redis.call('ZREMRANGEBYSCORE', z, '-inf', now)\n" \
	"  end\n" \
	"end\n"

/* KEYS: (set, hash) per room. ARGV: member, user id, now, expiry (ms),
 * key TTL (s). Returns, per room, 1 if the user came online. */
static struct rscript join_script = { .src = SWEEP_LUA
	"local out = {}\n"
	"for i = 1, #KEYS, 2 do\n"
	"  sweep(KEYS[i], KEYS[i + 1], ARGV[3])\n"
	"  local first = 0\n"
	"  if redis.call('ZADD', KEYS[i], ARGV[4], ARGV[1]) == 1 and\n"
	"      redis.call('HINCRBY', KEYS[i + 1], ARGV[2], 1) == 1 then\n"
	"    first = 1\n"
	"  end\n"
	"  redis.call('EXPIRE', KEYS[i], ARGV[5])\n"
	"  redis.call('EXPIRE', KEYS[i + 1], ARGV[5])\n"
	"  out[#out + 1] = first\n"
	"end\n"
	"return out\n"
};

/* KEYS as above. ARGV: member, user id, now. Returns, per room, 1 if that
 * was the user's last live entry. */
static struct rscript leave_script = { .src = SWEEP_LUA
	"local out = {}\n"
	"for i = 1, #KEYS, 2 do\n"
	"  local last = 0\n"
	"  if redis.call('ZREM', KEYS[i], ARGV[1]) == 1 and\n"
	"      redis.call('HINCRBY', KEYS[i + 1], ARGV[2], -1) <= 0 then\n"
	"    redis.call('HDEL', KEYS[i + 1], ARGV[2])\n"
	"    last = 1\n"
	"  end\n"
	"  sweep(KEYS[i], KEYS[i + 1], ARGV[3])\n"
	"  out[#out + 1] = last\n"
	"end\n"
	"return out\n"
};

/* KEYS: set, hash. ARGV: now. Returns the users online. */
static struct rscript list_script = { .src = SWEEP_LUA
	"sweep(KEYS[1], KEYS[2], ARGV[1])\n"
	"return redis.call('HKEYS', KEYS[2])\n"
};

/* The keys of n rooms, as (set, hash) pairs, into k[0 .. 2n). */
static void
presence_keys(struct cache *c, const int64_t *rooms, int n, struct rkey *k)
{
	int i;

	for (i = 0; i < n; i++) {
		keys_presence(&c->ks, &k[2 * i], rooms[i], 0);
		keys_presence(&c->ks, &k[2 * i + 1], rooms[i], 1);
	}
}

/*
 * Runs a join or leave script over n rooms with the extra arguments, and
 * copies its per-room flags into flags. Returns 0 or -1.
 */
static int
presence_run(struct cache *c, struct rscript *s, const int64_t *rooms, int n,
    const char *const *extra, int nextra, int *flags)
{
	struct rkey k[2 * PRESENCE_ROOMS_MAX];
	const char *argv[2 * PRESENCE_ROOMS_MAX + 5];
	size_t lens[2 * PRESENCE_ROOMS_MAX + 5];
	redisReply *r;
	int i, argc = 0;

	if (n > PRESENCE_ROOMS_MAX)
		n = PRESENCE_ROOMS_MAX;
	memset(flags, 0, sizeof(*flags) * (size_t)n);
	if (n == 0)
		return 0;
	presence_keys(c, rooms, n, k);
	for (i = 0; i < 2 * n; i++) {
		argv[argc] = k[i].s;
		lens[argc++] = k[i].len;
	}
	for (i = 0; i < nextra; i++) {
		argv[argc] = extra[i];
		lens[argc++] = strlen(extra[i]);
	}
	if ((r = rconn_eval(c->rc, s, 2 * n, argc, argv, lens)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ARRAY)
		for (i = 0; i < n && (size_t)i < r->elements; i++)
			flags[i] = r->element[i]->type == REDIS_REPLY_INTEGER &&
			    r->element[i]->integer == 1;
	freeReplyObject(r);
	return 0;
}

int
cache_events_presence_join(struct cache *c, int64_t user, const char *sid,
    const int64_t *rooms, int n, int64_t expires_ms, int *first)
{
	char member[96], uid[24], now[24], exp[24], ttl[24];
	const char *extra[5] = { member, uid, now, exp, ttl };

	snprintf(member, sizeof(member), "%lld:%.64s", (long long)user, sid);
	snprintf(uid, sizeof(uid), "%lld", (long long)user);
	snprintf(now, sizeof(now), "%lld", (long long)util_now_ms());
	snprintf(exp, sizeof(exp), "%lld", (long long)expires_ms);
	/* The keys outlive their last entry by a little; never for ever. */
	snprintf(ttl, sizeof(ttl), "%lld",
	    (long long)((expires_ms - util_now_ms()) / 1000 + 1));
	return presence_run(c, &join_script, rooms, n, extra, 5, first);
}

int
cache_events_presence_leave(struct cache *c, int64_t user, const char *sid,
    const int64_t *rooms, int n, int *last)
{
	char member[96], uid[24], now[24];
	const char *extra[3] = { member, uid, now };

	snprintf(member, sizeof(member), "%lld:%.64s", (long long)user, sid);
	snprintf(uid, sizeof(uid), "%lld", (long long)user);
	snprintf(now, sizeof(now), "%lld", (long long)util_now_ms());
	return presence_run(c, &leave_script, rooms, n, extra, 3, last);
}

static int
cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int
cache_events_presence_list(struct cache *c, int64_t room, int64_t *users,
    int max)
{
	struct rkey k[2];
	char now[24];
	redisReply *r;
	int64_t id;
	size_t i;
	int n = 0;

	presence_keys(c, &room, 1, k);
	snprintf(now, sizeof(now), "%lld", (long long)util_now_ms());
	if ((r = rconn_evalv(c->rc, &list_script, 2, k[0].s, k[1].s, now,
	    NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ARRAY)
		for (i = 0; i < r->elements && n < max; i++)
			if (r->element[i]->type == REDIS_REPLY_STRING &&
			    util_parse_id(r->element[i]->str,
			    r->element[i]->len, &id) == 0)
				users[n++] = id;
	freeReplyObject(r);
	qsort(users, (size_t)n, sizeof(*users), cmp_id);
	return n;
}

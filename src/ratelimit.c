/* ratelimit: see ratelimit.h. */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "app.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "util.h"


/* INCR and, on the first hit of a window, EXPIRE: one round trip, atomic. */
static struct rscript incr_script = { .src =
	"local n = redis.call('INCR', KEYS[1])\n"
	"if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end\n"
	"return n\n"
};

/*
 * Counts one hit on ratelimit:{family}{id}:{window}. Returns the count, or 0 when Redis is unavailable (not
 * enforced, counted). *retry gets the seconds to the window's end.
 */
static long long
count_hit(struct app *app, long long window, long long *retry,
    const char *family, const char *id)
{
	int64_t now_s = util_now_ms() / 1000, win = now_s / window;
	struct rkey k;
	char ttl[24];
	redisReply *r;
	long long n = 0;

	app_key(app, &k, "ratelimit:%s%s:%lld", family, id, (long long)win);
	snprintf(ttl, sizeof(ttl), "%lld", window + 1);
	*retry = (win + 1) * window - now_s;
	if ((r = rconn_evalv(app->cache, &incr_script, 1, k.s, ttl, NULL)) ==
	    NULL) {
		metrics_ratelimit_unenforced();
		return 0;
	}
	if (r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	freeReplyObject(r);
	return n;
}

/* Answers 429 with Retry-After. */
static int
reject(struct req *req, long long retry, const char *what, long long limit,
    long long window)
{
	char s[24];

	metrics_ratelimit_rejection();
	snprintf(s, sizeof(s), "%lld", retry);
	http_header(req, "Retry-After", s);
	http_error(req, 429, "rate_limited", NULL, "at most %lld %s per %lld s",
	    limit, what, window);
	return -1;
}

int
ratelimit_post(struct app *app, struct req *req)
{
	long long window = app->cfg.rate_limit_window, retry;
	char uid[24];

	snprintf(uid, sizeof(uid), "%lld", (long long)req->user_id);
	if (count_hit(app, window, &retry, "", uid) <=
	    app->cfg.rate_limit_count)
		return 0;
	return reject(req, retry, "posts", app->cfg.rate_limit_count, window);
}

/* The hex SHA-256 of s (ASCII lower-cased): keys hold no client text. */
static void
digest(const char *s, size_t len, char hex[crypto_hash_sha256_BYTES * 2 + 1])
{
	crypto_hash_sha256_state h;
	unsigned char out[crypto_hash_sha256_BYTES], c;
	size_t i;

	crypto_hash_sha256_init(&h);
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		crypto_hash_sha256_update(&h, &c, 1);
	}
	crypto_hash_sha256_final(&h, out);
	util_hex(out, sizeof(out), hex);
}

int
ratelimit_signin(struct app *app, struct req *req, const char *email,
    size_t elen)
{
	long long window = app->cfg.signin_rate_limit_window, re, ra, ne, na;
	char he[crypto_hash_sha256_BYTES * 2 + 1];
	char ha[crypto_hash_sha256_BYTES * 2 + 1];

	digest(email, elen, he);
	digest(req->remote_addr, strlen(req->remote_addr), ha);
	/* Both counted, whichever is over: a guesser cannot spend one
	 * limit's budget while the other is exhausted. */
	ne = count_hit(app, window, &re, "signin:email:", he);
	na = count_hit(app, window, &ra, "signin:addr:", ha);
	if (ne > app->cfg.signin_rate_limit_email)
		return reject(req, re, "sign-ins for one email",
		    app->cfg.signin_rate_limit_email, window);
	if (na > app->cfg.signin_rate_limit_addr)
		return reject(req, ra, "sign-ins from one address",
		    app->cfg.signin_rate_limit_addr, window);
	return 0;
}

/* ratelimit: see ratelimit.h. */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "app.h"
#include "cache.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "util.h"

/* Counts one hit on k, which lives window + 1 s. Returns the count, or 0
 * when Redis did not answer (not enforced, counted). */
static long long
count_hit(struct app *app, const struct rkey *k, long long window)
{
	long long n;

	if ((n = cache_count(app->cache, k, window + 1)) == -1) {
		metrics_ratelimit_unenforced();
		return 0;
	}
	return n;
}

/* Answers 429 with Retry-After: whole seconds to the end of window win. */
static int
reject(struct req *req, int64_t now_s, int64_t win, long long window,
    long long limit, const char *what)
{
	char retry[24];

	metrics_ratelimit_rejection();
	snprintf(retry, sizeof(retry), "%lld",
	    (long long)((win + 1) * window - now_s));
	http_header(req, "Retry-After", retry);
	http_error(req, 429, "rate_limited", NULL, "at most %lld %s per %lld s",
	    limit, what, window);
	return -1;
}

int
ratelimit_post(struct app *app, struct req *req)
{
	long long window = app->cfg.rate_limit_window;
	int64_t now_s = util_now_ms() / 1000, win = now_s / window;
	struct rkey k;

	keys_ratelimit(cache_keys(app->cache), &k, req->user_id, win);
	if (count_hit(app, &k, window) <= app->cfg.rate_limit_count)
		return 0;
	return reject(req, now_s, win, window, app->cfg.rate_limit_count,
	    "posts");
}

/* The SHA-256 of s, ASCII lower-cased (emails compare so): key names
 * hold no client text. */
static void
digest(const char *s, size_t len, unsigned char out[32])
{
	crypto_hash_sha256_state h;
	unsigned char c;
	size_t i;

	crypto_hash_sha256_init(&h);
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		crypto_hash_sha256_update(&h, &c, 1);
	}
	crypto_hash_sha256_final(&h, out);
}

int
ratelimit_signin(struct app *app, struct req *req, const char *email,
    size_t elen)
{
	long long window = app->cfg.signin_rate_limit_window, ne, na;
	int64_t now_s = util_now_ms() / 1000, win = now_s / window;
	unsigned char he[32], ha[32];
	struct rkey k;

	digest(email, elen, he);
	digest(req->remote_addr, strlen(req->remote_addr), ha);
	/* Both counted, whichever is over: a guesser cannot spend one
	 * limit's budget while the other is exhausted. */
	keys_signin(cache_keys(app->cache), &k, KEYS_SIGNIN_EMAIL, he, win);
	ne = count_hit(app, &k, window);
	keys_signin(cache_keys(app->cache), &k, KEYS_SIGNIN_ADDR, ha, win);
	na = count_hit(app, &k, window);
	if (ne > app->cfg.signin_rate_limit_email)
		return reject(req, now_s, win, window,
		    app->cfg.signin_rate_limit_email, "sign-ins for one email");
	if (na > app->cfg.signin_rate_limit_addr)
		return reject(req, now_s, win, window,
		    app->cfg.signin_rate_limit_addr, "sign-ins from one address");
	return 0;
}

int
ratelimit_typing(struct app *app, int64_t user)
{
	long long window = app->cfg.rate_limit_window;
	struct rkey k;

	keys_ratelimit_typing(cache_keys(app->cache), &k, user,
	    util_now_ms() / 1000 / window);
	/* Not counted while Redis is down (-1): let it through, as posts. */
	return cache_count(app->cache, &k, window + 1) <=
	    app->cfg.rate_limit_count;
}

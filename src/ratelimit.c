/* ratelimit: see ratelimit.h. */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

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

/* Counts one hit on k, which lives window + 1 s. Returns the count so
 * far in the window, or -1 if Redis could not count it. */
static long long
hit(struct app *app, const struct rkey *k, long long window)
{
	char ttl[24];
	redisReply *r;
	long long n = 0;

	snprintf(ttl, sizeof(ttl), "%lld", window + 1);
	if ((r = rconn_evalv(app->cache, &incr_script, 1, k->s, ttl, NULL)) ==
	    NULL)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	freeReplyObject(r);
	return n;
}

int
ratelimit_typing(struct app *app, int64_t user)
{
	long long window = app->cfg.rate_limit_window;
	struct rkey k;

	app_key(app, &k, "ratelimit:typing:%lld:%lld", (long long)user,
	    (long long)(util_now_ms() / 1000 / window));
	/* Not counted while Redis is down: let it through, as posts. */
	return hit(app, &k, window) <= app->cfg.rate_limit_count;
}

int
ratelimit_post(struct app *app, struct req *req)
{
	long long window = app->cfg.rate_limit_window;
	int64_t now_s = util_now_ms() / 1000, win = now_s / window;
	struct rkey k;
	char retry[24];
	long long n;

	app_key(app, &k, "ratelimit:%lld:%lld", (long long)req->user_id,
	    (long long)win);
	if ((n = hit(app, &k, window)) == -1) {
		metrics_ratelimit_unenforced();
		return 0;
	}
	if (n <= app->cfg.rate_limit_count)
		return 0;
	metrics_ratelimit_rejection();
	snprintf(retry, sizeof(retry), "%lld",
	    (long long)((win + 1) * window - now_s));
	http_header(req, "Retry-After", retry);
	http_error(req, 429, "rate_limited", NULL,
	    "at most %lld posts per %lld s", app->cfg.rate_limit_count, window);
	return -1;
}

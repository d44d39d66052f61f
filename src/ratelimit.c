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

int
ratelimit_post(struct app *app, struct req *req)
{
	long long window = app->cfg.rate_limit_window;
	int64_t now_s = util_now_ms() / 1000, win = now_s / window;
	struct rkey k;
	char ttl[24], retry[24];
	redisReply *r;
	long long n = 0;

	app_key(app, &k, "ratelimit:%lld:%lld", (long long)req->user_id,
	    (long long)win);
	snprintf(ttl, sizeof(ttl), "%lld", window + 1);
	if ((r = rconn_evalv(app->cache, &incr_script, 1, k.s, ttl, NULL)) ==
	    NULL) {
		metrics_ratelimit_unenforced();
		return 0;
	}
	if (r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	freeReplyObject(r);
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

/* ratelimit: see ratelimit.h. */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "cache.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "util.h"


int
ratelimit_post(struct app *app, struct req *req)
{
	long long window = app->cfg.rate_limit_window;
	int64_t now_s = util_now_ms() / 1000, win = now_s / window;
	struct rkey k;
	char retry[24];
	long long n;

	keys_ratelimit(cache_keys(app->cache), &k, req->user_id, win);
	if ((n = cache_count(app->cache, &k, window + 1)) == -1) {
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

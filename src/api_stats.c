/* api_stats: a user's ticket statistics (the route of API.md section 3,
 * cached as section 4 says). */
#include "autoconf.h"

#include "api.h"
#include "app.h"
#include "auth.h"
#include "http.h"
#include "tickets.h"
#include "users.h"

/* GET /api/v1/stats/users/{id}?days=1..365 (self or staff) */
void
api_stats_user(struct app *app, struct req *req, const int64_t *ids)
{
	struct strbuf text;
	enum cache_result res;
	long long days;
	enum role role = ROLE_NONE;
	int rc;

	if (api_query_int(req, "days", 1, 365, 30, &days) == -1)
		return;
	strbuf_init(&text);
	/* The user's role picks requested (customer) or assigned (staff). */
	rc = users_get(app, ids[0], &text, &res, &role);
	if (rc != 0) {
		strbuf_free(&text);
		if (rc == 1)
			http_not_found(req);
		else
			http_internal(req);
		return;
	}
	if (req->user_id != ids[0] && !auth_is_staff(req->role)) {
		strbuf_free(&text);
		http_error(req, 403, "forbidden", NULL,
		    "only the user or staff may read its stats");
		return;
	}
	strbuf_reset(&text);
	rc = tickets_stats(app, ids[0], auth_is_staff(role), (int)days, &text,
	    &res);
	req->cache = cache_result_name(res);
	if (rc == 0) {
		strbuf_add(&text, "\n", 1);
		http_raw(req, 200, text.buf, text.len);
	} else
		http_internal(req);
	strbuf_free(&text);
}

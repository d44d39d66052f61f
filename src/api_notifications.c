/* api_notifications: the caller's notifications (the routes of API.md
 * section 3), which the send_notifications task writes (section 5). */
#include "autoconf.h"

#include "api.h"
#include "app.h"
#include "http.h"
#include "tickets.h"

/* GET /api/v1/notifications: the caller's, newest first (with ?after=,
 * the newer ones, oldest first). */
void
api_notifications_list(struct app *app, struct req *req, const int64_t *ids)
{
	static const char *const unread_choices[] = { "0", "1", NULL };
	int64_t before, after;
	json_t *arr;
	int limit, n, unread = 0;

	if (api_page_params_after(req, 20, &limit, &before, &after) == -1 ||
	    api_query_enum(req, "unread", unread_choices, &unread) == -1)
		return;
	arr = json_array();
	n = tickets_notifications(app, req->user_id, before, after, unread,
	    limit, arr);
	if (n < 0) {
		json_decref(arr);
		http_internal(req);
		return;
	}
	/* Either way the last item's id pages on: older or newer. */
	api_page_answer(req, "notifications", arr,
	    after != 0 ? "next_after" : "next_before",
	    n == limit ? api_item_id(arr, (size_t)n - 1) : 0);
}

#define READ_IDS_MAX	1000

/* POST /api/v1/notifications/read {"ids":[...]} or {"all":true} */
void
api_notifications_read(struct app *app, struct req *req, const int64_t *ids)
{
	int64_t list[READ_IDS_MAX];
	json_t *arr, *all, *v;
	size_t i, n;

	if (http_read_json(req, app->cfg.max_body_bytes, 0) == -1)
		return;
	all = json_object_get(req->body, "all");
	arr = json_object_get(req->body, "ids");
	if (all != NULL && !json_is_boolean(all)) {
		http_invalid_field(req, "all", "all must be true or false");
		return;
	}
	if (json_is_true(all)) {
		if (tickets_notifications_read(app, req->user_id, NULL, 0) == -1)
			http_internal(req);
		else
			http_empty(req, 204);
		return;
	}
	if (!json_is_array(arr) || (n = json_array_size(arr)) > READ_IDS_MAX) {
		http_invalid_field(req, "ids",
		    "ids must be an array of at most %d ids, or all must be true",
		    READ_IDS_MAX);
		return;
	}
	json_array_foreach(arr, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 1) {
			http_invalid_field(req, "ids", "ids must hold ids");
			return;
		}
		list[i] = json_integer_value(v);
	}
	if (tickets_notifications_read(app, req->user_id, list, n) == -1)
		http_internal(req);
	else
		http_empty(req, 204);
}

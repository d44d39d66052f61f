/* api_rooms: the room and message routes of API.md section 3. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "auth.h"
#include "http.h"
#include "ratelimit.h"
#include "rooms.h"
#include "users.h"

/*
 * Checks that the caller may see the room: staff see every room that
 * exists, a customer only the rooms it is a member of. Anything else is
 * 404, so that existence is not leaked. Returns 0, or -1 after answering.
 */
int
api_room_visible(struct app *app, struct req *req, int64_t room)
{
	int m;

	m = auth_is_staff(req->role) ? rooms_exists(app, room) :
	    rooms_is_member(app, room, req->user_id);
	if (m == 1)
		return 0;
	if (m == -1)
		http_internal(req);
	else
		http_not_found(req);
	return -1;
}

/* POST /api/v1/rooms {"name","member_ids":[...]} (staff) */
void
api_rooms_create(struct app *app, struct req *req, const int64_t *ids)
{
	const char *name;
	size_t nlen, i, n;
	json_t *arr, *v, *room;
	int64_t members[ROOMS_MEMBERS_MAX], id;
	int ex, err;

	if (http_read_json(req, app->cfg.max_body_bytes, 0) == -1 ||
	    api_field_str(req, "name", 1, ROOMS_NAME_MAX, FIELD_REQUIRED,
	    &name, &nlen) == -1)
		return;
	arr = json_object_get(req->body, "member_ids");
	if (arr != NULL && !json_is_array(arr)) {
		http_invalid_field(req, "member_ids",
		    "member_ids must be an array of user ids");
		return;
	}
	n = arr ? json_array_size(arr) : 0;
	if (n > ROOMS_MEMBERS_MAX) {
		http_invalid_field(req, "member_ids",
		    "member_ids holds at most %d ids", ROOMS_MEMBERS_MAX);
		return;
	}
	json_array_foreach(arr, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 1) {
			http_invalid_field(req, "member_ids",
			    "member_ids must be an array of user ids");
			return;
		}
		members[i] = json_integer_value(v);
		if ((ex = users_exists(app, members[i])) != 1) {
			if (ex == -1)
				http_internal(req);
			else
				http_invalid_field(req, "member_ids",
				    "no user %lld", (long long)members[i]);
			return;
		}
	}
	if ((id = rooms_create(app, name, req->user_id, members, n)) == 0 ||
	    (room = rooms_get(app, id, &err)) == NULL) {
		http_internal(req);
		return;
	}
	api_created(req, room, "/api/v1/rooms/", id);
}

/* GET /api/v1/rooms: newest first; staff see every room. */
void
api_rooms_list(struct app *app, struct req *req, const int64_t *ids)
{
	json_t *arr;
	int64_t before;
	int limit, n;

	if (api_page_params(req, 50, &limit, &before) == -1)
		return;
	arr = json_array();
	n = rooms_list(app, auth_is_staff(req->role) ? 0 : req->user_id,
	    before ? before : INT64_MAX, limit, arr);
	if (n < 0) {
		json_decref(arr);
		http_internal(req);
		return;
	}
	api_page_answer(req, "rooms", arr, "next_before",
	    n == limit ? api_item_id(arr, (size_t)n - 1) : 0);
}

/* GET /api/v1/rooms/{id} (member or staff) */
void
api_rooms_get(struct app *app, struct req *req, const int64_t *ids)
{
	json_t *room;
	int err;

	if (api_room_visible(app, req, ids[0]) == -1)
		return;
	if ((room = rooms_get(app, ids[0], &err)) == NULL) {
		if (err)
			http_internal(req);
		else
			http_not_found(req);
		return;
	}
	http_json(req, 200, room);
}

/*
 * POST /api/v1/rooms/{id}/members {"user_id"} (staff), idempotent. The
 * route is open to every caller so that a customer is told what the rule
 * of visibility says: 404 for a room it may not see (as for one that does
 * not exist), 403 for one it is a member of.
 */
void
api_rooms_add_member(struct app *app, struct req *req, const int64_t *ids)
{
	int64_t uid;
	int ex;

	if (api_room_visible(app, req, ids[0]) == -1)
		return;
	if (!auth_is_staff(req->role)) {
		http_error(req, 403, "forbidden", NULL, "staff only");
		return;
	}
	if (http_read_json(req, app->cfg.max_body_bytes, 0) == -1 ||
	    api_field_id(req, "user_id", FIELD_REQUIRED, &uid) == -1)
		return;
	if ((ex = users_exists(app, uid)) != 1) {
		if (ex == -1)
			http_internal(req);
		else
			http_invalid_field(req, "user_id", "no user %lld",
			    (long long)uid);
		return;
	}
	if (rooms_add_member(app, ids[0], uid) == -1) {
		http_internal(req);
		return;
	}
	http_empty(req, 204);
}

/* POST /api/v1/rooms/{id}/messages {"body"} (member or staff) */
void
api_messages_post(struct app *app, struct req *req, const int64_t *ids)
{
	const char *body;
	size_t len;
	char coll[64];
	int64_t id;

	if (api_room_visible(app, req, ids[0]) == -1 ||
	    http_read_json(req, app->cfg.max_body_bytes, 0) == -1 ||
	    api_field_str(req, "body", 1, ROOMS_BODY_MAX, FIELD_REQUIRED,
	    &body, &len) == -1 ||
	    ratelimit_post(app, req) == -1)
		return;
	if (rooms_post(app, ids[0], req->user_id, body, len, &app->io.body,
	    &id) == -1) {
		http_internal(req);
		return;
	}
	snprintf(coll, sizeof(coll), "/api/v1/rooms/%lld/messages",
	    (long long)ids[0]);
	api_created_in_page(req, id, &app->io.body, coll);
}

/*
 * GET /api/v1/rooms/{id}/messages, before the access check: the room
 * list's head is read with the session, in one round trip (the answer is
 * used only if the handler runs and is allowed to read the room).
 */
void
api_messages_ahead(struct app *app, struct req *req, const int64_t *ids)
{
	(void)req;
	rooms_messages_ahead(app, ids[0]);
}

/* GET /api/v1/rooms/{id}/messages (member or staff), newest first; with
 * ?after=ID the messages newer than ID, oldest first. */
void
api_messages_list(struct app *app, struct req *req, const int64_t *ids)
{
	enum cache_result res;
	int64_t before, after;
	int limit, rc;

	if (api_room_visible(app, req, ids[0]) == -1 ||
	    api_page_params_after(req, 50, &limit, &before, &after) == -1)
		return;
	if (after != 0)
		rc = rooms_messages_after(app, ids[0], after, limit,
		    &app->io.body, &res);
	else
		rc = rooms_messages(app, ids[0], before, limit, &app->io.body,
		    &res);
	if (rc == -1) {
		http_internal(req);
		return;
	}
	req->cache = cache_result_name(res);
	http_raw(req, 200, app->io.body.buf, app->io.body.len);
}

/* api_tickets: the ticket and interaction routes of API.md section 3. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "auth.h"
#include "http.h"
#include "ratelimit.h"
#include "tickets.h"
#include "users.h"

/*
 * Loads the ticket and checks that the caller may see it: staff, or its
 * requester. Anyone else gets 404. Returns 0, or -1 after answering.
 */
int
api_ticket_visible(struct app *app, struct req *req, int64_t id,
    struct ticket *t)
{
	int rc = tickets_load(app, id, t);

	if (rc == -1) {
		http_internal(req);
		return -1;
	}
	if (rc == 1 || (!auth_is_staff(req->role) &&
	    t->requester_id != req->user_id)) {
		http_not_found(req);
		return -1;
	}
	return 0;
}

/* POST /api/v1/tickets {"subject","body","priority"} */
void
api_tickets_create(struct app *app, struct req *req, const int64_t *ids)
{
	const char *subject, *body;
	size_t slen, blen;
	struct ticket t;
	int64_t id;
	int pi = 1;	/* normal */

	if (http_read_json(req, app->cfg.max_body_bytes, 0) == -1 ||
	    api_field_str(req, "subject", 1, TICKETS_SUBJECT_MAX,
	    FIELD_REQUIRED, &subject, &slen) == -1 ||
	    api_field_str(req, "body", 1, TICKETS_BODY_MAX, FIELD_REQUIRED,
	    &body, &blen) == -1 ||
	    api_field_enum(req, "priority", tickets_priorities, FIELD_NULLABLE,
	    &pi) == -1 ||
	    ratelimit_post(app, req) == -1)
		return;
	if ((id = tickets_create(app, req->user_id, subject, body, blen,
	    tickets_priorities[pi])) == 0 || tickets_load(app, id, &t) != 0) {
		http_internal(req);
		return;
	}
	api_created(req, tickets_json(&t), "/api/v1/tickets/", id);
}

/* GET /api/v1/tickets: newest first; customers see their own. */
void
api_tickets_list(struct app *app, struct req *req, const int64_t *ids)
{
	int64_t before, assignee;
	json_t *arr;
	int limit, n, si, has_s;

	if (api_page_params(req, 20, &limit, &before) == -1 ||
	    (has_s = api_query_enum(req, "status", tickets_statuses,
	    &si)) == -1 ||
	    api_query_id(req, "assignee_id", &assignee) == -1)
		return;
	arr = json_array();
	n = tickets_page(app, before, auth_is_staff(req->role) ? 0 : req->user_id,
	    has_s ? tickets_statuses[si] : NULL, assignee, limit, arr);
	if (n < 0) {
		json_decref(arr);
		http_internal(req);
		return;
	}
	api_page_answer(req, "tickets", arr, "next_before",
	    n == limit ? api_item_id(arr, (size_t)n - 1) : 0);
}

/* GET /api/v1/tickets/{id}, before the access check: the ticket's
 * cached record is read with the session, in one round trip. */
void
api_tickets_get_ahead(struct app *app, struct req *req, const int64_t *ids)
{
	(void)req;
	tickets_get_ahead(app, ids[0]);
}

/* GET /api/v1/tickets/{id}: cache-aside ticket:{id}. */
void
api_tickets_get(struct app *app, struct req *req, const int64_t *ids)
{
	struct strbuf text;
	enum cache_result res;
	int64_t requester = 0;
	int rc, staff;

	strbuf_init(&text);
	/* A customer sees only what it requested: 404 otherwise. */
	staff = auth_is_staff(req->role);
	rc = tickets_get_cached(app, ids[0], &text, &res,
	    staff ? NULL : &requester);
	req->cache = cache_result_name(res);
	if (rc == 0 && (staff || requester == req->user_id)) {
		strbuf_add(&text, "\n", 1);
		http_raw(req, 200, text.buf, text.len);
	} else if (rc == -1)
		http_internal(req);
	else
		http_not_found(req);
	strbuf_free(&text);
}

/* 1 if the user exists and is staff, 0 if not, -1 on error. */
static int
staff_user(struct app *app, int64_t id)
{
	struct strbuf text;
	enum cache_result res;
	enum role role = ROLE_NONE;
	int rc;

	strbuf_init(&text);
	rc = users_get(app, id, &text, &res, &role);
	strbuf_free(&text);
	return rc == -1 ? -1 : rc == 0 && auth_is_staff(role);
}

/*
 * PATCH /api/v1/tickets/{id}: staff change status, priority, assignee_id
 * and subject; the requester may only close. A requester's PATCH that
 * sets anything else is 403 as a whole.
 */
void
api_tickets_patch(struct app *app, struct req *req, const int64_t *ids)
{
	struct ticket old, t;
	struct ticket_change c;
	const char *subject;
	size_t slen;
	int64_t assignee;
	int si, pi, has_s, has_p, has_a, has_subj, staff, rc;

	if (api_ticket_visible(app, req, ids[0], &old) == -1 ||
	    http_read_json(req, app->cfg.max_body_bytes, 0) == -1 ||
	    (has_s = api_field_enum(req, "status", tickets_statuses, 0,
	    &si)) == -1 ||
	    (has_p = api_field_enum(req, "priority", tickets_priorities, 0,
	    &pi)) == -1 ||
	    (has_a = api_field_id(req, "assignee_id", FIELD_NULLABLE,
	    &assignee)) == -1 ||
	    (has_subj = api_field_str(req, "subject", 1, TICKETS_SUBJECT_MAX, 0,
	    &subject, &slen)) == -1)
		return;
	staff = auth_is_staff(req->role);
	if (!staff && (has_p || has_a || has_subj ||
	    (has_s && strcmp(tickets_statuses[si], "closed") != 0))) {
		http_error(req, 403, "forbidden", NULL,
		    "the requester may only close the ticket");
		return;
	}
	/* An assignee must be a staff user. */
	if (has_a && assignee != 0 &&
	    (rc = staff_user(app, assignee)) != 1) {
		if (rc == -1)
			http_internal(req);
		else
			http_invalid_field(req, "assignee_id",
			    "assignee_id must be a staff user or null");
		return;
	}
	if (!has_s && !has_p && !has_a && !has_subj) {
		http_json(req, 200, tickets_json(&old));
		return;
	}
	memset(&c, 0, sizeof(c));
	c.status = has_s ? tickets_statuses[si] : NULL;
	c.priority = has_p ? tickets_priorities[pi] : NULL;
	c.has_assignee = has_a;
	c.assignee_id = has_a ? assignee : 0;
	c.subject = has_subj ? subject : NULL;
	c.subject_len = has_subj ? slen : 0;
	if ((rc = tickets_update(app, ids[0], &c, req->user_id, &t)) != 0) {
		if (rc == 1)
			http_not_found(req);
		else
			http_internal(req);
		return;
	}
	http_json(req, 200, tickets_json(&t));
}

/* POST /api/v1/tickets/{id}/interactions {"body"} (requester or staff) */
void
api_interactions_post(struct app *app, struct req *req, const int64_t *ids)
{
	struct ticket t;
	const char *body;
	size_t len;
	char coll[64];
	int64_t iid;
	int rc;

	if (api_ticket_visible(app, req, ids[0], &t) == -1 ||
	    http_read_json(req, app->cfg.max_body_bytes, 0) == -1 ||
	    api_field_str(req, "body", 1, TICKETS_BODY_MAX, FIELD_REQUIRED,
	    &body, &len) == -1 ||
	    ratelimit_post(app, req) == -1)
		return;
	if ((rc = tickets_comment(app, ids[0], req->user_id, body, len,
	    &app->io.body, &iid)) != 0) {
		if (rc == 1)
			http_not_found(req);
		else
			http_internal(req);
		return;
	}
	snprintf(coll, sizeof(coll), "/api/v1/tickets/%lld/interactions",
	    (long long)ids[0]);
	api_created_in_page(req, iid, &app->io.body, coll);
}

/* GET /api/v1/tickets/{id}/interactions: pages walk back from the newest;
 * each page is oldest first. Archived interactions included. */
void
api_interactions_list(struct app *app, struct req *req, const int64_t *ids)
{
	struct ticket t;
	int64_t before, after;
	json_t *arr;
	int limit, n;

	if (api_ticket_visible(app, req, ids[0], &t) == -1 ||
	    api_page_params_after(req, 50, &limit, &before, &after) == -1)
		return;
	arr = json_array();
	if ((n = tickets_interactions(app, ids[0], before, after, limit,
	    arr)) < 0) {
		json_decref(arr);
		http_internal(req);
		return;
	}
	/* Forward, the newest item pages on; back, the oldest (the first). */
	if (after != 0)
		api_page_answer(req, "interactions", arr, "next_after",
		    n == limit ? api_item_id(arr, (size_t)n - 1) : 0);
	else
		api_page_answer(req, "interactions", arr, "next_before",
		    n == limit ? api_item_id(arr, 0) : 0);
}

/* api_users: the user and token routes of API.md section 3. */
#include "autoconf.h"

#include <string.h>

#include <sodium.h>

#include "api.h"
#include "app.h"
#include "auth.h"
#include "http.h"
#include "log.h"
#include "users.h"

static const char *const role_choices[] = {
	"customer", "agent", "admin", NULL
};

/* role_choices index -> enum role */
static enum role
role_of(int idx)
{
	return (enum role)(ROLE_CUSTOMER + idx);
}

/* Answers the user JSON in out: as cached for self and staff, reduced to
 * id, name and role for anyone else. */
static void
answer_user(struct req *req, int64_t id, struct strbuf *text)
{
	json_t *full, *pub;

	if (req->user_id == id || auth_is_staff(req->role)) {
		http_raw(req, 200, text->buf, text->len);
		return;
	}
	if ((full = json_loadb(text->buf, text->len, 0, NULL)) == NULL) {
		http_internal(req);
		return;
	}
	pub = json_pack("{s:O, s:O, s:O}", "id", json_object_get(full, "id"),
	    "name", json_object_get(full, "name"),
	    "role", json_object_get(full, "role"));
	json_decref(full);
	http_json(req, 200, pub);
}

/* Reads user id through the cache and answers it, or 404. The text is
 * copied out of the cache reply once and sent as it is. */
static void
get_user(struct app *app, struct req *req, int64_t id)
{
	struct strbuf text;
	enum cache_result res;
	int rc;

	strbuf_init(&text);
	rc = users_get(app, id, &text, &res);
	req->cache = cache_result_name(res);
	if (rc == 0) {
		strbuf_add(&text, "\n", 1);
		answer_user(req, id, &text);
	} else if (rc == 1)
		http_not_found(req);
	else
		http_internal(req);
	strbuf_free(&text);
}

/* GET /api/v1/users/me */
void
api_users_me(struct app *app, struct req *req, const int64_t *ids)
{
	get_user(app, req, req->user_id);
}

/* GET /api/v1/users/{id} */
void
api_users_get(struct app *app, struct req *req, const int64_t *ids)
{
	get_user(app, req, ids[0]);
}

/* Answers the user's current record, read from SQLite (after a write). */
static void
answer_fresh(struct app *app, struct req *req, int64_t id, int status,
    const char *token)
{
	struct strbuf text;
	enum cache_result res;
	json_t *user;

	strbuf_init(&text);
	if (users_get(app, id, &text, &res) != 0 ||
	    (user = json_loadb(text.buf, text.len, 0, NULL)) == NULL) {
		strbuf_free(&text);
		http_internal(req);
		return;
	}
	strbuf_free(&text);
	if (token != NULL) {
		http_no_store(req);
		api_created(req, json_pack("{s:o, s:s}", "user", user,
		    "token", token), "/api/v1/users/", id);
	} else
		http_json(req, status, user);
}

/* Answers the outcome of a create or update of user id. */
static void
answer_write(struct app *app, struct req *req, enum users_rc rc, int64_t id,
    int status, const char *token)
{
	switch (rc) {
	case USERS_OK:
		answer_fresh(app, req, id, status, token);
		break;
	case USERS_NOT_FOUND:
		http_not_found(req);
		break;
	case USERS_DUPLICATE:
		http_error(req, 409, "conflict", "email",
		    "a user with this email exists");
		break;
	default:
		http_internal(req);
	}
}

/* POST /api/v1/users {"name","email","role"} (admin) */
void
api_users_create(struct app *app, struct req *req, const int64_t *ids)
{
	const char *name, *email, *why;
	size_t nlen, elen;
	char tok[AUTH_TOKEN_LEN + 1];
	int64_t id = 0;
	enum users_rc rc;
	int ri;

	if (http_read_json(req, app->cfg.max_body_bytes, 0) == -1 ||
	    api_field_str(req, "name", 1, USERS_NAME_MAX, FIELD_REQUIRED,
	    &name, &nlen) == -1 ||
	    api_field_str(req, "email", USERS_EMAIL_MIN, USERS_EMAIL_MAX,
	    FIELD_REQUIRED, &email, &elen) == -1 ||
	    api_field_enum(req, "role", role_choices, FIELD_REQUIRED, &ri) == -1)
		return;
	if ((why = users_check_name(name, nlen)) != NULL) {
		http_invalid_field(req, "name", "%s", why);
		return;
	}
	if ((why = users_check_email(email, elen)) != NULL) {
		http_invalid_field(req, "email", "%s", why);
		return;
	}
	/* Created first: id is set by users_create. */
	rc = users_create(app, name, email, role_of(ri), &id, tok);
	answer_write(app, req, rc, id, 201, tok);
	sodium_memzero(tok, sizeof(tok));
}

/*
 * PATCH /api/v1/users/{id}: self may change the name; an admin the name,
 * email and role. Users are visible to all, so no right is 403.
 */
void
api_users_patch(struct app *app, struct req *req, const int64_t *ids)
{
	const char *name = NULL, *email = NULL, *why;
	size_t nlen, elen;
	int64_t id = ids[0];
	enum users_rc rc;
	enum role role = ROLE_NONE;
	int has_name, has_email, has_role, ri, ex;

	if (req->user_id != id && req->role != ROLE_ADMIN) {
		/* 404 for a user that does not exist, 403 for one that does. */
		if ((ex = users_exists(app, id)) == -1)
			http_internal(req);
		else if (ex == 0)
			http_not_found(req);
		else
			http_error(req, 403, "forbidden", NULL,
			    "only the user or an admin may change a user");
		return;
	}
	if (http_read_json(req, app->cfg.max_body_bytes, 0) == -1 ||
	    (has_name = api_field_str(req, "name", 1, USERS_NAME_MAX, 0,
	    &name, &nlen)) == -1 ||
	    (has_email = api_field_str(req, "email", USERS_EMAIL_MIN,
	    USERS_EMAIL_MAX, 0, &email, &elen)) == -1 ||
	    (has_role = api_field_enum(req, "role", role_choices, 0, &ri)) == -1)
		return;
	if ((has_email || has_role) && req->role != ROLE_ADMIN) {
		http_error(req, 403, "forbidden", has_email ? "email" : "role",
		    "only an admin may change email or role");
		return;
	}
	if (has_name && (why = users_check_name(name, nlen)) != NULL) {
		http_invalid_field(req, "name", "%s", why);
		return;
	}
	if (has_email && (why = users_check_email(email, elen)) != NULL) {
		http_invalid_field(req, "email", "%s", why);
		return;
	}
	if (has_role)
		role = role_of(ri);
	if (!has_name && !has_email && !has_role) {
		/* Nothing to change: the user as it is. */
		get_user(app, req, id);
		return;
	}
	rc = users_update(app, id, has_name ? name : NULL,
	    has_email ? email : NULL, role);
	answer_write(app, req, rc, id, 200, NULL);
}

/* POST /api/v1/users/{id}/tokens (self or admin) */
void
api_users_token(struct app *app, struct req *req, const int64_t *ids)
{
	char tok[AUTH_TOKEN_LEN + 1];
	int ex;

	if ((ex = users_exists(app, ids[0])) == -1) {
		http_internal(req);
		return;
	}
	if (ex == 0) {
		http_not_found(req);
		return;
	}
	if (req->user_id != ids[0] && req->role != ROLE_ADMIN) {
		http_error(req, 403, "forbidden",
		    NULL, "only the user or an admin may issue its tokens");
		return;
	}
	/* A POST that takes no body accepts an empty body or {}. */
	if (http_read_json(req, app->cfg.max_body_bytes, 1) == -1)
		return;
	if (auth_token_issue(app->auth, ids[0], tok) == -1) {
		http_internal(req);
		return;
	}
	http_no_store(req);
	http_json(req, 201, json_pack("{s:s}", "token", tok));
	sodium_memzero(tok, sizeof(tok));
}

/* DELETE /api/v1/tokens/current */
void
api_tokens_revoke(struct app *app, struct req *req, const int64_t *ids)
{
	if (auth_revoke_current(app->auth, req) == -1) {
		http_internal(req);
		return;
	}
	http_empty(req, 204);
}

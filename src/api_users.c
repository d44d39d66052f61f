/* api_users: the user and token routes of API.md section 3. */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "app.h"
#include "auth.h"
#include "events.h"
#include "http.h"
#include "log.h"
#include "passwd.h"
#include "ratelimit.h"
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

/*
 * Acting on user id's account (its tokens) is for the user itself and
 * for admins. Users are visible to all, so a user that exists answers
 * 403 to anyone else and one that does not 404. Returns 0, or -1 after
 * answering.
 */
static int
self_or_admin(struct app *app, struct req *req, int64_t id, const char *why)
{
	int ex;

	if ((ex = users_exists(app, id)) == -1) {
		http_internal(req);
		return -1;
	}
	if (ex == 0) {
		http_not_found(req);
		return -1;
	}
	if (req->user_id != id && req->role != ROLE_ADMIN) {
		http_error(req, 403, "forbidden", NULL, "%s", why);
		return -1;
	}
	return 0;
}

/* Answers the user JSON in out: as cached for self and staff, reduced to
 * id, name and role for anyone else. */
static void
answer_user(struct req *req, int64_t id, struct strbuf *text)
{
	json_t *pub;

	if (req->user_id == id || auth_is_staff(req->role)) {
		http_raw(req, 200, text->buf, text->len);
		return;
	}
	if ((pub = users_public(text)) == NULL) {
		http_internal(req);
		return;
	}
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
	rc = users_get(app, id, &text, &res, NULL);
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
	json_t *user;

	if (users_get_object(app, id, &user) != 0) {
		http_internal(req);
		return;
	}
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

/* Reads an optional "password" field (its value never echoed): 1 with the
 * hash made in hash, 0 absent, -1 after answering. */
static int
password_field(struct req *req, const char *name, char hash[PASSWD_HASH_LEN])
{
	const char *pw, *why;
	size_t len;
	int has;

	if ((has = api_field_str(req, name, 0, PASSWD_MAX + 1, 0, &pw,
	    &len)) != 1)
		return has;
	if ((why = passwd_check(len)) != NULL) {
		http_invalid_field(req, name, "%s", why);
		return -1;
	}
	if (hash != NULL && passwd_hash(pw, len, hash) == -1) {
		http_internal(req);
		return -1;
	}
	return 1;
}

/* POST /api/v1/users {"name","email","role"[,"password"]} (admin) */
void
api_users_create(struct app *app, struct req *req, const int64_t *ids)
{
	const char *name, *email, *why;
	size_t nlen, elen;
	char tok[AUTH_TOKEN_LEN + 1], hash[PASSWD_HASH_LEN];
	int has_pw;
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
	/* Hashed before the write transaction, which it would hold long. */
	if ((has_pw = password_field(req, "password", hash)) == -1)
		return;
	/* Created first: id is set by users_create. */
	rc = users_create(app, name, email, role_of(ri),
	    has_pw ? hash : NULL, &id, tok);
	answer_write(app, req, rc, id, 201, tok);
	sodium_memzero(tok, sizeof(tok));
	sodium_memzero(hash, sizeof(hash));
}

/*
 * The "password" of a PATCH, checked before anything is written: an admin
 * sets anyone's; the user its own with a good "current_password" (an
 * admin too, for its own: a stolen token alone cannot lock the owner
 * out). Returns 1 with the new password in pw, len; 0 absent; -1 after
 * answering.
 */
static int
patch_password(struct app *app, struct req *req, int64_t id, const char **pw,
    size_t *len)
{
	const char *cur;
	size_t clen;
	char acct[32];
	int has, ok;

	if ((has = password_field(req, "password", NULL)) != 1)
		return has;
	(void)api_field_str(req, "password", 0, PASSWD_MAX, 0, pw, len);
	if (req->user_id != id)
		return 1;
	if (api_field_str(req, "current_password", 1, PASSWD_MAX,
	    FIELD_REQUIRED, &cur, &clen) == -1)
		return -1;
	/* Guesses count like sign-ins, per account (a name no email can
	 * have) and per address. */
	snprintf(acct, sizeof(acct), "#%lld", (long long)id);
	if (ratelimit_signin(app, req, acct, strlen(acct)) == -1)
		return -1;
	if ((ok = users_check_password(app, id, cur, clen)) == -1) {
		http_internal(req);
		return -1;
	}
	if (!ok) {
		http_error(req, 403, "forbidden", "current_password",
		    "current_password is wrong");
		return -1;
	}
	return 1;
}

/*
 * PATCH /api/v1/users/{id}: self may change the name and its password; an
 * admin the name, email, role and password. Users are visible to all, so
 * no right is 403.
 */
void
api_users_patch(struct app *app, struct req *req, const int64_t *ids)
{
	const char *name = NULL, *email = NULL, *pw = NULL, *why;
	size_t nlen, elen, plen = 0;
	int64_t id = ids[0];
	enum users_rc rc;
	enum role role = ROLE_NONE;
	int has_name, has_email, has_role, has_pw, ri, disabled = -1;
	json_t *dj;

	if (req->user_id != id && req->role != ROLE_ADMIN) {
		/* 404 for a user that does not exist, 403 for one that does. */
		(void)self_or_admin(app, req, id,
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
	if ((dj = json_object_get(req->body, "disabled")) != NULL) {
		if (!json_is_boolean(dj)) {
			http_invalid_field(req, "disabled",
			    "disabled must be true or false");
			return;
		}
		disabled = json_is_true(dj);
	}
	if ((has_email || has_role || disabled != -1) &&
	    req->role != ROLE_ADMIN) {
		http_error(req, 403, "forbidden", has_email ? "email" :
		    has_role ? "role" : "disabled",
		    "only an admin may change email, role or disabled");
		return;
	}
	/* No admin locks itself out (of the last admin account, perhaps). */
	if (disabled == 1 && req->user_id == id) {
		http_error(req, 403, "forbidden", "disabled",
		    "an admin may not disable itself");
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
	if ((has_pw = patch_password(app, req, id, &pw, &plen)) == -1)
		return;
	rc = USERS_OK;
	if (has_name || has_email || has_role || disabled != -1)
		rc = users_update(app, id, has_name ? name : NULL,
		    has_email ? email : NULL, role, disabled);
	/* The password last: a 409 on the email changes nothing. */
	if (rc == USERS_OK && has_pw)
		rc = users_set_password(app, id, pw, plen);
	if (rc == USERS_OK && !has_name && !has_email && !has_role &&
	    disabled == -1) {
		/* Nothing else changed: the user as it is. */
		get_user(app, req, id);
		return;
	}
	answer_write(app, req, rc, id, 200, NULL);
}

/*
 * POST /api/v1/users/{id}/tokens (self or admin). A token its own holder
 * mints ends no later than the token that minted it, so a stolen token
 * cannot be turned into a longer-lived one; none is minted for a
 * disabled user.
 */
void
api_users_token(struct app *app, struct req *req, const int64_t *ids)
{
	char tok[AUTH_TOKEN_LEN + 1];
	int64_t not_after;
	int rc;

	if (self_or_admin(app, req, ids[0],
	    "only the user or an admin may issue its tokens") == -1)
		return;
	/* A POST that takes no body accepts an empty body or {}. */
	if (http_read_json(req, app->cfg.max_body_bytes, 1) == -1)
		return;
	not_after = req->user_id == ids[0] ? req->token_expires_at : 0;
	if ((rc = auth_token_issue(app->auth, ids[0], not_after, tok)) == -1) {
		http_internal(req);
		return;
	}
	if (rc == 1) {
		http_error(req, 409, "conflict", NULL, "the user is disabled");
		return;
	}
	http_no_store(req);
	http_json(req, 201, json_pack("{s:s}", "token", tok));
	sodium_memzero(tok, sizeof(tok));
}

/* GET /api/v1/users/{id}/tokens (self or admin): never a token itself. */
void
api_users_tokens_list(struct app *app, struct req *req, const int64_t *ids)
{
	json_t *j;

	if (self_or_admin(app, req, ids[0],
	    "only the user or an admin may list its tokens") == -1)
		return;
	if ((j = auth_tokens_json(app->auth, ids[0])) == NULL) {
		http_internal(req);
		return;
	}
	http_json(req, 200, j);
}

/* DELETE /api/v1/users/{id}/tokens (self or admin): every token. */
void
api_users_tokens_revoke(struct app *app, struct req *req, const int64_t *ids)
{
	if (self_or_admin(app, req, ids[0],
	    "only the user or an admin may revoke its tokens") == -1)
		return;
	if (auth_revoke_all(app->auth, ids[0]) == -1) {
		auth_forget_revoked(app->auth);
		http_internal(req);
		return;
	}
	auth_forget_revoked(app->auth);
	/* Its live subscriptions end too (events_recheck_s is the backstop). */
	events_kick_user(app->events, ids[0]);
	http_empty(req, 204);
}

/* DELETE /api/v1/users/{id}/tokens/{token_id} (self or admin) */
void
api_users_token_revoke(struct app *app, struct req *req, const int64_t *ids)
{
	int rc;

	if (self_or_admin(app, req, ids[0],
	    "only the user or an admin may revoke its tokens") == -1)
		return;
	if ((rc = auth_revoke_one(app->auth, ids[0], ids[1])) == -1)
		http_internal(req);
	else if (rc == 1)
		http_not_found(req);
	else {
		/* The user's subscriptions end; those held with another of its
		 * tokens come back at the client's next (re)authorization. */
		events_kick_user(app->events, ids[0]);
		http_empty(req, 204);
	}
}

/* GET /api/v1/users (staff): ?role=, ?limit=, ?before=, newest first. */
void
api_users_list(struct app *app, struct req *req, const int64_t *ids)
{
	int64_t before, next = 0;
	json_t *list;
	int limit, ri, has_role;

	if (api_page_params(req, 20, &limit, &before) == -1 ||
	    (has_role = api_query_enum(req, "role", role_choices, &ri)) == -1)
		return;
	if ((list = users_list(app, has_role ? role_choices[ri] : NULL, before,
	    limit, &next)) == NULL) {
		http_internal(req);
		return;
	}
	api_page_answer(req, "users", list, "next_before", next);
}

/* DELETE /api/v1/tokens/current */
void
api_tokens_revoke(struct app *app, struct req *req, const int64_t *ids)
{
	if (auth_revoke_current(app->auth, req) == -1) {
		http_internal(req);
		return;
	}
	/* The token's subscriptions end now; the user's other sessions
	 * reconnect and are authorized again. */
	events_kick_user(app->events, req->user_id);
	http_empty(req, 204);
}

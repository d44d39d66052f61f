/* api_sessions: sign-in with email and password (issue 15, API.md
 * section 9). Sign-out is DELETE /api/v1/tokens/current (api_users.c). */
#include "autoconf.h"

#include <string.h>

#include <sodium.h>

#include "api.h"
#include "app.h"
#include "auth.h"
#include "http.h"
#include "passwd.h"
#include "ratelimit.h"
#include "users.h"

/* POST /api/v1/sessions {"email","password"} -> 201 {"token","user"} */
void
api_sessions_create(struct app *app, struct req *req, const int64_t *ids)
{
	const char *email, *pw, *why;
	size_t elen, plen;
	char tok[AUTH_TOKEN_LEN + 1];
	json_t *user;
	int64_t id = 0;
	int rc;

	/* Lengths only: a password of the wrong length is refused before
	 * any hashing, and its value is never part of an answer or a log. */
	if (http_read_json(req, app->cfg.max_body_bytes, 0) == -1 ||
	    api_field_str(req, "email", 1, USERS_EMAIL_MAX, FIELD_REQUIRED,
	    &email, &elen) == -1 ||
	    api_field_str(req, "password", 1, PASSWD_MAX, FIELD_REQUIRED,
	    &pw, &plen) == -1)
		return;
	/* The shape of an email only (it tells nothing about who exists). */
	if ((why = users_check_email(email, elen)) != NULL) {
		http_invalid_field(req, "email", "%s", why);
		return;
	}
	if (ratelimit_signin(app, req, email, elen) == -1)
		return;
	if ((rc = users_signin(app, email, elen, pw, plen, &id)) == -1) {
		http_internal(req);
		return;
	}
	if (rc == 0) {
		/* One answer for an unknown email and a wrong password. */
		http_error(req, 401, "unauthorized", NULL,
		    "wrong email or password");
		return;
	}
	req->user_id = id;
	/* Disabled between the check and now: the same 401. */
	if ((rc = auth_token_issue(app->auth, id, 0, tok)) == 1) {
		http_error(req, 401, "unauthorized", NULL,
		    "wrong email or password");
		return;
	}
	if (rc == -1 || users_get_object(app, id, &user) != 0) {
		http_internal(req);
		return;
	}
	http_no_store(req);
	http_header(req, "Location", "/api/v1/tokens/current");
	http_json(req, 201, json_pack("{s:s, s:o}", "token", tok, "user", user));
	sodium_memzero(tok, sizeof(tok));
}

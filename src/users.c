/* users: see users.h. */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "db.h"
#include "events.h"
#include "log.h"
#include "passwd.h"
#include "users.h"
#include "util.h"

const char *
users_check_name(const char *s, size_t len)
{
	if (len < 1 || len > USERS_NAME_MAX || util_blank(s, len))
		return "name must be 1..100 bytes, not only white space";
	/* A name is one line of text: it goes into mails and logs. */
	if (util_has_control(s, len))
		return "name must hold no control characters";
	return NULL;
}

const char *
users_check_email(const char *s, size_t len)
{
	const char *at;

	if (len < USERS_EMAIL_MIN || len > USERS_EMAIL_MAX ||
	    (at = memchr(s, '@', len)) == NULL ||
	    memchr(at + 1, '@', len - (size_t)(at - s) - 1) != NULL ||
	    util_blank(s, len))
		return "email must be 3..254 bytes with one @";
	/* CR and LF would let an address add mail headers. */
	if (util_has_control(s, len))
		return "email must hold no control characters";
	return NULL;
}

static void
user_key(struct app *app, int64_t id, struct rkey *k)
{
	keys_user(cache_keys(app->cache), k, id);
}

/* The user object of API.md. */
static json_t *
user_json(const struct db_user *u)
{
	char created[UTIL_TIME_LEN], updated[UTIL_TIME_LEN];

	util_format_time(u->created_at, created);
	util_format_time(u->updated_at, updated);
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:b}",
	    "id", (json_int_t)u->id,
	    "name", u->name,
	    "email", u->email,
	    "role", u->role,
	    "created_at", created,
	    "updated_at", updated,
	    "disabled", u->disabled);
}

struct list_arg {
	json_t		*list;
	int64_t		 last;
	int		 n;
};

/* A db_user_fn: appends the user to a list_arg's list. */
static int
list_add(void *arg, const struct db_user *row)
{
	struct list_arg *a = arg;
	json_t *u;

	a->last = row->id;
	if ((u = user_json(row)) == NULL)
		return -1;
	json_array_append_new(a->list, u);
	a->n++;
	return 0;
}

json_t *
users_list(struct app *app, const char *role, int64_t before, int limit,
    int64_t *next_before)
{
	struct list_arg a = { json_array(), 0, 0 };

	if (db_users_page(app->db, before > 0 ? before : INT64_MAX, role,
	    limit, list_add, &a) == -1) {
		json_decref(a.list);
		return NULL;
	}
	*next_before = a.n == limit ? a.last : 0;
	return a.list;
}

static int
dump_cb(const char *buf, size_t size, void *data)
{
	strbuf_add(data, buf, size);
	return 0;
}

struct user_arg {
	struct db	*db;
	int64_t		 id;
};

/* A db_user_fn: the user's JSON text into the strbuf arg. */
static int
user_dump(void *arg, const struct db_user *u)
{
	json_t *j;
	int rc;

	j = user_json(u);
	rc = j != NULL &&
	    json_dump_callback(j, dump_cb, arg, JSON_COMPACT) == 0 ? 0 : -1;
	json_decref(j);
	return rc;
}

static int
user_fill(void *arg, struct strbuf *out)
{
	const struct user_arg *a = arg;

	return db_user_get(a->db, a->id, user_dump, out);
}

int
users_get(struct app *app, int64_t id, struct strbuf *out,
    enum cache_result *res, enum role *role)
{
	struct user_arg a = { app->db, id };
	struct rkey k;
	json_t *j;
	const char *r;
	int rc;

	user_key(app, id, &k);
	rc = cache_get(app->cache, &k, app->cfg.record_ttl, user_fill, &a, out,
	    res);
	if (rc == 0 && role != NULL) {
		/* A hit holds only the text (authenticated, and made by
		 * user_fill): the role is read back from it, here only. */
		j = json_loadb(out->buf, out->len, 0, NULL);
		r = json_string_value(json_object_get(j, "role"));
		*role = r != NULL ? auth_role_parse(r) : ROLE_NONE;
		json_decref(j);
	}
	return rc;
}

int
users_get_object(struct app *app, int64_t id, json_t **user)
{
	struct strbuf text;
	enum cache_result res;
	int rc;

	strbuf_init(&text);
	if ((rc = users_get(app, id, &text, &res, NULL)) == 0 &&
	    (*user = json_loadb(text.buf, text.len, 0, NULL)) == NULL)
		rc = -1;
	strbuf_free(&text);
	return rc;
}

json_t *
users_public(const struct strbuf *text)
{
	json_t *full, *pub;

	if ((full = json_loadb(text->buf, text->len, 0, NULL)) == NULL)
		return NULL;
	pub = json_pack("{s:O, s:O, s:O}", "id", json_object_get(full, "id"),
	    "name", json_object_get(full, "name"),
	    "role", json_object_get(full, "role"));
	json_decref(full);
	return pub;
}

int
users_exists(struct app *app, int64_t id)
{
	return db_user_exists(app->db, id);
}

/* Stores a password hash made already (never inside a write transaction:
 * hashing takes tens of milliseconds). */
static int
store_hash(struct app *app, int64_t id, const char *pwhash)
{
	return db_user_password_set(app->db, id, pwhash, util_now_ms());
}

enum users_rc
users_create(struct app *app, const char *name, const char *email,
    enum role role, const char *pwhash, int64_t *id,
    char tok[AUTH_TOKEN_LEN + 1])
{
	int rc;

	if (db_begin(app->db) == -1)
		return USERS_ERROR;
	if ((rc = db_user_insert(app->db, name, email, auth_role_name(role),
	    util_now_ms(), id)) != 0) {
		db_rollback(app->db);
		return rc == DB_DUPLICATE ? USERS_DUPLICATE : USERS_ERROR;
	}
	if (pwhash != NULL && store_hash(app, *id, pwhash) == -1)
		goto fail;
	if (auth_token_issue(app->auth, *id, 0, tok) != 0)
		goto fail;
	if (db_commit(app->db) == -1)
		return USERS_ERROR;
	return USERS_OK;
fail:
	db_rollback(app->db);
	return USERS_ERROR;
}

enum users_rc
users_update(struct app *app, int64_t id, const char *name, const char *email,
    enum role role, int disabled)
{
	struct rkey k;
	int rc;

	/* Disabling revokes every token in the same transaction: enabling
	 * the user again later brings none of them back. */
	if (disabled == 1 && db_begin(app->db) == -1)
		return USERS_ERROR;
	/* Alone, one statement is its own transaction, committed when it
	 * returns. */
	if ((rc = db_user_update(app->db, id, name, email, role != ROLE_NONE ?
	    auth_role_name(role) : NULL, disabled, util_now_ms())) != 0) {
		db_rollback(app->db);
		return rc == DB_DUPLICATE ? USERS_DUPLICATE : USERS_ERROR;
	}
	if (db_changes(app->db) == 0) {
		db_rollback(app->db);
		return USERS_NOT_FOUND;
	}
	if (disabled == 1 && (auth_revoke_all(app->auth, id) == -1 ||
	    db_commit(app->db) == -1)) {
		auth_forget_revoked(app->auth);	/* nothing committed: harmless */
		goto fail;
	}
	user_key(app, id, &k);
	cache_invalidate(app->cache, &k, 1);
	if (disabled == 1)
		auth_forget_revoked(app->auth);
	if (role != ROLE_NONE)
		auth_forget_sessions(app->auth, id);
	/* What it may see changed (a new role) or nothing at all (disabled):
	 * its live subscriptions end, and a new one is checked anew. */
	if (role != ROLE_NONE || disabled == 1)
		events_kick_user(app->events, id);
	return USERS_OK;
fail:
	db_rollback(app->db);
	return USERS_ERROR;
}

enum users_rc
users_set_password(struct app *app, int64_t id, const char *pw, size_t len)
{
	char hash[PASSWD_HASH_LEN];
	struct rkey k;
	int rc;

	if (passwd_hash(pw, len, hash) == -1)
		return USERS_ERROR;
	rc = store_hash(app, id, hash);
	sodium_memzero(hash, sizeof(hash));
	if (rc == -1)
		return USERS_ERROR;
	if (db_changes(app->db) == 0)
		return USERS_NOT_FOUND;
	/* updated_at moved. */
	user_key(app, id, &k);
	cache_invalidate(app->cache, &k, 1);
	return USERS_OK;
}

/* After a good password: a hash made with older limits is made again. */
static void
rehash(struct app *app, int64_t id, const char *old, const char *pw,
    size_t len)
{
	if (passwd_needs_rehash(old) &&
	    users_set_password(app, id, pw, len) != USERS_OK)
		log_warn("rehash of user %lld's password failed", (long long)id);
}

/*
 * Verifies pw against the hash of user id that a db_user_* read found (rc
 * its answer): 1 on a match, 0 for no user, no hash or a wrong password
 * (each at the same cost), -1 on error. The read is over before hashing,
 * so no read snapshot is held meanwhile.
 */
static int
verify(struct app *app, int rc, int64_t id, const char *hash, const char *pw,
    size_t len)
{
	int ok;

	if (rc == -1)
		return -1;
	ok = passwd_verify(hash[0] ? hash : NULL, pw, len);
	if (ok)
		rehash(app, id, hash, pw, len);
	return ok;
}

int
users_signin(struct app *app, const char *email, size_t elen, const char *pw,
    size_t len, int64_t *id)
{
	char hash[PASSWD_HASH_LEN];
	int64_t found = 0;
	int rc;

	rc = db_user_by_email(app->db, email, elen, &found, hash, sizeof(hash));
	if (rc == 0)
		*id = found;
	return verify(app, rc, found, hash, pw, len);
}

int
users_check_password(struct app *app, int64_t id, const char *pw, size_t len)
{
	char hash[PASSWD_HASH_LEN];
	int rc;

	rc = db_user_password_of(app->db, id, hash, sizeof(hash));
	return verify(app, rc, id, hash, pw, len);
}

int64_t
users_id_by_email(struct app *app, const char *email)
{
	int64_t id;

	switch (db_user_by_email(app->db, email, strlen(email), &id, NULL, 0)) {
	case 0:
		return id;
	case 1:
		return 0;
	default:
		return -1;
	}
}

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

/* The user object of API.md from a SQL_USER_GET row. */
static json_t *
user_json(sqlite3_stmt *st)
{
	char created[UTIL_TIME_LEN], updated[UTIL_TIME_LEN];

	util_format_time(sqlite3_column_int64(st, 4), created);
	util_format_time(sqlite3_column_int64(st, 5), updated);
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:b}",
	    "id", (json_int_t)sqlite3_column_int64(st, 0),
	    "name", (const char *)sqlite3_column_text(st, 1),
	    "email", (const char *)sqlite3_column_text(st, 2),
	    "role", (const char *)sqlite3_column_text(st, 3),
	    "created_at", created,
	    "updated_at", updated,
	    "disabled", sqlite3_column_int(st, 6));
}

json_t *
users_list(struct app *app, const char *role, int64_t before, int limit,
    int64_t *next_before)
{
	sqlite3_stmt *st;
	json_t *list, *u;
	int64_t last = 0;
	int rc, n = 0;

	if ((st = db_stmt(app->db, SQL_USERS_PAGE)) == NULL)
		return NULL;
	db_bind_int(st, 1, before > 0 ? before : INT64_MAX);
	if (role != NULL)
		db_bind_text(st, 2, role, strlen(role));
	db_bind_int(st, 3, limit);
	list = json_array();
	while ((rc = db_step(app->db, st)) == SQLITE_ROW) {
		last = sqlite3_column_int64(st, 0);
		if ((u = user_json(st)) == NULL)
			break;
		json_array_append_new(list, u);
		n++;
	}
	db_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(list);
		return NULL;
	}
	*next_before = n == limit ? last : 0;
	return list;
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

static int
user_fill(void *arg, struct strbuf *out)
{
	const struct user_arg *a = arg;
	sqlite3_stmt *st;
	json_t *j;
	int rc;

	if ((st = db_stmt(a->db, SQL_USER_GET)) == NULL)
		return -1;
	db_bind_int(st, 1, a->id);
	rc = db_step(a->db, st);
	if (rc == SQLITE_ROW) {
		j = user_json(st);
		rc = j != NULL &&
		    json_dump_callback(j, dump_cb, out, JSON_COMPACT) == 0 ? 0 : -1;
		json_decref(j);
	} else
		rc = rc == SQLITE_DONE ? 1 : -1;
	db_reset(st);
	return rc;
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
	sqlite3_stmt *st;
	int rc;

	if ((st = db_stmt(app->db, SQL_USER_GET)) == NULL)
		return -1;
	db_bind_int(st, 1, id);
	rc = db_step(app->db, st);
	db_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Stores a password hash made already (never inside a write transaction:
 * hashing takes tens of milliseconds). */
static int
store_hash(struct app *app, int64_t id, const char *pwhash)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(app->db, SQL_USER_PASSWORD_SET)) == NULL)
		return -1;
	db_bind_text(st, 1, pwhash, strlen(pwhash));
	db_bind_int(st, 2, util_now_ms());
	db_bind_int(st, 3, id);
	return db_exec_stmt(app->db, st) == 0 ? 0 : -1;
}

enum users_rc
users_create(struct app *app, const char *name, const char *email,
    enum role role, const char *pwhash, int64_t *id,
    char tok[AUTH_TOKEN_LEN + 1])
{
	sqlite3_stmt *st;
	int64_t now = util_now_ms();
	int rc;

	if (db_begin(app->db) == -1)
		return USERS_ERROR;
	if ((st = db_stmt(app->db, SQL_USER_INSERT)) == NULL)
		goto fail;
	db_bind_text(st, 1, name, strlen(name));
	db_bind_text(st, 2, email, strlen(email));
	db_bind_text(st, 3, auth_role_name(role), strlen(auth_role_name(role)));
	db_bind_int(st, 4, now);
	db_bind_int(st, 5, now);
	if ((rc = db_exec_stmt(app->db, st)) != 0) {
		db_rollback(app->db);
		return (rc & 0xff) == SQLITE_CONSTRAINT ? USERS_DUPLICATE :
		    USERS_ERROR;
	}
	*id = db_last_id(app->db);
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
	sqlite3_stmt *st;
	struct rkey k;
	int rc;

	/* Disabling revokes every token in the same transaction: enabling
	 * the user again later brings none of them back. */
	if (disabled == 1 && db_begin(app->db) == -1)
		return USERS_ERROR;
	if ((st = db_stmt(app->db, SQL_USER_UPDATE)) == NULL)
		goto fail;
	if (name != NULL)
		db_bind_text(st, 1, name, strlen(name));
	if (email != NULL)
		db_bind_text(st, 2, email, strlen(email));
	if (role != ROLE_NONE)
		db_bind_text(st, 3, auth_role_name(role),
		    strlen(auth_role_name(role)));
	db_bind_int(st, 4, util_now_ms());
	db_bind_int(st, 5, id);
	if (disabled != -1)
		db_bind_int(st, 6, disabled);
	/* Alone, one statement is its own transaction, committed when it
	 * returns. */
	if ((rc = db_exec_stmt(app->db, st)) != 0) {
		db_rollback(app->db);
		return (rc & 0xff) == SQLITE_CONSTRAINT ? USERS_DUPLICATE :
		    USERS_ERROR;
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
 * Steps st, bound already, whose row is (id, password_hash or NULL), and
 * verifies pw against it: 1 and *id on a match, 0 for no row, no hash or
 * a wrong password (each at the same cost), -1 on error. The statement is
 * reset before hashing, so no read snapshot is held meanwhile.
 */
static int
verify_stmt(struct app *app, sqlite3_stmt *st, const char *pw, size_t len,
    int64_t *id)
{
	char hash[PASSWD_HASH_LEN] = "";
	const unsigned char *h;
	int rc, ok;

	if ((rc = db_step(app->db, st)) == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		h = sqlite3_column_text(st, 1);
		if (h != NULL && strlen((const char *)h) < sizeof(hash))
			memcpy(hash, h, strlen((const char *)h) + 1);
	}
	db_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	ok = passwd_verify(hash[0] ? hash : NULL, pw, len);
	if (ok)
		rehash(app, *id, hash, pw, len);
	return ok;
}

int
users_signin(struct app *app, const char *email, size_t elen, const char *pw,
    size_t len, int64_t *id)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(app->db, SQL_USER_BY_EMAIL)) == NULL)
		return -1;
	db_bind_text(st, 1, email, elen);
	return verify_stmt(app, st, pw, len, id);
}

int
users_check_password(struct app *app, int64_t id, const char *pw, size_t len)
{
	sqlite3_stmt *st;
	int64_t found;

	if ((st = db_stmt(app->db, SQL_USER_PASSWORD_OF)) == NULL)
		return -1;
	db_bind_int(st, 1, id);
	return verify_stmt(app, st, pw, len, &found);
}

int64_t
users_id_by_email(struct app *app, const char *email)
{
	sqlite3_stmt *st;
	int64_t id;
	int rc;

	if ((st = db_stmt(app->db, SQL_USER_BY_EMAIL)) == NULL)
		return -1;
	db_bind_text(st, 1, email, strlen(email));
	rc = db_step(app->db, st);
	id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) :
	    rc == SQLITE_DONE ? 0 : -1;
	db_reset(st);
	return id;
}

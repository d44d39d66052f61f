/*
 * users: user records in SQLite and their cache entry user:{id}. Shared by
 * the user routes and chatdeskctl.
 */
#ifndef CHATDESK_USERS_H
#define CHATDESK_USERS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "auth.h"
#include "cache.h"

struct app;

#define USERS_NAME_MAX		100
#define USERS_EMAIL_MIN		3
#define USERS_EMAIL_MAX		254

enum users_rc {
	USERS_OK,
	USERS_NOT_FOUND,
	USERS_DUPLICATE,	/* the email is taken */
	USERS_ERROR
};

/* NULL if the value is acceptable, else the reason (for a 400). */
const char *users_check_name(const char *s, size_t len);
const char *users_check_email(const char *s, size_t len);

/* Creates a user, its password hash (made by passwd_hash beforehand; NULL:
 * none) and its first token in one transaction. */
enum users_rc users_create(struct app *, const char *name, const char *email,
    enum role, const char *pwhash, int64_t *id, char tok[AUTH_TOKEN_LEN + 1]);

/*
 * Updates the fields that are not NULL (role: not ROLE_NONE; disabled:
 * 1 disables, 0 enables, -1 leaves it), commits, then invalidates
 * user:{id} (and the user's sessions if the role moved). Disabling
 * revokes every token of the user in the same transaction.
 */
enum users_rc users_update(struct app *, int64_t id, const char *name,
    const char *email, enum role role, int disabled);

/* GET /users: a page of user objects, newest first, ids below before
 * (0: from the newest), of one role (NULL: any). *next_before is the
 * last id when the page is full, else 0. NULL on error. */
json_t *users_list(struct app *, const char *role, int64_t before, int limit,
    int64_t *next_before);

/* Cache-aside read of user:{id} as JSON text into out and, when role is
 * not NULL, the user's role (ROLE_NONE if the text holds none). Returns 0
 * found, 1 none, -1 error. */
int users_get(struct app *, int64_t id, struct strbuf *out,
    enum cache_result *res, enum role *role);

/* The same read as a JSON object, to be part of an answer: 0 with it in
 * *user, 1 none, -1 error. */
int users_get_object(struct app *, int64_t id, json_t **user);

/* The user as anyone may see it (API.md section 3: id, name and role),
 * from the text users_get gave. NULL on error. */
json_t *users_public(const struct strbuf *text);

/* Hashes and stores user id's new password, then invalidates user:{id}. */
enum users_rc users_set_password(struct app *, int64_t id, const char *pw,
    size_t len);

/*
 * Sign-in: 1 and *id when the email's user has this password, 0 when the
 * email is unknown, the user has no password or the password is wrong
 * (each at the same cost), -1 on error. A good password stored with old
 * limits is rehashed.
 */
int users_signin(struct app *, const char *email, size_t elen,
    const char *pw, size_t len, int64_t *id);
/* The same for a user known by id (a "current_password"). */
int users_check_password(struct app *, int64_t id, const char *pw,
    size_t len);

/* The id of the user with this email (compared case-insensitively), 0 if
 * none, -1 on error. */
int64_t users_id_by_email(struct app *, const char *email);

/* 1 if the user exists, 0 if not, -1 on error. */
int users_exists(struct app *, int64_t id);

#endif

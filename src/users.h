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

/* Creates a user and its first token in one transaction. */
enum users_rc users_create(struct app *, const char *name, const char *email,
    enum role, int64_t *id, char tok[AUTH_TOKEN_LEN + 1]);

/*
 * Updates the fields that are not NULL (role: not ROLE_NONE), commits,
 * then invalidates user:{id} (and the user's sessions if the role moved).
 */
enum users_rc users_update(struct app *, int64_t id, const char *name,
    const char *email, enum role role);

/* Cache-aside read of user:{id} as JSON text into out. Returns 0 found,
 * 1 none, -1 error. */
int users_get(struct app *, int64_t id, struct strbuf *out,
    enum cache_result *res);

/* 1 if the user exists, 0 if not, -1 on error. */
int users_exists(struct app *, int64_t id);

#endif

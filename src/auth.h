/*
 * auth: bearer tokens, sessions and roles (API.md section 2). A token is
 * 32 random bytes from the OS, base64url without padding (43 characters);
 * only its SHA-256 is stored. Sessions (token hash -> user id and role)
 * are cached as session:{sha256 hex} through the cache-aside fill.
 */
#ifndef CHATDESK_AUTH_H
#define CHATDESK_AUTH_H

#include <stdint.h>

struct cache;
struct db;
struct req;

/* The handle, made by app_open: the database of the tokens, the cache of
 * the sessions and their ttl (record_ttl). db and cache outlive it. */
struct auth;
struct auth *auth_open(struct db *, struct cache *, long long ttl);
void auth_close(struct auth *);

#define AUTH_TOKEN_LEN		43
#define AUTH_HASH_LEN		32

enum role {
	ROLE_NONE,
	ROLE_CUSTOMER,
	ROLE_AGENT,
	ROLE_ADMIN
};

/* "customer", "agent", "admin" -> role, or ROLE_NONE. */
enum role auth_role_parse(const char *);
const char *auth_role_name(enum role);
int auth_is_staff(enum role);

/* Makes a new token (NUL-terminated) and its hash. */
void auth_token_new(char tok[AUTH_TOKEN_LEN + 1],
    unsigned char hash[AUTH_HASH_LEN]);
/*
 * Inserts a new token for user_id (inside the caller's transaction or
 * alone). Returns 0 with the token in tok, or -1 (logged).
 */
int auth_token_issue(struct auth *, int64_t user_id,
    char tok[AUTH_TOKEN_LEN + 1]);

/*
 * Looks the request's bearer token up without answering: 0 and
 * req->user_id, req->role set; 1 missing, malformed, unknown or revoked;
 * -1 error.
 */
int auth_identify(struct auth *, struct req *);
/*
 * Authenticates the request's bearer token: sets req->user_id, req->role
 * and req->token_hash. Returns 0, or -1 after answering 401 (or 503/500).
 */
int auth_authenticate(struct auth *, struct req *);

/* Revokes the token the request used: SQLite first, then the session key.
 * Returns 0 or -1 (logged). */
int auth_revoke_current(struct auth *, struct req *);

/* Deletes the cached sessions of every live token of user_id, after a
 * committed change that alters what a session holds (the role). */
void auth_forget_sessions(struct auth *, int64_t user_id);

#endif

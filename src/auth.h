/*
 * auth: bearer tokens, sessions and roles (API.md section 2). A token is
 * 32 random bytes from the OS, base64url without padding (43 characters);
 * only its SHA-256 is stored. Sessions (token hash -> user id and role)
 * are cached as session:{sha256 hex} through the cache-aside fill.
 */
#ifndef CHATDESK_AUTH_H
#define CHATDESK_AUTH_H

#include <stdint.h>

#include <jansson.h>

struct cache;
struct db;
struct req;

struct config;

/* The handle, made by app_open: the database of the tokens, the cache of
 * the sessions (ttl: record_ttl, read once) and the configuration, whose
 * token_max_age_days is read at each issue (SIGHUP may change it). db,
 * cache and cfg outlive it. */
struct auth;
struct auth *auth_open(struct db *, struct cache *, const struct config *);
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
 * alone). It expires token_max_age_days from now (never if 0), and not
 * after not_after when that is not 0 (Unix ms: the issuing token's own
 * end, for a token its holder mints). Returns 0 with the token in tok,
 * 1 if the user is disabled or missing (nothing inserted), or -1
 * (logged).
 */
int auth_token_issue(struct auth *, int64_t user_id, int64_t not_after,
    char tok[AUTH_TOKEN_LEN + 1]);

/* The live tokens of user_id as {"tokens":[{"id","created_at",
 * "last_used_at","expires_at"}]}, newest first (at most
 * AUTH_LIST_MAX), or NULL on error. Never the token or its hash. */
#define AUTH_LIST_MAX		1000
json_t *auth_tokens_json(struct auth *, int64_t user_id);

/*
 * Revokes every token of user_id (in the caller's transaction, if one is
 * open) and remembers their hashes; auth_forget_revoked then deletes
 * their sessions, after the commit. Returns the number revoked or -1.
 */
int auth_revoke_all(struct auth *, int64_t user_id);
void auth_forget_revoked(struct auth *);
/* Revokes token token_id of user_id, then its session. Returns 0, 1 if
 * no such live token, -1 on error. */
int auth_revoke_one(struct auth *, int64_t user_id, int64_t token_id);

/*
 * Looks the request's bearer token up without answering: 0 and
 * req->user_id, req->role, req->token_id, req->token_expires_at set; 1
 * missing, malformed, unknown, revoked, expired or of a disabled user;
 * -1 error. Every call reads the session from Redis (or SQLite): no
 * process keeps sessions, so a revocation is seen at once everywhere.
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

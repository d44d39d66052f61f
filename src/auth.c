/* auth: see auth.h. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "auth.h"
#include "cache.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "metrics.h"

struct auth {
	struct db	*db;
	struct cache	*cache;
	long long	 ttl;		/* record_ttl, for session:{hash} */
	struct strbuf	 value;		/* a session's cached text */
};

struct auth *
auth_open(struct db *db, struct cache *cache, long long ttl)
{
	struct auth *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		abort();
	a->db = db;
	a->cache = cache;
	a->ttl = ttl;
	strbuf_init(&a->value);
	return a;
}

void
auth_close(struct auth *a)
{
	if (a == NULL)
		return;
	strbuf_free(&a->value);
	free(a);
}

static const char *const role_names[] = {
	[ROLE_NONE] = "none",
	[ROLE_CUSTOMER] = "customer",
	[ROLE_AGENT] = "agent",
	[ROLE_ADMIN] = "admin",
};

enum role
auth_role_parse(const char *s)
{
	int r;

	for (r = ROLE_CUSTOMER; r <= ROLE_ADMIN; r++)
		if (strcmp(s, role_names[r]) == 0)
			return (enum role)r;
	return ROLE_NONE;
}

const char *
auth_role_name(enum role r)
{
	return role_names[r];
}

int
auth_is_staff(enum role r)
{
	return r == ROLE_AGENT || r == ROLE_ADMIN;
}

void
auth_token_new(char tok[AUTH_TOKEN_LEN + 1], unsigned char hash[AUTH_HASH_LEN])
{
	unsigned char raw[32];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(tok, AUTH_TOKEN_LEN + 1, raw, sizeof(raw),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	crypto_hash_sha256(hash, (const unsigned char *)tok, AUTH_TOKEN_LEN);
	sodium_memzero(raw, sizeof(raw));
}

int
auth_token_issue(struct auth *a, int64_t user_id, char tok[AUTH_TOKEN_LEN + 1])
{
	unsigned char hash[AUTH_HASH_LEN];
	sqlite3_stmt *st;

	auth_token_new(tok, hash);
	if ((st = db_stmt(a->db, SQL_TOKEN_INSERT)) == NULL)
		return -1;
	db_bind_int(st, 1, user_id);
	db_bind_blob(st, 2, hash, sizeof(hash));
	db_bind_int(st, 3, util_now_ms());
	return db_exec_stmt(a->db, st) == 0 ? 0 : -1;
}

/* Accepts the scheme "Bearer" in any case (RFC 7235 2.1: scheme names
 * are case-insensitive), one or more spaces, and 43 base64url
 * characters. */
static int
bearer_token(const char *h, const char **tok)
{
	size_t i;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return -1;
	for (h += 7; *h == ' '; h++)
		continue;
	for (i = 0; i < AUTH_TOKEN_LEN; i++)
		if (!((h[i] >= 'A' && h[i] <= 'Z') || (h[i] >= 'a' && h[i] <= 'z') ||
		    (h[i] >= '0' && h[i] <= '9') || h[i] == '-' || h[i] == '_'))
			return -1;
	if (h[AUTH_TOKEN_LEN] != '\0')
		return -1;
	*tok = h;
	return 0;
}

struct session_arg {
	struct db		*db;
	const unsigned char	*hash;
};

/* Fill for session:{hash}: "user_id role" of a live token. */
static int
session_fill(void *arg, struct strbuf *out)
{
	struct session_arg *sa = arg;
	sqlite3_stmt *st;
	int rc;

	if ((st = db_stmt(sa->db, SQL_TOKEN_LOOKUP)) == NULL)
		return -1;
	db_bind_blob(st, 1, sa->hash, AUTH_HASH_LEN);
	rc = db_step(sa->db, st);
	if (rc == SQLITE_ROW) {
		strbuf_printf(out, "%lld %s",
		    (long long)sqlite3_column_int64(st, 0),
		    (const char *)sqlite3_column_text(st, 1));
		rc = 0;
	} else
		rc = rc == SQLITE_DONE ? 1 : -1;
	db_reset(st);
	return rc;
}

static void
session_key(struct auth *a, const unsigned char *hash, struct rkey *k)
{
	keys_session(cache_keys(a->cache), k, hash);
}

/*
 * Sessions this process used lately, so that the hot path makes no Redis
 * round trip for them. An entry is good for AUTH_LOCAL_TTL_US and only
 * while the shared session generation has not moved: a revocation or a
 * role change on this host bumps it, so it takes effect at once in every
 * process; on other hosts (sharing Redis, not this memory) within
 * AUTH_LOCAL_TTL_US.
 */
#define AUTH_LOCAL_SLOTS	1024
#define AUTH_LOCAL_TTL_US	5000000

static struct local_session {
	char		token[AUTH_TOKEN_LEN];	/* the bearer token itself */
	int64_t		user_id;
	int		role;
	uint64_t	gen;
	int64_t		expires_us;
} local[AUTH_LOCAL_SLOTS];

static struct local_session *
local_slot(const char *tok)
{
	uint32_t h;

	/* A token is 32 random bytes in base64url: its first characters
	 * are evenly spread already. */
	memcpy(&h, tok, sizeof(h));
	return &local[h % AUTH_LOCAL_SLOTS];
}

int
auth_identify(struct auth *a, struct req *req)
{
	struct session_arg sa;
	struct local_session *ls;
	struct rkey k;
	struct strbuf *v = &a->value;
	enum cache_result res;
	const char *tok;
	char role[16];
	long long uid;
	uint64_t gen;
	int rc;

	if (bearer_token(req->authorization, &tok) == -1)
		return 1;
	/* Read the generation before the lookup: a revocation that lands
	 * during it leaves this entry already stale. The comparison is
	 * constant-time: it is a secret. */
	gen = metrics_session_gen();
	ls = local_slot(tok);
	if (ls->gen == gen && ls->expires_us > util_mono_us() &&
	    sodium_memcmp(ls->token, tok, AUTH_TOKEN_LEN) == 0) {
		/* req->token_hash stays unset: auth_revoke_current makes it. */
		req->user_id = ls->user_id;
		req->role = ls->role;
		metrics_cache(KEY_SESSION, 0);	/* a hit, of the nearest tier */
		return 0;
	}
	crypto_hash_sha256(req->token_hash, (const unsigned char *)tok,
	    AUTH_TOKEN_LEN);
	sa.db = a->db;
	sa.hash = req->token_hash;
	session_key(a, req->token_hash, &k);
	rc = cache_get(a->cache, &k, a->ttl, session_fill, &sa, v, &res);
	if (rc != 0)
		return rc;
	if (sscanf(v->buf, "%lld %15s", &uid, role) != 2 ||
	    (req->role = auth_role_parse(role)) == ROLE_NONE)
		return 1;
	req->user_id = uid;
	memcpy(ls->token, tok, AUTH_TOKEN_LEN);
	ls->user_id = uid;
	ls->role = req->role;
	ls->gen = gen;
	ls->expires_us = util_mono_us() + AUTH_LOCAL_TTL_US;
	return 0;
}

int
auth_authenticate(struct auth *a, struct req *req)
{
	switch (auth_identify(a, req)) {
	case 0:
		return 0;
	case 1:
		http_error(req, 401, "unauthorized", NULL,
		    req->authorization == NULL ? "a bearer token is required" :
		    "missing, malformed, unknown or revoked bearer token");
		return -1;
	default:
		if (db_down(a->db))
			http_unavailable(req);
		else
			http_internal(req);
		return -1;
	}
}

int
auth_revoke_current(struct auth *a, struct req *req)
{
	sqlite3_stmt *st;
	struct rkey k;
	const char *tok;

	/* Authenticated already, so the header holds a well-formed token. */
	if (bearer_token(req->authorization, &tok) == -1)
		return -1;
	crypto_hash_sha256(req->token_hash, (const unsigned char *)tok,
	    AUTH_TOKEN_LEN);
	if ((st = db_stmt(a->db, SQL_TOKEN_REVOKE)) == NULL)
		return -1;
	db_bind_int(st, 1, util_now_ms());
	db_bind_blob(st, 2, req->token_hash, AUTH_HASH_LEN);
	if (db_exec_stmt(a->db, st) != 0)
		return -1;
	session_key(a, req->token_hash, &k);
	cache_invalidate(a->cache, &k, 1);
	metrics_session_bump();
	return 0;
}

void
auth_forget_sessions(struct auth *a, int64_t user_id)
{
	sqlite3_stmt *st;
	struct rkey k;

	if ((st = db_stmt(a->db, SQL_TOKEN_HASHES_OF_USER)) == NULL)
		return;
	db_bind_int(st, 1, user_id);
	while (db_step(a->db, st) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != AUTH_HASH_LEN)
			continue;
		session_key(a, sqlite3_column_blob(st, 0), &k);
		cache_invalidate(a->cache, &k, 1);
	}
	db_reset(st);
	metrics_session_bump();
}

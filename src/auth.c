/* auth: see auth.h. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "auth.h"
#include "cache.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/*
 * last_used_at is written when a request finds it a minute old or more
 * (AUTH_TOUCH_MS): at most about once a minute per token for the whole
 * pool (the UPDATE is conditional, so two processes that race write it
 * once), never once per request. After a failed write (a database that
 * takes no writes) this process tries again only AUTH_TOUCH_MS later.
 */
#define AUTH_TOUCH_MS		60000
#define AUTH_MS_PER_DAY		86400000LL

struct auth {
	struct db		*db;
	struct cache		*cache;
	const struct config	*cfg;
	long long		 ttl;		/* record_ttl, for session:{hash} */
	struct strbuf		 value;		/* a session's cached text */
	struct strbuf		 revoked;	/* hashes auth_revoke_all took */
	int64_t			 touch_failed_ms;
};

struct auth *
auth_open(struct db *db, struct cache *cache, const struct config *cfg)
{
	struct auth *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		abort();
	a->db = db;
	a->cache = cache;
	a->cfg = cfg;
	a->ttl = cfg->record_ttl;
	strbuf_init(&a->value);
	strbuf_init(&a->revoked);
	return a;
}

void
auth_close(struct auth *a)
{
	if (a == NULL)
		return;
	strbuf_free(&a->value);
	strbuf_free(&a->revoked);
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
auth_token_issue(struct auth *a, int64_t user_id, int64_t not_after,
    char tok[AUTH_TOKEN_LEN + 1])
{
	unsigned char hash[AUTH_HASH_LEN];
	int64_t now = util_now_ms(), exp = 0;

	if (a->cfg->token_max_age_days > 0)
		exp = now + a->cfg->token_max_age_days * AUTH_MS_PER_DAY;
	if (not_after > 0 && (exp == 0 || not_after < exp))
		exp = not_after;
	auth_token_new(tok, hash);
	if (db_token_insert(a->db, user_id, hash, sizeof(hash), now, exp) != 0)
		return -1;
	if (db_changes(a->db) == 0) {
		sodium_memzero(tok, AUTH_TOKEN_LEN + 1);
		return 1;
	}
	return 0;
}

/* A time as RFC 3339 text, or null for 0 (NULL in SQL). */
static json_t *
time_or_null(int64_t ms)
{
	char t[UTIL_TIME_LEN];

	if (ms == 0)
		return json_null();
	util_format_time(ms, t);
	return json_string(t);
}

/* A db_token_fn: the token's object onto the JSON array arg. */
static int
token_add(void *arg, const struct db_token *t)
{
	json_array_append_new(arg, json_pack("{s:I, s:o, s:o, s:o}",
	    "id", (json_int_t)t->id,
	    "created_at", time_or_null(t->created_at),
	    "last_used_at", time_or_null(t->last_used_at),
	    "expires_at", time_or_null(t->expires_at)));
	return 0;
}

json_t *
auth_tokens_json(struct auth *a, int64_t user_id)
{
	json_t *list = json_array();

	if (db_tokens_of_user(a->db, user_id, util_now_ms(), AUTH_LIST_MAX,
	    token_add, list) == -1) {
		json_decref(list);
		return NULL;
	}
	return json_pack("{s:o}", "tokens", list);
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

/* A db_session_fn: the session's cached text into the strbuf arg. */
static int
session_text(void *arg, const struct db_session *s)
{
	strbuf_printf(arg, "%lld %s %lld %lld %lld", (long long)s->user_id,
	    s->role, (long long)s->token_id, (long long)s->expires_at,
	    (long long)s->last_used_at);
	return 0;
}

/*
 * Fill for session:{hash}: "user_id role token_id expires_at last_used_at"
 * (Unix ms, 0 for none) of a live, unexpired token of an enabled user.
 * The expiry travels with the value, so a cached session ends on time.
 */
static int
session_fill(void *arg, struct strbuf *out)
{
	struct session_arg *sa = arg;

	return db_session_get(sa->db, sa->hash, AUTH_HASH_LEN, util_now_ms(),
	    session_text, out);
}

static void
session_key(struct auth *a, const unsigned char *hash, struct rkey *k)
{
	keys_session(cache_keys(a->cache), k, hash);
}

/*
 * Records that the token was used, when its last_used_at (as the session
 * read it) is AUTH_TOUCH_MS old, then drops the session so that the next
 * read carries the new time. Failures only cost the column's freshness.
 */
static void
session_touch(struct auth *a, struct req *req, int64_t last_used)
{
	struct rkey k;
	int64_t now = util_now_ms();

	if (now - last_used < AUTH_TOUCH_MS ||
	    now - a->touch_failed_ms < AUTH_TOUCH_MS || db_in_txn(a->db))
		return;
	if (db_token_touch(a->db, req->token_id, now,
	    now - AUTH_TOUCH_MS) != 0) {
		a->touch_failed_ms = now;
		return;
	}
	session_key(a, req->token_hash, &k);
	cache_invalidate(a->cache, &k, 1);
}

/*
 * No process keeps sessions in its own memory: each request reads
 * session:{hash} (one Redis round trip, or SQLite while Redis is down).
 * Every revocation, disabling and role change commits to SQLite and then
 * deletes the session keys it ends (the fill's lease keeps a racing
 * reader from storing the old row again), so it takes effect at once in
 * every process and on every host that shares Redis, without the shared
 * metrics file. An in-process cache checked against a generation would
 * need that generation read from Redis on each request anyway, which is
 * the round trip it was meant to save.
 */
int
auth_identify(struct auth *a, struct req *req)
{
	struct session_arg sa;
	struct rkey k;
	struct strbuf *v = &a->value;
	enum cache_result res;
	const char *tok;
	char role[16];
	long long uid, tid, exp, used;
	int rc;

	if (bearer_token(req->authorization, &tok) == -1)
		return 1;
	crypto_hash_sha256(req->token_hash, (const unsigned char *)tok,
	    AUTH_TOKEN_LEN);
	sa.db = a->db;
	sa.hash = req->token_hash;
	session_key(a, req->token_hash, &k);
	rc = cache_get(a->cache, &k, a->ttl, session_fill, &sa, v, &res);
	if (rc != 0)
		return rc;
	if (sscanf(v->buf, "%lld %15s %lld %lld %lld", &uid, role, &tid, &exp,
	    &used) != 5 || (req->role = auth_role_parse(role)) == ROLE_NONE)
		return 1;
	/* A cached session outlives its token's end by no more than this. */
	if (exp != 0 && exp <= util_now_ms())
		return 1;
	req->user_id = uid;
	req->token_id = tid;
	req->token_expires_at = exp;
	session_touch(a, req, used);
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
	struct rkey k;
	const char *tok;

	/* Authenticated already, so the header holds a well-formed token. */
	if (bearer_token(req->authorization, &tok) == -1)
		return -1;
	crypto_hash_sha256(req->token_hash, (const unsigned char *)tok,
	    AUTH_TOKEN_LEN);
	if (db_token_revoke(a->db, req->token_hash, AUTH_HASH_LEN,
	    util_now_ms()) != 0)
		return -1;
	session_key(a, req->token_hash, &k);
	cache_invalidate(a->cache, &k, 1);
	metrics_session_bump();
	return 0;
}

struct revoke_arg {
	struct auth	*a;
	int		 n;
};

/* A db_blob_fn: keeps a revoked token's hash in a->revoked. */
static int
keep_revoked(void *arg, const void *hash, size_t len)
{
	struct revoke_arg *r = arg;

	if (len == AUTH_HASH_LEN) {
		strbuf_add(&r->a->revoked, hash, AUTH_HASH_LEN);
		r->n++;
	}
	return 0;
}

int
auth_revoke_all(struct auth *a, int64_t user_id)
{
	struct revoke_arg r = { a, 0 };

	if (db_tokens_revoke_user(a->db, user_id, util_now_ms(), keep_revoked,
	    &r) == -1)
		return -1;
	return r.n;
}

void
auth_forget_revoked(struct auth *a)
{
	struct rkey k;
	size_t i;

	for (i = 0; i + AUTH_HASH_LEN <= a->revoked.len; i += AUTH_HASH_LEN) {
		session_key(a, (const unsigned char *)a->revoked.buf + i, &k);
		cache_invalidate(a->cache, &k, 1);
	}
	strbuf_reset(&a->revoked);
	metrics_session_bump();
}

int
auth_revoke_one(struct auth *a, int64_t user_id, int64_t token_id)
{
	struct revoke_arg r = { a, 0 };

	if (db_token_revoke_id(a->db, user_id, token_id, util_now_ms(),
	    keep_revoked, &r) == -1) {
		strbuf_reset(&a->revoked);
		return -1;
	}
	auth_forget_revoked(a);
	return r.n == 0 ? 1 : 0;
}

/* A db_blob_fn: drops the session of the token whose hash it is. */
static int
forget_session(void *arg, const void *hash, size_t len)
{
	struct auth *a = arg;
	struct rkey k;

	if (len == AUTH_HASH_LEN) {
		session_key(a, hash, &k);
		cache_invalidate(a->cache, &k, 1);
	}
	return 0;
}

void
auth_forget_sessions(struct auth *a, int64_t user_id)
{
	/* A read that fails still drops the sessions it found first. */
	db_token_hashes(a->db, user_id, forget_session, a);
	metrics_session_bump();
}

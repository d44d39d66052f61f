/* fuzz_app: see fuzz_app.h. */
#include "autoconf.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>

#include "app.h"
#include "config.h"
#include "db.h"
#include "events.h"
#include "fuzz_app.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "serve.h"
#include "users.h"

struct fuzz_app fuzz_app;
int fuzz_check_json = 1;
int fuzz_check_500 = 1;

static const char *const placeholders[FUZZ_NUSERS] = {
	[FUZZ_ADMIN] = "@admin",
	[FUZZ_AGENT] = "@agent",
	[FUZZ_CUSTOMER] = "@customer",
	[FUZZ_CUSTOMER2] = "@other",
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
cleanup(void)
{
	if (fuzz_app.dir[0] != '\0')
		nftw(fuzz_app.dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void
must(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz: set-up failed: %s\n", what);
		abort();
	}
}

static void
set(struct config *c, const char *key, const char *val)
{
	char err[CONFIG_ERRLEN];

	if (config_set(c, key, val, err, sizeof(err)) == -1) {
		fprintf(stderr, "fuzz: config %s: %s\n", key, err);
		abort();
	}
}

void
fuzz_app_init(const char *prog, const char *redis_url)
{
	static const char *const roles[FUZZ_NUSERS] = {
		"admin", "agent", "customer", "customer"
	};
	struct fuzz_app *fa = &fuzz_app;
	char err[512], path[400], body[256], *tmp;
	const char *base;
	int i, from, to;

	must(sodium_init() >= 0, "sodium_init");
	/* A log line per input would drown libFuzzer's own output. */
	log_init(prog, LOGL__MAX);
	base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" :
	    ((tmp = getenv("TMPDIR")) != NULL ? tmp : "/tmp");
	snprintf(fa->dir, sizeof(fa->dir), "%s/%s.XXXXXX", base, prog);
	must(mkdtemp(fa->dir) != NULL, "mkdtemp");
	atexit(cleanup);
	snprintf(fa->db_path, sizeof(fa->db_path), "%s/chatdesk.db", fa->dir);

	config_defaults(&fa->app.cfg);
	set(&fa->app.cfg, "db_path", fa->db_path);
	snprintf(path, sizeof(path), "%s/archive.db", fa->dir);
	set(&fa->app.cfg, "archive_db_path", path);
	set(&fa->app.cfg, "redis_url", redis_url);
	set(&fa->app.cfg, "queue_redis_url", redis_url);
	/* No fsync per commit: nothing here must survive a power cut. */
	set(&fa->app.cfg, "sqlite_synchronous", "normal");
	/* Enough posts per window that the limit is not all a run sees. */
	set(&fa->app.cfg, "rate_limit_count", "1000000");
	set(&fa->app.cfg, "redis_connect_timeout_ms", "1");
	set(&fa->app.cfg, "redis_command_timeout_ms", "1");

	must(app_open(&fa->app, DB_OPEN_MIGRATE, err, sizeof(err)) == 0, err);
	must(db_migrate(fa->app.db, &from, &to) == 0, "migrate");
	app_close(&fa->app);
	must(app_open(&fa->app, DB_OPEN_APP, err, sizeof(err)) == 0, err);
	serve_init();
	strbuf_init(&fa->out);

	for (i = 0; i < FUZZ_NUSERS; i++) {
		char name[32], email[64];

		snprintf(name, sizeof(name), "fuzz %s", placeholders[i] + 1);
		snprintf(email, sizeof(email), "%s@fuzz.example",
		    placeholders[i] + 1);
		must(users_create(&fa->app, name, email,
		    auth_role_parse(roles[i]), NULL, &fa->ids[i],
		    fa->tokens[i]) == USERS_OK, "users_create");
	}
	/* Room 1 with the agent and the customer, a message; ticket 1 of
	 * the customer with a comment. Made through the routes. */
	must(fuzz_simple("POST", "/api/v1/rooms", "@agent",
	    "{\"name\":\"lobby\"}") == 201, "room");
	snprintf(body, sizeof(body), "{\"user_id\":%lld}",
	    (long long)fa->ids[FUZZ_CUSTOMER]);
	must(fuzz_simple("POST", "/api/v1/rooms/1/members", "@agent",
	    body) / 100 == 2, "member");
	must(fuzz_simple("POST", "/api/v1/rooms/1/messages", "@customer",
	    "{\"body\":\"hello\"}") == 201, "message");
	must(fuzz_simple("POST", "/api/v1/tickets", "@customer",
	    "{\"subject\":\"help\",\"body\":\"it broke\"}") == 201, "ticket");
	must(fuzz_simple("POST", "/api/v1/tickets/1/interactions", "@agent",
	    "{\"body\":\"on it\"}") == 201, "interaction");
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *prog = strrchr((*argv)[0], '/');

	(void)argc;
	fuzz_app_init(prog != NULL ? prog + 1 : (*argv)[0], FUZZ_NO_REDIS);
	if (fuzz_target_init != NULL)
		fuzz_target_init();
	return 0;
}

const char *
fuzz_token(const char *placeholder)
{
	int i;

	for (i = 0; i < FUZZ_NUSERS; i++)
		if (strcmp(placeholder, placeholders[i]) == 0)
			return fuzz_app.tokens[i];
	return NULL;
}

void
fuzz_app_repair(void)
{
	static const char sql[] =
	    "UPDATE tokens SET revoked_at = NULL, expires_at = NULL"
	    " WHERE id <= 4 AND (revoked_at IS NOT NULL OR"
	    " expires_at IS NOT NULL);"
	    "UPDATE users SET disabled_at = NULL"
	    " WHERE id <= 4 AND disabled_at IS NOT NULL;"
	    "UPDATE users SET role = CASE id WHEN 1 THEN 'admin'"
	    " WHEN 2 THEN 'agent' ELSE 'customer' END"
	    " WHERE id <= 4 AND role <> CASE id WHEN 1 THEN 'admin'"
	    " WHEN 2 THEN 'agent' ELSE 'customer' END;";
	static sqlite3 *h;

	/* Test code, on its own connection: the app's SQL stays in db.c. */
	if (h == NULL && sqlite3_open(fuzz_app.db_path, &h) != SQLITE_OK)
		abort();
	sqlite3_busy_timeout(h, 5000);
	if (sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK)
		abort();
	if (sqlite3_total_changes(h) > 0) {
		/* The cached sessions of this process go too. */
		metrics_session_bump();
		sqlite3_close(h);
		h = NULL;
	}
}

/* ---- a cheap password hash --------------------------------------------- */

/*
 * Argon2id at the interactive limits (passwd.c) costs tens of
 * milliseconds and 64 MiB a call, on purpose: a fuzzer that finds POST
 * /sessions would spend its time there. These stand-ins, linked into the
 * targets only, keep the contract passwd.c relies on (verify accepts what
 * str made for the same password, nothing else; NUL-terminated strings
 * shorter than crypto_pwhash_STRBYTES) at the cost of one BLAKE2b.
 */
#define FAKE_PREFIX	"$fuzz$"

static void
fake_hash(char *out, const char *pw, unsigned long long len)
{
	unsigned char h[32];
	char hex[65];

	crypto_generichash(h, sizeof(h), (const unsigned char *)pw, len,
	    NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(out, crypto_pwhash_STRBYTES, "%s%s", FAKE_PREFIX, hex);
}

int
crypto_pwhash_str_alg(char out[crypto_pwhash_STRBYTES], const char *const pw,
    unsigned long long len, unsigned long long ops, size_t mem, int alg)
{
	(void)ops;
	(void)mem;
	(void)alg;
	fake_hash(out, pw, len);
	return 0;
}

int
crypto_pwhash_str_verify(const char str[crypto_pwhash_STRBYTES],
    const char *const pw, unsigned long long len)
{
	char want[crypto_pwhash_STRBYTES];

	fake_hash(want, pw, len);
	return strcmp(str, want) == 0 ? 0 : -1;
}

int
crypto_pwhash_str_needs_rehash(const char str[crypto_pwhash_STRBYTES],
    unsigned long long ops, size_t mem)
{
	(void)ops;
	(void)mem;
	return strncmp(str, FAKE_PREFIX, sizeof(FAKE_PREFIX) - 1) == 0 ? 0 : 1;
}

/* ---- FastCGI in memory ------------------------------------------------ */

/* stdin: the whole body is one buffer; asking for more is EOF. */
static void
in_fill(FCGX_Stream *s)
{
	s->isClosed = 1;
}

/* stdout: the buffer is moved to fuzz_app.out whenever it fills. */
static void
out_empty(FCGX_Stream *s, int doClose)
{
	unsigned char *buf = s->data;

	(void)doClose;
	strbuf_add(&fuzz_app.out, (const char *)buf, (size_t)(s->wrNext - buf));
	s->wrNext = buf;
}

static const char *
find_crlf2(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i + 3 < n; i++)
		if (memcmp(s + i, "\r\n\r\n", 4) == 0)
			return s + i;
	return NULL;
}

/* What nginx and the client rely on in every answer. */
static void
check_response(int status, int head)
{
	const char *o = fuzz_app.out.buf, *end, *p, *nl, *body;
	size_t n = fuzz_app.out.len, blen;
	long long clen = -1;
	int json = 0;
	json_t *j;

	if (n < 8 || memcmp(o, "Status: ", 8) != 0 ||
	    (end = find_crlf2(o, n)) == NULL)
		abort();
	if (atoi(o + 8) != status || status < 200 || status > 599)
		abort();
	/* An error of ours on bad input is a bug: 500 means a path that
	 * failed where it should have refused. */
	if (status == 500 && fuzz_check_500)
		abort();
	/* Every head line is "Name: value", no CR or LF inside (no header
	 * injection), no NUL. */
	for (p = o; p < end + 2; p = nl + 2) {
		nl = memchr(p, '\r', (size_t)(end + 2 - p));
		if (nl == NULL || nl[1] != '\n' || memchr(p, '\n', (size_t)(nl - p)) ||
		    memchr(p, '\0', (size_t)(nl - p)) ||
		    memmem(p, (size_t)(nl - p), ": ", 2) == NULL)
			abort();
		if (strncmp(p, "Content-Type: application/json", 30) == 0)
			json = 1;
		if (strncmp(p, "Content-Length: ", 16) == 0)
			clen = atoll(p + 16);
	}
	body = end + 4;
	blen = n - (size_t)(body - o);
	/* HEAD: GET's head, Content-Length included, and no body. */
	if (head) {
		if (blen != 0)
			abort();
		return;
	}
	if (clen != -1 && (size_t)clen != blen)
		abort();
	if (clen == -1 && blen != 0)
		abort();
	/* A JSON answer parses, whether built or sent from the cache. */
	if (json && fuzz_check_json) {
		if ((j = json_loadb(body, blen, 0, NULL)) == NULL)
			abort();
		json_decref(j);
	}
}

int
fuzz_request(char **envp, const char *body, size_t len)
{
	static unsigned char outbuf[4096];
	static int trace = -1;
	FCGX_Stream in, out, err;
	FCGX_Request fr;
	struct req req;

	memset(&in, 0, sizeof(in));
	in.isReader = 1;
	in.rdNext = in.stopUnget = (unsigned char *)(uintptr_t)body;
	in.stop = in.rdNext + len;
	in.wrNext = in.stop;
	in.fillBuffProc = in_fill;
	memset(&out, 0, sizeof(out));
	out.wrNext = outbuf;
	out.stop = out.rdNext = outbuf + sizeof(outbuf);
	out.emptyBuffProc = out_empty;
	out.data = outbuf;
	err = out;
	memset(&fr, 0, sizeof(fr));
	fr.in = &in;
	fr.out = &out;
	fr.err = &err;
	fr.envp = envp;
	fr.ipcFd = -1;

	strbuf_reset(&fuzz_app.out);
	if (http_req_init(&req, &fr, &fuzz_app.app.io) == 0)
		serve_dispatch(&fuzz_app.app, &req);
	/* serve_handle would answer 500 here and log it: a bug. */
	if (!req.responded)
		abort();
	/* What serve_handle does next: the request's events go out (to a
	 * publisher socket that does not exist). */
	events_flush(fuzz_app.app.events);
	out_empty(&out, 1);
	/* FUZZ_TRACE=1: each answer on stderr, to see what a seed reaches. */
	if (trace == -1)
		trace = getenv("FUZZ_TRACE") != NULL;
	if (trace)
		fprintf(stderr, "fuzz: %s %s -> %.*s\n", req.method,
		    req.path ? req.path : "", (int)(fuzz_app.out.len < 300 ?
		    fuzz_app.out.len : 300), fuzz_app.out.buf);
	check_response(req.status, strcmp(req.method, "HEAD") == 0);
	/* Any write may have changed the fixture (a revoked token, a role):
	 * the repair costs one UPDATE that changes nothing. */
	if (req.route != NULL && strcmp(req.method, "GET") != 0)
		fuzz_app_repair();
	http_req_free(&req);
	return req.status;
}

int
fuzz_simple(const char *method, const char *uri, const char *token,
    const char *body)
{
	char m[64], u[512], q[512], a[128], cl[64], ct[] =
	    "CONTENT_TYPE=application/json";
	const char *qs = strchr(uri, '?');
	char *envp[7];
	int n = 0;

	snprintf(m, sizeof(m), "REQUEST_METHOD=%s", method);
	snprintf(u, sizeof(u), "REQUEST_URI=%s", uri);
	snprintf(q, sizeof(q), "QUERY_STRING=%s", qs ? qs + 1 : "");
	envp[n++] = m;
	envp[n++] = u;
	envp[n++] = q;
	if (token != NULL) {
		snprintf(a, sizeof(a), "HTTP_AUTHORIZATION=Bearer %s",
		    fuzz_token(token) ? fuzz_token(token) : token);
		envp[n++] = a;
	}
	if (body != NULL) {
		snprintf(cl, sizeof(cl), "CONTENT_LENGTH=%zu", strlen(body));
		envp[n++] = cl;
		envp[n++] = ct;
	}
	envp[n] = NULL;
	return fuzz_request(envp, body ? body : "", body ? strlen(body) : 0);
}

/* rconn: see rconn.h. */
#include "autoconf.h"

#include <poll.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <uriparser/Uri.h>

#include "log.h"
#include "metrics.h"
#include "rconn.h"
#include "util.h"

#define RCONN_MAXARGS	128
/* A connection unused this long is checked before use (rconn_alive). */
#define RCONN_IDLE_US	1000

/*
 * hiredis 0.14's reader callocs an array reply's element pointers as soon
 * as it reads the count, so "*999999999" alone asks for 8 GB before a
 * single element arrives (1.x added maxelements; 0.14 has no limit). No
 * reply chatdesk asks for comes near this bound (room lists hold 50, the
 * dead list at most dead_max, SCAN pages 1000, dead retry pages
 * RCONN_PAGE): a larger count is a broken or hostile server, refused as a
 * protocol error like any other.
 */
static redisReplyObjectFunctions bounded_fns;
static void *(*library_array)(const redisReadTask *, int);

static void *
bounded_array(const redisReadTask *task, int elements)
{

	if (elements < 0 || elements > RCONN_MAX_ELEMENTS)
		return NULL;	/* the reader reports "Out of memory" */
	return library_array(task, elements);
}

void
rconn_bound_reader(redisReader *reader)
{

	if (library_array == NULL) {
		bounded_fns = *reader->fn;
		library_array = bounded_fns.createArray;
		bounded_fns.createArray = bounded_array;
	}
	reader->fn = &bounded_fns;
}

/* Every failed command or connection is counted here, and only here. */
static void
count_error(void)
{
	metrics_redis_error();
}

struct rconn {
	struct rconn_url url;
	int		 configured;	/* 0 when the URL is empty */
	redisContext	*ctx;
	long long	 connect_ms;
	long long	 command_ms;
	long long	 retry_ms;
	int64_t		 down_until;	/* monotonic us; 0 = may try now */
	int64_t		 used_us;	/* the last answer on ctx */
	int		 restoring;	/* failed since the last answer */
	int		 refs;
	void		(*on_connect)(void *);
	void		*on_connect_arg;
	int		 in_on_connect;
	redisReader	*reader;	/* rconn_set_reader: tests only */
};

static int
range_copy(char *dst, size_t dstsz, const UriTextRangeA *r)
{
	size_t n;

	if (r->first == NULL || r->afterLast == NULL) {
		dst[0] = '\0';
		return 0;
	}
	n = (size_t)(r->afterLast - r->first);
	if (n >= dstsz)
		return -1;
	memcpy(dst, r->first, n);
	dst[n] = '\0';
	return 0;
}

/* userinfo ":PASS" (a user name is not supported by Redis < 6 AUTH). */
static int
parse_password(const UriUriA *uri, struct rconn_url *out, char *err,
    size_t errsz)
{
	char ui[256];
	const char *end;

	if (range_copy(ui, sizeof(ui), &uri->userInfo) == -1) {
		snprintf(err, errsz, "password too long");
		return -1;
	}
	if (ui[0] == '\0')
		return 0;
	if (ui[0] != ':') {
		snprintf(err, errsz, "expected :PASSWORD@ before the host");
		return -1;
	}
	end = uriUnescapeInPlaceExA(ui + 1, URI_FALSE, URI_BR_DONT_TOUCH);
	if (memchr(ui + 1, '\0', (size_t)(end - (ui + 1))) != NULL) {
		snprintf(err, errsz, "password holds a NUL byte");
		return -1;
	}
	memcpy(out->password, ui + 1, (size_t)(end - (ui + 1)) + 1);
	return 0;
}

int
rconn_parse_url(const char *url, struct rconn_url *out, char *err,
    size_t errsz)
{
	UriUriA uri;
	const char *errpos;
	char scheme[16], num[32], q[64];
	UriPathSegmentA *seg;
	long long v;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->port = 6379;
	if (uriParseSingleUriA(&uri, url, &errpos) != URI_SUCCESS) {
		snprintf(err, errsz, "not a URL");
		return -1;
	}
	if (range_copy(scheme, sizeof(scheme), &uri.scheme) == -1)
		goto bad_scheme;
	if (parse_password(&uri, out, err, errsz) == -1)
		goto out;
	if (strcmp(scheme, "redis") == 0) {
		if (range_copy(out->host, sizeof(out->host), &uri.hostText) == -1 ||
		    out->host[0] == '\0') {
			snprintf(err, errsz, "missing host");
			goto out;
		}
		if (uri.portText.first != NULL) {
			if (range_copy(num, sizeof(num), &uri.portText) == -1 ||
			    util_parse_int(num, 1, 65535, &v) == -1) {
				snprintf(err, errsz, "bad port");
				goto out;
			}
			out->port = (int)v;
		}
		seg = uri.pathHead;
		if (seg != NULL && seg->text.first != seg->text.afterLast) {
			if (seg->next != NULL ||
			    range_copy(num, sizeof(num), &seg->text) == -1 ||
			    util_parse_int(num, 0, 1000, &v) == -1) {
				snprintf(err, errsz, "bad database number");
				goto out;
			}
			out->db = (int)v;
		}
	} else if (strcmp(scheme, "unix") == 0) {
		out->is_unix = 1;
		out->path[0] = '\0';
		for (seg = uri.pathHead; seg != NULL; seg = seg->next) {
			size_t len = strlen(out->path);
			size_t n = (size_t)(seg->text.afterLast - seg->text.first);

			if (len + n + 2 >= sizeof(out->path)) {
				snprintf(err, errsz, "socket path too long");
				goto out;
			}
			out->path[len] = '/';
			memcpy(out->path + len + 1, seg->text.first, n);
			out->path[len + 1 + n] = '\0';
		}
		if (out->path[0] == '\0' || out->path[strlen(out->path) - 1] == '/') {
			snprintf(err, errsz, "missing socket path");
			goto out;
		}
		if (uri.query.first != NULL) {
			if (range_copy(q, sizeof(q), &uri.query) == -1 ||
			    strncmp(q, "db=", 3) != 0 ||
			    util_parse_int(q + 3, 0, 1000, &v) == -1) {
				snprintf(err, errsz, "bad query (expected ?db=N)");
				goto out;
			}
			out->db = (int)v;
		}
	} else
		goto bad_scheme;
	rc = 0;
	goto out;
bad_scheme:
	snprintf(err, errsz, "expected redis:// or unix://");
out:
	uriFreeUriMembersA(&uri);
	return rc;
}

struct rconn *
rconn_new(const char *url, long long connect_ms, long long command_ms,
    long long retry_ms)
{
	struct rconn *rc;
	char err[128];

	if ((rc = calloc(1, sizeof(*rc))) == NULL)
		abort();
	rc->connect_ms = connect_ms;
	rc->command_ms = command_ms;
	rc->retry_ms = retry_ms;
	rc->refs = 1;
	if (url != NULL && *url != '\0' &&
	    rconn_parse_url(url, &rc->url, err, sizeof(err)) == 0)
		rc->configured = 1;
	return rc;
}

struct rconn *
rconn_ref(struct rconn *rc)
{
	rc->refs++;
	return rc;
}

void
rconn_free(struct rconn *rc)
{
	if (rc == NULL || --rc->refs > 0)
		return;
	if (rc->ctx != NULL)
		redisFree(rc->ctx);
	free(rc);
}

void
rconn_failed(struct rconn *rc, const char *what)
{
	if (rc->ctx != NULL) {
		log_warn("redis %s failed: %s; retrying in %lld ms", what,
		    rc->ctx->errstr[0] ? rc->ctx->errstr : "error reply",
		    rc->retry_ms);
		redisFree(rc->ctx);
		rc->ctx = NULL;
	}
	count_error();
	rc->restoring = 1;
	rc->down_until = util_mono_us() + rc->retry_ms * 1000;
}

/*
 * Redis answered on the connection. The end of an outage is logged here,
 * after a command worked, not after connect(2): a frozen Redis (SIGSTOP,
 * a hung host) still accepts connections from the kernel's backlog.
 */
static void
rconn_answered(struct rconn *rc, int ok)
{
	rc->used_us = util_mono_us();
	if (ok && rc->restoring) {
		rc->restoring = 0;
		log_info("redis connection restored");
	}
}

/*
 * 1 if an idle connection is still open. Redis never speaks unasked, so
 * anything to read (EOF included) means the server closed it: Redis
 * restarted, or its `timeout` dropped an idle client. One poll(2), no
 * round trip. A frozen Redis keeps the socket open and looks alive here;
 * the command timeout handles that.
 */
static int
rconn_alive(struct rconn *rc)
{
	struct pollfd pfd;

	pfd.fd = rc->ctx->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	return poll(&pfd, 1, 0) == 0;
}

static struct timeval
ms_tv(long long ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

/* Runs AUTH and SELECT on a fresh context. Returns 0 or -1. */
static int
rconn_setup(struct rconn *rc)
{
	redisReply *r;
	char db[16];

	if (rc->url.password[0] != '\0') {
		r = redisCommand(rc->ctx, "AUTH %s", rc->url.password);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			log_warn("redis AUTH refused: %s",
			    r ? r->str : rc->ctx->errstr);
			if (r)
				freeReplyObject(r);
			return -1;
		}
		freeReplyObject(r);
	}
	if (rc->url.db != 0) {
		snprintf(db, sizeof(db), "%d", rc->url.db);
		r = redisCommand(rc->ctx, "SELECT %s", db);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			log_warn("redis SELECT %s refused", db);
			if (r)
				freeReplyObject(r);
			return -1;
		}
		freeReplyObject(r);
	}
	return 0;
}

redisContext *
rconn_get(struct rconn *rc)
{
	struct timeval ctv, cmd;

	if (rc->ctx != NULL) {
		if (util_mono_us() - rc->used_us < RCONN_IDLE_US ||
		    rconn_alive(rc))
			return rc->ctx;
		/*
		 * Closed while this process was idle. Connect again now: a
		 * command on the dead socket would fail and cost the whole
		 * back-off with Redis up again.
		 */
		log_info("redis closed the idle connection; reconnecting");
		redisFree(rc->ctx);
		rc->ctx = NULL;
		rc->down_until = 0;
	}
	if (!rc->configured)
		return NULL;
	if (rc->down_until != 0 && util_mono_us() < rc->down_until)
		return NULL;
	ctv = ms_tv(rc->connect_ms);
	cmd = ms_tv(rc->command_ms);
	if (rc->url.is_unix)
		rc->ctx = redisConnectUnixWithTimeout(rc->url.path, ctv);
	else
		rc->ctx = redisConnectWithTimeout(rc->url.host, rc->url.port, ctv);
	if (rc->ctx == NULL) {
		rconn_failed(rc, "connect");
		return NULL;
	}
	/* hiredis 0.14 bounds only the connect: set the command timeout.
	 * Its socket is made without close-on-exec: a notify_command child
	 * must not inherit an authenticated connection (issue 13). */
	if (rc->ctx->err == 0)
		rconn_bound_reader(rc->ctx->reader);
	if (rc->ctx->err || fcntl(rc->ctx->fd, F_SETFD, FD_CLOEXEC) == -1 ||
	    redisSetTimeout(rc->ctx, cmd) != REDIS_OK ||
	    rconn_setup(rc) == -1) {
		rconn_failed(rc, "connect");
		return NULL;
	}
	rc->down_until = 0;
	rc->used_us = util_mono_us();
	if (rc->on_connect != NULL && !rc->in_on_connect) {
		rc->in_on_connect = 1;
		rc->on_connect(rc->on_connect_arg);
		rc->in_on_connect = 0;
	}
	return rc->ctx;
}

void
rconn_on_connect(struct rconn *rc, void (*fn)(void *), void *arg)
{
	rc->on_connect = fn;
	rc->on_connect_arg = arg;
}

void
rconn_set_reader(struct rconn *rc, redisReader *reader)
{
	rc->reader = reader;
}

/* The next reply of the test's reader, or NULL after a failure. */
static void *
reader_reply(struct rconn *rc, const char *what)
{
	void *r = NULL;

	if (redisReaderGetReply(rc->reader, &r) != REDIS_OK || r == NULL) {
		rconn_failed(rc, what);
		return NULL;
	}
	return r;
}

redisReply *
rconn_call(struct rconn *rc, int argc, const char **argv, const size_t *lens)
{
	redisContext *c;
	redisReply *r;

	if (rc->reader != NULL)
		return reader_reply(rc, argv[0]);
	if ((c = rconn_get(rc)) == NULL)
		return NULL;
	if ((r = redisCommandArgv(c, argc, argv, lens)) == NULL)
		rconn_failed(rc, argv[0]);
	else
		rconn_answered(rc, r->type != REDIS_REPLY_ERROR);
	return r;
}

int
rconn_pipeline(struct rconn *rc, int n, const int *argc,
    const char *const *argv[], const size_t *const lens[],
    redisReply **replies)
{
	redisContext *c;
	void *r;
	int i, j;

	if (rc->reader != NULL) {
		for (i = 0; i < n; i++)
			if ((replies[i] = reader_reply(rc, "pipeline")) == NULL) {
				for (j = 0; j < i; j++)
					freeReplyObject(replies[j]);
				return -1;
			}
		return 0;
	}
	if ((c = rconn_get(rc)) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (redisAppendCommandArgv(c, argc[i], (const char **)argv[i],
		    lens[i]) != REDIS_OK) {
			rconn_failed(rc, "pipeline");
			return -1;
		}
	for (i = 0; i < n; i++) {
		if (redisGetReply(c, &r) != REDIS_OK || r == NULL) {
			for (j = 0; j < i; j++)
				freeReplyObject(replies[j]);
			rconn_failed(rc, "pipeline");
			return -1;
		}
		replies[i] = r;
	}
	rconn_answered(rc, 1);
	return 0;
}

static int
rscript_load(struct rconn *rc, struct rscript *sc)
{
	redisReply *r;

	r = rconn_cmdv(rc, "SCRIPT", "LOAD", sc->src, NULL);
	if (r == NULL)
		return -1;
	if (r->type != REDIS_REPLY_STRING || r->len != 40) {
		freeReplyObject(r);
		return -1;
	}
	memcpy(sc->sha, r->str, 40);
	sc->sha[40] = '\0';
	freeReplyObject(r);
	return 0;
}

redisReply *
rconn_eval(struct rconn *rc, struct rscript *sc, int nkeys, int argc,
    const char **argv, const size_t *lens)
{
	const char *av[RCONN_MAXARGS];
	size_t lv[RCONN_MAXARGS];
	char nk[16];
	redisReply *r;
	int i, try;

	if (argc + 3 > RCONN_MAXARGS)
		return NULL;
	snprintf(nk, sizeof(nk), "%d", nkeys);
	for (try = 0; try < 2; try++) {
		if (sc->sha[0] == '\0' && rscript_load(rc, sc) == -1)
			return NULL;
		av[0] = "EVALSHA";
		lv[0] = 7;
		av[1] = sc->sha;
		lv[1] = 40;
		av[2] = nk;
		lv[2] = strlen(nk);
		for (i = 0; i < argc; i++) {
			av[i + 3] = argv[i];
			lv[i + 3] = lens[i];
		}
		if ((r = rconn_call(rc, argc + 3, av, lv)) == NULL)
			return NULL;
		if (r->type != REDIS_REPLY_ERROR)
			return r;
		/* Redis restarted or flushed its scripts: load again once. */
		if (strncmp(r->str, "NOSCRIPT", 8) == 0) {
			freeReplyObject(r);
			sc->sha[0] = '\0';
			continue;
		}
		return rconn_refused(r, "EVALSHA");
	}
	return NULL;
}

redisReply *
rconn_evalv(struct rconn *rc, struct rscript *sc, int nkeys, ...)
{
	const char *argv[RCONN_MAXARGS];
	size_t lens[RCONN_MAXARGS];
	va_list ap;
	int argc = 0;
	const char *a;

	va_start(ap, nkeys);
	while ((a = va_arg(ap, const char *)) != NULL &&
	    argc < RCONN_MAXARGS - 3) {
		argv[argc] = a;
		lens[argc] = strlen(a);
		argc++;
	}
	va_end(ap);
	return rconn_eval(rc, sc, nkeys, argc, argv, lens);
}

redisReply *
rconn_refused(redisReply *r, const char *what)
{
	if (r == NULL || r->type != REDIS_REPLY_ERROR)
		return r;
	/* The connection is fine; the command was refused. */
	log_warn("redis %s: %s", what, r->str);
	count_error();
	freeReplyObject(r);
	return NULL;
}

redisReply *
rconn_cmd(struct rconn *rc, int argc, const char **argv, const size_t *lens)
{
	return rconn_refused(rconn_call(rc, argc, argv, lens), argv[0]);
}

redisReply *
rconn_cmdv(struct rconn *rc, const char *arg0, ...)
{
	const char *argv[RCONN_MAXARGS];
	size_t lens[RCONN_MAXARGS];
	va_list ap;
	int argc = 0;
	const char *a;

	va_start(ap, arg0);
	for (a = arg0; a != NULL && argc < RCONN_MAXARGS; a = va_arg(ap, const char *)) {
		argv[argc] = a;
		lens[argc] = strlen(a);
		argc++;
	}
	va_end(ap);
	return rconn_cmd(rc, argc, argv, lens);
}

long long
rconn_int(redisReply *r)
{
	long long n = -1;

	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	freeReplyObject(r);
	return n;
}

int
rconn_ping(struct rconn *rc)
{
	redisReply *r;
	int ok;

	if ((r = rconn_cmdv(rc, "PING", NULL)) == NULL)
		return 0;
	ok = r->type == REDIS_REPLY_STATUS;
	freeReplyObject(r);
	return ok;
}

long long
rconn_info_field(const char *info, const char *name)
{
	const char *p = info;
	size_t n = strlen(name);

	while ((p = strstr(p, name)) != NULL) {
		if ((p == info || p[-1] == '\n') && p[n] == ':')
			return strtoll(p + n + 1, NULL, 10);
		p += n;
	}
	return 0;
}

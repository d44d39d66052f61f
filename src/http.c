/* http: see http.h. */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uriparser/Uri.h>

#include "http.h"
#include "log.h"
#include "util.h"

void
http_io_init(struct http_io *io)
{
	strbuf_init(&io->path);
	strbuf_init(&io->query);
	strbuf_init(&io->in);
	strbuf_init(&io->extra);
	strbuf_init(&io->head);
	strbuf_init(&io->body);
	io->refused = NULL;
	io->refused_arg = NULL;
}

void
http_io_free(struct http_io *io)
{
	strbuf_free(&io->path);
	strbuf_free(&io->query);
	strbuf_free(&io->in);
	strbuf_free(&io->extra);
	strbuf_free(&io->head);
	strbuf_free(&io->body);
}

static int
request_id_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > HTTP_REQUEST_ID_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '_' && s[i] != '.')
			return 0;
	return 1;
}

static void
req_common_init(struct req *req, struct http_io *io)
{
	memset(req, 0, sizeof(*req));
	req->io = io;
	req->content_length = -1;
	req->route_index = -1;
	req->start_us = util_mono_us();
	strbuf_reset(&io->path);
	strbuf_reset(&io->query);
	strbuf_reset(&io->extra);
}

/* Cuts the query off the request URI into io->path. */
static void
req_set_path(struct req *req, const char *uri)
{
	const char *q = strchr(uri, '?');

	strbuf_add(&req->io->path, uri, q ? (size_t)(q - uri) : strlen(uri));
	req->path = req->io->path.buf;
}

static void
req_set_id(struct req *req, const char *given)
{
	unsigned char rnd[16];

	if (given != NULL && request_id_ok(given)) {
		snprintf(req->request_id, sizeof(req->request_id), "%s", given);
		return;
	}
	util_random(rnd, sizeof(rnd));
	util_hex(rnd, sizeof(rnd), req->request_id);
}

static const char *
param_or(FCGX_ParamArray envp, const char *name, const char *def)
{
	const char *v = FCGX_GetParam(name, envp);

	return v != NULL ? v : def;
}

int
http_req_init(struct req *req, FCGX_Request *fr, struct http_io *io)
{
	const char *cl, *uri, *qs, *err;
	long long n;

	req_common_init(req, io);
	req->fcgi = fr;
	req_set_id(req, FCGX_GetParam("REQUEST_ID", fr->envp));
	req->method = param_or(fr->envp, "REQUEST_METHOD", "GET");
	uri = param_or(fr->envp, "REQUEST_URI", NULL);
	if (uri == NULL)
		uri = param_or(fr->envp, "DOCUMENT_URI", "/");
	req_set_path(req, uri);
	req->content_type = param_or(fr->envp, "CONTENT_TYPE", "");
	req->remote_addr = param_or(fr->envp, "REMOTE_ADDR", "");
	req->authorization = FCGX_GetParam("HTTP_AUTHORIZATION", fr->envp);
	/* Set only by the presence callbacks of nginx/chatdesk-events.conf;
	 * a client's headers arrive as HTTP_* parameters and cannot make it. */
	req->internal = FCGX_GetParam("CHATDESK_INTERNAL", fr->envp) != NULL;
	cl = FCGX_GetParam("CONTENT_LENGTH", fr->envp);
	if (cl != NULL && *cl != '\0') {
		/* A length that is not a plain number is treated as too
		 * large: it is refused before anything is read. */
		if (util_parse_int(cl, 0, INT64_MAX, &n) == -1)
			n = INT64_MAX;
		req->content_length = n;
	}
	qs = param_or(fr->envp, "QUERY_STRING", "");
	if (http_parse_query(req, qs, &err) == -1) {
		http_error(req, 400, "invalid_field", NULL, "bad query string: %s",
		    err);
		return -1;
	}
	return 0;
}

int
http_req_init_raw(struct req *req, const char *method, const char *uri,
    struct http_io *io)
{
	const char *q, *err;

	req_common_init(req, io);
	req_set_id(req, NULL);
	req->method = method;
	req->content_type = "";
	req->remote_addr = "";
	req_set_path(req, uri);
	q = strchr(uri, '?');
	if (http_parse_query(req, q ? q + 1 : "", &err) == -1) {
		http_error(req, 400, "invalid_field", NULL, "bad query string: %s",
		    err);
		return -1;
	}
	return 0;
}

void
http_req_free(struct req *req)
{
	if (req->body != NULL)
		json_decref(req->body);
	req->body = NULL;
}

/* Decodes s in place (percent escapes, '+' as space). Returns the decoded
 * length, or -1 if it holds a NUL byte or is not UTF-8. */
static long
query_unescape(char *s)
{
	const char *end;
	size_t n;

	end = uriUnescapeInPlaceExA(s, URI_TRUE, URI_BR_DONT_TOUCH);
	n = (size_t)(end - s);
	if (memchr(s, '\0', n) != NULL || !util_utf8_ok(s, n))
		return -1;
	return (long)n;
}

int
http_parse_query(struct req *req, const char *qs, const char **err)
{
	struct strbuf *qb = &req->io->query;
	char *p, *amp, *eq;
	long klen, vlen;
	size_t n = strlen(qs);

	req->nparams = 0;
	if (n == 0)
		return 0;
	if (n > HTTP_MAX_QUERY) {
		*err = "query string too long";
		return -1;
	}
	strbuf_reset(qb);
	strbuf_add(qb, qs, n);
	for (p = qb->buf; p != NULL; p = amp) {
		if ((amp = strchr(p, '&')) != NULL)
			*amp++ = '\0';
		if (*p == '\0')
			continue;
		if (req->nparams == HTTP_MAX_PARAMS) {
			*err = "too many parameters";
			return -1;
		}
		if ((eq = strchr(p, '=')) != NULL)
			*eq++ = '\0';
		else
			eq = p + strlen(p);	/* "flag": empty value */
		if ((klen = query_unescape(p)) < 0 ||
		    (vlen = query_unescape(eq)) < 0) {
			*err = "bad percent-encoding or UTF-8";
			return -1;
		}
		req->params[req->nparams].key = p;
		req->params[req->nparams].val = eq;
		req->params[req->nparams].vlen = (size_t)vlen;
		req->nparams++;
	}
	return 0;
}

const char *
http_param(const struct req *req, const char *key)
{
	int i;

	for (i = req->nparams - 1; i >= 0; i--)
		if (strcmp(req->params[i].key, key) == 0)
			return req->params[i].val;
	return NULL;
}

int
http_is_json_type(const char *ct)
{
	const char *p;

	if (strncasecmp(ct, "application/json", 16) != 0)
		return 0;
	p = ct + 16;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return 1;
	if (*p++ != ';')
		return 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "charset=", 8) != 0)
		return 0;
	p += 8;
	if (strncasecmp(p, "utf-8", 5) == 0)
		p += 5;
	else if (strncasecmp(p, "\"utf-8\"", 7) == 0)
		p += 7;
	else
		return 0;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == '\0';
}

json_t *
http_parse_json(const char *buf, size_t len, const char **code, char *msg,
    size_t msgsz)
{
	json_error_t jerr;
	json_t *j;

	/* jansson refuses invalid UTF-8 and \u0000 (no JSON_ALLOW_NUL). */
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL) {
		*code = "invalid_json";
		snprintf(msg, msgsz, "invalid JSON at byte %d: %.80s",
		    jerr.position, jerr.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		*code = "invalid_json";
		snprintf(msg, msgsz, "body must be a JSON object");
		return NULL;
	}
	return j;
}

static void
set_rcvtimeo(int fd, long long ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/*
 * Reads len bytes of body. libfcgi reads blocking: a web server (or
 * anything else on the socket) that stalls mid-body would hold this
 * process for ever, so each read of the connection is bounded by
 * body_timeout_ms; a read that times out fails the stream (libfcgi then
 * closes the connection after the answer). Returns the bytes read.
 */
static int
read_body(struct req *req, char *buf, int len)
{
	int fd = req->fcgi->ipcFd, got;

	if (req->io->body_timeout_ms > 0)
		set_rcvtimeo(fd, req->io->body_timeout_ms);
	got = FCGX_GetStr(buf, len, req->fcgi->in);
	if (req->io->body_timeout_ms > 0)
		set_rcvtimeo(fd, 0);
	return got;
}

int
http_read_json(struct req *req, long long max, int allow_empty)
{
	struct strbuf *in = &req->io->in;
	const char *code;
	char msg[160];
	long long len = req->content_length < 0 ? 0 : req->content_length;
	int got;

	if (len == 0 && allow_empty) {
		if ((req->body = json_object()) == NULL)
			abort();
		return 0;
	}
	if (!http_is_json_type(req->content_type)) {
		http_error(req, 415, "unsupported_media_type", NULL,
		    "body must be Content-Type: application/json");
		return -1;
	}
	/* Refused from the declared length, before a byte is read. */
	if (len > max) {
		http_error(req, 413, "payload_too_large", NULL,
		    "body must be at most %lld bytes", max);
		return -1;
	}
	if (len == 0) {
		http_error(req, 400, "invalid_json", NULL, "body is empty");
		return -1;
	}
	strbuf_reset(in);
	strbuf_reserve(in, (size_t)len);
	got = req->fcgi ? read_body(req, in->buf, (int)len) : 0;
	if (got != len) {
		http_error(req, 400, "invalid_json", NULL,
		    "body shorter than its Content-Length, or not sent within "
		    "%lld ms", req->io->body_timeout_ms);
		return -1;
	}
	in->len = (size_t)len;
	in->buf[len] = '\0';
	if ((req->body = http_parse_json(in->buf, in->len, &code, msg,
	    sizeof(msg))) == NULL) {
		http_error(req, 400, code, NULL, "%s", msg);
		return -1;
	}
	return 0;
}

void
http_header(struct req *req, const char *name, const char *value)
{
	strbuf_adds(&req->io->extra, name);
	strbuf_add(&req->io->extra, ": ", 2);
	strbuf_adds(&req->io->extra, value);
	strbuf_add(&req->io->extra, "\r\n", 2);
}

void
http_no_store(struct req *req)
{
	http_header(req, "Cache-Control", "no-store");
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

/* Writes the head and body. A client that went away makes FCGX_PutStr
 * fail; that is noted, never fatal. */
static void
http_send(struct req *req, int status, const char *ctype, const char *body,
    size_t len)
{
	struct strbuf *h = &req->io->head;

	if (req->responded) {
		log_error("request %s: second response (%d) dropped",
		    req->request_id, status);
		return;
	}
	req->responded = 1;
	req->status = status;
	/* Built by appends: this runs for every request. */
	strbuf_reset(h);
	strbuf_adds(h, "Status: ");
	strbuf_addu(h, (unsigned)status);
	strbuf_add(h, " ", 1);
	strbuf_adds(h, reason(status));
	if (ctype != NULL) {
		strbuf_adds(h, "\r\nContent-Type: ");
		strbuf_adds(h, ctype);
		strbuf_adds(h, "\r\nContent-Length: ");
		strbuf_addu(h, len);
	}
	strbuf_adds(h, "\r\nX-Request-Id: ");
	strbuf_adds(h, req->request_id);
	strbuf_add(h, "\r\n", 2);
	if (req->cache != NULL) {
		strbuf_adds(h, "X-Cache: ");
		strbuf_adds(h, req->cache);
		strbuf_add(h, "\r\n", 2);
	}
	strbuf_add(h, req->io->extra.buf ? req->io->extra.buf : "",
	    req->io->extra.len);
	strbuf_add(h, "\r\n", 2);
	if (req->fcgi == NULL)
		return;
	/* HEAD: the same head, Content-Length included, and no body. */
	if (strcmp(req->method, "HEAD") == 0)
		len = 0;
	if (FCGX_PutStr(h->buf, (int)h->len, req->fcgi->out) < 0 ||
	    (len > 0 && FCGX_PutStr(body, (int)len, req->fcgi->out) < 0))
		log_info("request %s: client went away", req->request_id);
}

static int
dump_cb(const char *buf, size_t size, void *data)
{
	strbuf_add(data, buf, size);
	return 0;
}

void
http_json(struct req *req, int status, json_t *body)
{
	struct strbuf *b = &req->io->body;

	if (req->responded) {
		json_decref(body);
		log_error("request %s: second response (%d) dropped",
		    req->request_id, status);
		return;
	}
	strbuf_reset(b);
	if (body == NULL ||
	    json_dump_callback(body, dump_cb, b, JSON_COMPACT) == -1) {
		json_decref(body);
		log_error("request %s: cannot serialise the response",
		    req->request_id);
		strbuf_reset(b);
		strbuf_adds(b, "{\"error\":{\"code\":\"internal\","
		    "\"message\":\"internal error\"}}");
		status = 500;
	} else
		json_decref(body);
	strbuf_add(b, "\n", 1);
	http_send(req, status, "application/json; charset=utf-8", b->buf,
	    b->len);
}

void
http_raw(struct req *req, int status, const char *json, size_t len)
{
	http_send(req, status, "application/json; charset=utf-8", json, len);
}

void
http_text(struct req *req, int status, const char *ctype, const char *body,
    size_t len)
{
	http_send(req, status, ctype, body, len);
}

void
http_empty(struct req *req, int status)
{
	http_send(req, status, NULL, NULL, 0);
}

static void http_verror(struct req *, int, const char *, const char *,
    const char *, va_list) __attribute__((format(printf, 5, 0)));

static void
http_verror(struct req *req, int status, const char *code, const char *field,
    const char *fmt, va_list ap)
{
	char msg[256];
	json_t *err;

	if (req->responded) {
		log_error("request %s: second response (%d) dropped",
		    req->request_id, status);
		return;
	}

	vsnprintf(msg, sizeof(msg), fmt, ap);
	err = json_pack("{s:s, s:s}", "code", code, "message", msg);
	/* A message cut inside a UTF-8 sequence is not valid JSON text. */
	if (err == NULL)
		err = json_pack("{s:s, s:s}", "code", code, "message", code);
	if (field != NULL)
		json_object_set_new(err, "field", json_string(field));
	if (status == 401)
		http_header(req, "WWW-Authenticate", "Bearer");
	http_json(req, status, json_pack("{s:o}", "error", err));
}

void
http_error(struct req *req, int status, const char *code, const char *field,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	http_verror(req, status, code, field, fmt, ap);
	va_end(ap);
}

void
http_invalid_field(struct req *req, const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	http_verror(req, 400, "invalid_field", field, fmt, ap);
	va_end(ap);
}

void
http_not_found(struct req *req)
{
	/* A 404 says nothing about what a cache held: a caller who may not
	 * see an object gets the answer of one that does not exist. */
	req->cache = NULL;
	http_error(req, 404, "not_found", NULL, "not found");
}

void
http_internal(struct req *req)
{
	if (req->io != NULL && req->io->refused != NULL &&
	    req->io->refused(req->io->refused_arg, req)) {
		http_error(req, 503, "unavailable", NULL,
		    "the database cannot take writes now; try again later");
		return;
	}
	http_error(req, 500, "internal", NULL, "internal error");
}

void
http_unavailable(struct req *req)
{
	http_error(req, 503, "unavailable", NULL,
	    "the database is unavailable");
}

/*
 * http: one request over FastCGI and its one response. Reads the params,
 * parses the query (percent-decoding by uriparser), bounds and reads the
 * body, parses JSON with jansson; writes status, headers, X-Request-Id and
 * a JSON body in one buffer, and the error shape of API.md section 1.
 *
 * The parsing functions take plain strings, so the unit tests and the
 * fuzz target drive them without a FastCGI connection.
 */
#ifndef CHATDESK_HTTP_H
#define CHATDESK_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <fcgiapp.h>
#include <jansson.h>

#include "util.h"

#define HTTP_MAX_PARAMS		16	/* query parameters kept; more: 400 */
#define HTTP_MAX_QUERY		2048	/* query string bytes; more: 400 */
#define HTTP_REQUEST_ID_MAX	64

struct req;

struct http_param {
	const char	*key;
	const char	*val;
	size_t		 vlen;
};

/*
 * Buffers owned by the process and reused by every request, so that a
 * request allocates nothing for its path, query, body or response.
 */
struct http_io {
	struct strbuf	 path;
	struct strbuf	 query;
	struct strbuf	 in;		/* the request body */
	struct strbuf	 extra;		/* extra response headers */
	struct strbuf	 head;
	struct strbuf	 body;
	/* A body read waits at most this long for each chunk from the web
	 * server (body_timeout_ms; 0: no bound). */
	long long	 body_timeout_ms;
	/*
	 * Asked by http_internal before it answers 500: nonzero when the
	 * failure was the store refusing a write it cannot take (a full
	 * disk), which is 503 unavailable, the client's to retry. Set by the
	 * dispatcher, which knows the store; NULL: always 500.
	 */
	int		(*refused)(void *arg, const struct req *);
	void		*refused_arg;
};

void http_io_init(struct http_io *);
void http_io_free(struct http_io *);

struct req {
	FCGX_Request	*fcgi;		/* NULL when driven by tests */
	struct http_io	*io;
	const char	*method;
	const char	*path;		/* raw path, query cut off */
	const char	*content_type;
	const char	*remote_addr;
	const char	*authorization;
	long long	 content_length;	/* -1: absent */
	int		 internal;	/* CHATDESK_INTERNAL: nginx's own
					 * subrequest (the Nchan callbacks) */
	char		 request_id[HTTP_REQUEST_ID_MAX + 1];
	struct http_param params[HTTP_MAX_PARAMS];
	int		 nparams;
	json_t		*body;

	/* Filled while the request is handled, read by the log line. */
	int		 status;
	int		 responded;
	const char	*route;		/* the matched pattern */
	int		 route_index;	/* in api_routes; -1: none */
	const char	*cache;		/* HIT, MISS, BYPASS or NULL */
	int64_t		 user_id;	/* 0: anonymous */
	int		 role;		/* enum role, once authenticated */
	unsigned char	 token_hash[32];	/* SHA-256 of the token, set when
					 * auth had to look it up */
	int64_t		 token_id;	/* the bearer token's row */
	int64_t		 token_expires_at;	/* Unix ms; 0: never */
	int64_t		 start_us;
};

/* Fills req from the FastCGI params; never fails (missing params are
 * empty). Returns -1 only when the query string is unusable, after
 * answering 400. */
int http_req_init(struct req *, FCGX_Request *, struct http_io *);
/* Same from plain values, for tests and fuzzing. */
int http_req_init_raw(struct req *, const char *method, const char *uri,
    struct http_io *);
void http_req_free(struct req *);

/*
 * Parses a query string into req->params, percent-decoding keys and
 * values and refusing NUL bytes, invalid UTF-8, more than
 * HTTP_MAX_PARAMS parameters or a longer string than HTTP_MAX_QUERY.
 * Returns 0, or -1 with the reason in err.
 */
int http_parse_query(struct req *, const char *qs, const char **err);
/* The value of a query parameter, or NULL. The last one wins. */
const char *http_param(const struct req *, const char *key);

/*
 * Checks the request for a JSON body: content type (415), declared length
 * against max (413, before any read), then reads exactly that many bytes
 * and parses an object (400). With allow_empty, an absent or empty body
 * yields an empty object. Returns 0 with req->body set, or -1 after
 * answering the error.
 */
int http_read_json(struct req *, long long max, int allow_empty);
/* The parsing half of http_read_json, for tests and fuzzing: buf holds
 * len bytes. Returns the object or NULL with *code and *msg set. */
json_t *http_parse_json(const char *buf, size_t len, const char **code,
    char *msg, size_t msgsz);
/* 1 if ct is application/json with at most a charset=utf-8 parameter. */
int http_is_json_type(const char *ct);

/* Adds a response header line (name and value must hold no CR/LF). */
void http_header(struct req *, const char *name, const char *value);
/* Adds Cache-Control: no-store, for every answer that carries a token
 * (API.md section 9): no proxy or browser cache may keep it. */
void http_no_store(struct req *);
/* Answers status with the JSON value (its reference is stolen). */
void http_json(struct req *, int status, json_t *body);
/* Answers status with a JSON text already serialised (sent as it is). */
void http_raw(struct req *, int status, const char *json, size_t len);
/* Answers status with a body of another content type (/metrics). */
void http_text(struct req *, int status, const char *ctype,
    const char *body, size_t len);
/* Answers with no body (204). */
void http_empty(struct req *, int status);
/* Answers the error shape. field may be NULL. The message is formatted. */
void http_error(struct req *, int status, const char *code,
    const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Shorthands for the common errors. */
void http_invalid_field(struct req *, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 404 not_found, without X-Cache whatever the handler read: byte for byte
 * the answer of an object that does not exist (API.md section 4). */
void http_not_found(struct req *);
void http_internal(struct req *);
void http_unavailable(struct req *);

#endif

/*
 * Unit tests for http without a FastCGI connection (req.fcgi == NULL):
 * the query parser, the JSON content-type check and body parser, and the
 * response writer, whose head and body stay in the http_io buffers where
 * these tests read them (API.md section 1).
 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "http.h"
#include "log.h"

/* One set of buffers for the whole run, reused as the server does: a
 * test that leaves stale state behind shows up in the next one. */
static struct http_io io;

static int
group_setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	/* "second response dropped" is logged at error level on purpose;
	 * keep stderr for real surprises. */
	log_init("test_http", LOGL__MAX);
	http_io_init(&io);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	http_io_free(&io);
	return 0;
}

/* Inits a request that must succeed. */
static void
req_ok(struct req *req, const char *uri)
{
	if (http_req_init_raw(req, "GET", uri, &io) != 0)
		fail_msg("'%s' refused: %s", uri, io.body.buf);
	assert_false(req->responded);
}

/* Inits a request whose query must be refused with a 400. */
static void
req_bad(const char *uri)
{
	struct req req;

	if (http_req_init_raw(&req, "GET", uri, &io) != -1)
		fail_msg("'%.80s' accepted", uri);
	assert_int_equal(req.status, 400);
	assert_true(req.responded);
	assert_non_null(strstr(io.head.buf, "Status: 400 Bad Request\r\n"));
	assert_non_null(strstr(io.body.buf, "\"invalid_field\""));
	http_req_free(&req);
}

static void
test_query(void **state)
{
	struct req req;

	(void)state;
	req_ok(&req, "/p?a=1&b=x%20y&c=%E2%82%AC&d");
	assert_string_equal(req.method, "GET");
	assert_string_equal(req.path, "/p");
	assert_int_equal(req.nparams, 4);
	assert_string_equal(http_param(&req, "a"), "1");
	assert_string_equal(http_param(&req, "b"), "x y");
	assert_string_equal(http_param(&req, "c"), "\xe2\x82\xac");
	/* A flag is present with an empty value. */
	assert_non_null(http_param(&req, "d"));
	assert_string_equal(http_param(&req, "d"), "");
	assert_null(http_param(&req, "e"));
	assert_null(http_param(&req, "A"));	/* keys are case-sensitive */
	assert_int_equal(req.params[1].vlen, 3);
	assert_int_equal(req.params[2].vlen, 3);
	assert_int_equal(req.params[3].vlen, 0);
	http_req_free(&req);
}

static void
test_query_decoding(void **state)
{
	struct req req;

	(void)state;
	/* '+' is a space in a query; an encoded '+' is a plus. */
	req_ok(&req, "/p?q=a+b&r=1%2B1&s=%26%3D&%6b%65%79=v&t=&=x");
	assert_string_equal(http_param(&req, "q"), "a b");
	assert_string_equal(http_param(&req, "r"), "1+1");
	assert_string_equal(http_param(&req, "s"), "&=");
	assert_string_equal(http_param(&req, "key"), "v");
	assert_string_equal(http_param(&req, "t"), "");
	assert_string_equal(http_param(&req, ""), "x");
	http_req_free(&req);

	/* The last one wins. */
	req_ok(&req, "/p?limit=1&limit=2&limit=3");
	assert_string_equal(http_param(&req, "limit"), "3");
	http_req_free(&req);

	/* Empty pieces are skipped, not counted. */
	req_ok(&req, "/p?&&a=1&&");
	assert_int_equal(req.nparams, 1);
	http_req_free(&req);

	/* No query, and an empty one. */
	req_ok(&req, "/api/v1/health");
	assert_string_equal(req.path, "/api/v1/health");
	assert_int_equal(req.nparams, 0);
	assert_null(http_param(&req, "a"));
	http_req_free(&req);
	req_ok(&req, "/p?");
	assert_string_equal(req.path, "/p");
	assert_int_equal(req.nparams, 0);
	http_req_free(&req);

	/* A second request on the same buffers forgets the first. */
	req_ok(&req, "/p?a=1");
	http_req_free(&req);
	req_ok(&req, "/q?b=2");
	assert_null(http_param(&req, "a"));
	assert_string_equal(http_param(&req, "b"), "2");
	http_req_free(&req);
}

static void
test_query_refused(void **state)
{
	char uri[HTTP_MAX_QUERY + 64];
	struct req req;
	size_t n;
	int i;

	(void)state;
	req_bad("/p?a=%00");			/* NUL in a value */
	req_bad("/p?a%00=1");			/* NUL in a key */
	req_bad("/p?a=x%00y");
	req_bad("/p?a=%FF");			/* not UTF-8 */
	req_bad("/p?a=%C0%AF");			/* overlong */
	req_bad("/p?a=%ED%A0%80");		/* a surrogate */
	req_bad("/p?%E2%82=1");			/* truncated, in a key */

	/* HTTP_MAX_PARAMS are kept; one more is a 400, not a silent cut. */
	n = (size_t)snprintf(uri, sizeof(uri), "/p?");
	for (i = 0; i < HTTP_MAX_PARAMS; i++)
		n += (size_t)snprintf(uri + n, sizeof(uri) - n, "k%d=%d&", i, i);
	req_ok(&req, uri);
	assert_int_equal(req.nparams, HTTP_MAX_PARAMS);
	assert_string_equal(http_param(&req, "k15"), "15");
	http_req_free(&req);
	snprintf(uri + n, sizeof(uri) - n, "k%d=%d", i, i);
	req_bad(uri);

	/* HTTP_MAX_QUERY bytes pass; one more does not. */
	memcpy(uri, "/p?a=", 5);
	memset(uri + 5, 'x', HTTP_MAX_QUERY - 2);
	uri[3 + HTTP_MAX_QUERY] = '\0';
	assert_int_equal(strlen(uri + 3), HTTP_MAX_QUERY);
	req_ok(&req, uri);
	assert_int_equal(strlen(http_param(&req, "a")), HTTP_MAX_QUERY - 2);
	http_req_free(&req);
	uri[3 + HTTP_MAX_QUERY] = 'x';
	uri[4 + HTTP_MAX_QUERY] = '\0';
	req_bad(uri);
}

static void
test_json_type(void **state)
{
	static const char *const good[] = {
		"application/json",
		"application/json; charset=utf-8",
		"application/json;charset=utf-8",
		"Application/JSON; Charset=UTF-8",
		"application/json; charset=\"utf-8\"",
		"application/json ; charset=utf-8 ",
	};
	static const char *const bad[] = {
		"",
		"text/plain",
		"application/jsonx",
		"application/json-patch+json",
		"application/x-www-form-urlencoded",
		"application/json; charset=latin1",
		"application/json; charset=utf-16",
		"application/json; charset=utf-8; foo=bar",
		"application/json; foo=bar",
		"application/json;",
		"application/json; charset=",
		"application/json; charset=\"utf-8",
		"text/json",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!http_is_json_type(good[i]))
			fail_msg("'%s' refused", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (http_is_json_type(bad[i]))
			fail_msg("'%s' accepted", bad[i]);
}

/* Parses text (len bytes, may hold NULs) and expects an invalid_json. */
static void
json_bad(const char *text, size_t len)
{
	const char *code = NULL;
	char msg[160] = "";
	json_t *j;

	j = http_parse_json(text, len, &code, msg, sizeof(msg));
	if (j != NULL) {
		json_decref(j);
		fail_msg("'%s' accepted", text);
	}
	assert_non_null(code);
	assert_string_equal(code, "invalid_json");
	assert_true(msg[0] != '\0');
}
#define JSON_BAD(s)	json_bad(s, sizeof(s) - 1)

static void
test_parse_json(void **state)
{
	static const char obj[] = "{\"a\":1,\"b\":\"\xe2\x82\xac\"}";
	const char *code = NULL;
	char msg[160];
	json_t *j;

	(void)state;
	j = http_parse_json(obj, strlen(obj), &code, msg, sizeof(msg));
	assert_non_null(j);
	assert_true(json_is_object(j));
	assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
	assert_string_equal(json_string_value(json_object_get(j, "b")),
	    "\xe2\x82\xac");
	json_decref(j);

	j = http_parse_json("{}", 2, &code, msg, sizeof(msg));
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 0);
	json_decref(j);

	/* Only len bytes are parsed. */
	j = http_parse_json("{}garbage", 2, &code, msg, sizeof(msg));
	assert_non_null(j);
	json_decref(j);

	/* Not an object. */
	JSON_BAD("[]");
	JSON_BAD("[1,2]");
	JSON_BAD("1");
	JSON_BAD("\"s\"");
	JSON_BAD("null");
	JSON_BAD("true");
	/* Not JSON. */
	JSON_BAD("");
	JSON_BAD("{");
	JSON_BAD("{\"a\":}");
	JSON_BAD("{'a':1}");
	JSON_BAD("{\"a\":1,}");
	JSON_BAD("{} {}");
	JSON_BAD("{}\0");
	/* Invalid UTF-8, raw or as a lone surrogate escape. */
	JSON_BAD("{\"a\":\"\xff\"}");
	JSON_BAD("{\"a\":\"\xc0\xaf\"}");
	JSON_BAD("{\"\xed\xa0\x80\":1}");
	JSON_BAD("{\"a\":\"\\ud800\"}");
	/* NUL inside a string, escaped or raw. */
	JSON_BAD("{\"a\":\"\\u0000\"}");
	JSON_BAD("{\"a\":\"x\0y\"}");
	/* Duplicate keys: which one would count is a guess. */
	JSON_BAD("{\"a\":1,\"a\":2}");
	JSON_BAD("{\"o\":{\"k\":1,\"k\":1}}");
}

/* The value of header name in io.head, or NULL. */
static const char *
head_value(const char *name, char *out, size_t outsz)
{
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\r\n%s: ", name);
	if ((p = strstr(io.head.buf, pat)) == NULL)
		return NULL;
	p += strlen(pat);
	if ((e = strstr(p, "\r\n")) == NULL || (size_t)(e - p) >= outsz)
		return NULL;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return out;
}

/* Checks the parts every JSON response has, returns the parsed body. */
static json_t *
check_json_response(const struct req *req, const char *status_line)
{
	char v[128];
	json_t *j;
	json_error_t jerr;

	assert_true(req->responded);
	assert_int_equal(strncmp(io.head.buf, status_line,
	    strlen(status_line)), 0);
	assert_non_null(head_value("Content-Type", v, sizeof(v)));
	assert_string_equal(v, "application/json; charset=utf-8");
	assert_non_null(head_value("X-Request-Id", v, sizeof(v)));
	assert_string_equal(v, req->request_id);
	assert_non_null(head_value("Content-Length", v, sizeof(v)));
	assert_int_equal(strtoull(v, NULL, 10), io.body.len);
	/* The head ends with the empty line, once. */
	assert_true(io.head.len >= 4);
	assert_string_equal(io.head.buf + io.head.len - 4, "\r\n\r\n");
	assert_true(strstr(io.head.buf, "\r\n\r\n") + 4 ==
	    io.head.buf + io.head.len);
	j = json_loadb(io.body.buf, io.body.len, 0, &jerr);
	if (j == NULL)
		fail_msg("body is not JSON: %s", jerr.text);
	return j;
}

/* Checks the error shape: {"error":{"code","message"[,"field"]}}. */
static void
check_error_body(json_t *j, const char *code, const char *message,
    const char *field)
{
	json_t *e;

	assert_int_equal(json_object_size(j), 1);
	e = json_object_get(j, "error");
	assert_true(json_is_object(e));
	assert_string_equal(json_string_value(json_object_get(e, "code")), code);
	if (message != NULL)
		assert_string_equal(json_string_value(json_object_get(e,
		    "message")), message);
	else
		assert_true(json_is_string(json_object_get(e, "message")));
	if (field != NULL) {
		assert_int_equal(json_object_size(e), 3);
		assert_string_equal(json_string_value(json_object_get(e,
		    "field")), field);
	} else {
		assert_int_equal(json_object_size(e), 2);
		assert_null(json_object_get(e, "field"));
	}
}

static void
test_error_response(void **state)
{
	struct req req;
	char v[64];
	json_t *j;

	(void)state;
	req_ok(&req, "/api/v1/rooms/5");
	/* A generated request id: 16 random bytes in hex. */
	assert_int_equal(strlen(req.request_id), 32);
	assert_int_equal(strspn(req.request_id, "0123456789abcdef"), 32);
	http_error(&req, 404, "not_found", NULL, "no room %d", 5);
	assert_int_equal(req.status, 404);
	j = check_json_response(&req, "Status: 404 Not Found\r\n");
	check_error_body(j, "not_found", "no room 5", NULL);
	json_decref(j);
	assert_null(head_value("WWW-Authenticate", v, sizeof(v)));
	http_req_free(&req);

	req_ok(&req, "/p");
	http_invalid_field(&req, "body", "body must be 1..%d bytes", 4096);
	assert_int_equal(req.status, 400);
	j = check_json_response(&req, "Status: 400 Bad Request\r\n");
	check_error_body(j, "invalid_field", "body must be 1..4096 bytes",
	    "body");
	json_decref(j);
	http_req_free(&req);

	req_ok(&req, "/p");
	http_error(&req, 401, "unauthorized", NULL, "missing token");
	j = check_json_response(&req, "Status: 401 Unauthorized\r\n");
	check_error_body(j, "unauthorized", "missing token", NULL);
	json_decref(j);
	assert_non_null(head_value("WWW-Authenticate", v, sizeof(v)));
	assert_string_equal(v, "Bearer");
	http_req_free(&req);

	/* The extra headers of one request do not reach the next. */
	req_ok(&req, "/p");
	http_not_found(&req);
	j = check_json_response(&req, "Status: 404 Not Found\r\n");
	check_error_body(j, "not_found", NULL, NULL);
	json_decref(j);
	assert_null(head_value("WWW-Authenticate", v, sizeof(v)));
	http_req_free(&req);

	/* A message cut or built inside a UTF-8 sequence cannot be a JSON
	 * string; the answer is still the error shape. */
	req_ok(&req, "/p");
	http_error(&req, 400, "invalid_field", "name", "bad \xff name");
	j = check_json_response(&req, "Status: 400 Bad Request\r\n");
	check_error_body(j, "invalid_field", NULL, "name");
	json_decref(j);
	http_req_free(&req);

	req_ok(&req, "/p");
	http_internal(&req);
	j = check_json_response(&req, "Status: 500 Internal Server Error\r\n");
	check_error_body(j, "internal", NULL, NULL);
	json_decref(j);
	http_req_free(&req);
}

static void
test_json_response(void **state)
{
	struct req req;
	char v[64];
	json_t *j;

	(void)state;
	req_ok(&req, "/p");
	req.cache = "HIT";
	http_header(&req, "Location", "/api/v1/rooms/9");
	http_json(&req, 201, json_pack("{s:I}", "id", (json_int_t)9));
	assert_int_equal(req.status, 201);
	j = check_json_response(&req, "Status: 201 Created\r\n");
	assert_int_equal(json_integer_value(json_object_get(j, "id")), 9);
	json_decref(j);
	assert_non_null(head_value("X-Cache", v, sizeof(v)));
	assert_string_equal(v, "HIT");
	assert_non_null(head_value("Location", v, sizeof(v)));
	assert_string_equal(v, "/api/v1/rooms/9");
	http_req_free(&req);

	/* A value that cannot be built is a 500, never a crash. */
	req_ok(&req, "/p");
	http_json(&req, 200, NULL);
	assert_int_equal(req.status, 500);
	j = check_json_response(&req, "Status: 500 Internal Server Error\r\n");
	check_error_body(j, "internal", NULL, NULL);
	json_decref(j);
	http_req_free(&req);

	/* 204: no body, so no Content-Type; the request id all the same. */
	req_ok(&req, "/p");
	http_empty(&req, 204);
	assert_int_equal(req.status, 204);
	assert_int_equal(strncmp(io.head.buf, "Status: 204 No Content\r\n", 24),
	    0);
	assert_null(head_value("Content-Type", v, sizeof(v)));
	assert_non_null(head_value("X-Request-Id", v, sizeof(v)));
	http_req_free(&req);
}

static void
test_second_response(void **state)
{
	struct req req;
	char *head;

	(void)state;
	req_ok(&req, "/p");
	http_error(&req, 404, "not_found", NULL, "first");
	head = strdup(io.head.buf);
	assert_non_null(head);
	http_error(&req, 401, "unauthorized", NULL, "second");
	http_json(&req, 200, json_object());
	/* The first answer stands: its status, its head. */
	assert_int_equal(req.status, 404);
	assert_true(req.responded);
	assert_string_equal(io.head.buf, head);
	free(head);
	http_req_free(&req);
}

/* http_read_json without a connection: the checks that come before any
 * byte is read, in the order API.md gives them. */
static void
test_read_json_checks(void **state)
{
	struct req req;
	json_t *j;

	(void)state;
	req_ok(&req, "/p");
	req.content_type = "text/plain";
	req.content_length = 10;
	assert_int_equal(http_read_json(&req, 100, 0), -1);
	assert_int_equal(req.status, 415);
	j = check_json_response(&req, "Status: 415 Unsupported Media Type\r\n");
	check_error_body(j, "unsupported_media_type", NULL, NULL);
	json_decref(j);
	http_req_free(&req);

	req_ok(&req, "/p");
	req.content_type = "application/json";
	req.content_length = 101;
	assert_int_equal(http_read_json(&req, 100, 0), -1);
	assert_int_equal(req.status, 413);
	j = check_json_response(&req, "Status: 413 Payload Too Large\r\n");
	check_error_body(j, "payload_too_large", NULL, NULL);
	json_decref(j);
	http_req_free(&req);

	/* A POST that takes no body accepts none. */
	req_ok(&req, "/p");
	assert_int_equal(http_read_json(&req, 100, 1), 0);
	assert_false(req.responded);
	assert_true(json_is_object(req.body));
	assert_int_equal(json_object_size(req.body), 0);
	http_req_free(&req);
	assert_null(req.body);

	/* One that needs a body refuses an empty one. */
	req_ok(&req, "/p");
	req.content_type = "application/json";
	req.content_length = 0;
	assert_int_equal(http_read_json(&req, 100, 0), -1);
	assert_int_equal(req.status, 400);
	j = check_json_response(&req, "Status: 400 Bad Request\r\n");
	check_error_body(j, "invalid_json", NULL, NULL);
	json_decref(j);
	http_req_free(&req);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_query_decoding),
		cmocka_unit_test(test_query_refused),
		cmocka_unit_test(test_json_type),
		cmocka_unit_test(test_parse_json),
		cmocka_unit_test(test_error_response),
		cmocka_unit_test(test_json_response),
		cmocka_unit_test(test_second_response),
		cmocka_unit_test(test_read_json_checks),
	};

	/* One group: one TAP plan, which is all tap-driver accepts. */
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/*
 * Unit tests for the router (404/405 and {id} segments, API.md sections 1
 * and 3) and for the pure helpers of util that the router and the
 * handlers lean on: ids, integers, UTF-8, times and blank text.
 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "router.h"
#include "util.h"

/* The handlers are never called: the router only hands back the row. */
static void
h_dummy(struct app *app, struct req *req, const int64_t *ids)
{
	(void)app;
	(void)req;
	(void)ids;
}

static const struct route table[] = {
	{ "GET", "/api/v1/health", h_dummy, ACCESS_PUBLIC, NULL },
	{ "GET", "/api/v1/rooms", h_dummy, ACCESS_USER, NULL },
	{ "POST", "/api/v1/rooms", h_dummy, ACCESS_STAFF, NULL },
	{ "GET", "/api/v1/rooms/{id}", h_dummy, ACCESS_USER, NULL },
	{ "GET", "/api/v1/rooms/{id}/messages", h_dummy, ACCESS_USER, NULL },
	{ "POST", "/api/v1/rooms/{id}/messages", h_dummy, ACCESS_USER, NULL },
	{ "GET", "/api/v1/users/me", h_dummy, ACCESS_USER, NULL },
	{ "GET", "/api/v1/users/{id}", h_dummy, ACCESS_USER, NULL },
	{ "PATCH", "/api/v1/users/{id}", h_dummy, ACCESS_USER, NULL },
	{ "GET", "/api/v1/a/{id}/b/{id}", h_dummy, ACCESS_USER, NULL },
	{ "DELETE", "/api/v1/queue/failed", h_dummy, ACCESS_ADMIN, NULL },
};
#define NTABLE	(sizeof(table) / sizeof(table[0]))

/* Matches and returns the index of the route, or -1; ids and allow out. */
static enum router_result
match(const char *method, const char *path, long *idx, int64_t ids[2],
    char *allow, size_t allowsz)
{
	const struct route *r = NULL;
	enum router_result rr;

	rr = router_match(table, NTABLE, method, path, &r, ids, allow, allowsz);
	*idx = (rr == ROUTER_OK && r != NULL) ? (long)(r - table) : -1;
	return rr;
}

static void
test_path_match(void **state)
{
	int64_t ids[ROUTER_MAX_IDS];

	(void)state;
	assert_true(router_path_match("/api/v1/health", "/api/v1/health", ids));
	assert_false(router_path_match("/api/v1/health", "/api/v1/health/", ids));
	assert_false(router_path_match("/api/v1/health", "/api/v1/healthz", ids));
	assert_false(router_path_match("/api/v1/health", "/api/v1/healt", ids));
	assert_false(router_path_match("/api/v1/health", "/api/v1", ids));
	assert_false(router_path_match("/api/v1/health", "api/v1/health", ids));
	assert_false(router_path_match("/api/v1/health", "", ids));
	assert_false(router_path_match("/api/v1/health", "//api/v1/health",
	    ids));

	ids[0] = 0;
	assert_true(router_path_match("/r/{id}", "/r/1", ids));
	assert_int_equal(ids[0], 1);
	assert_true(router_path_match("/r/{id}", "/r/9223372036854775807", ids));
	assert_int_equal(ids[0], INT64_MAX);
	assert_true(router_path_match("/r/{id}/m", "/r/42/m", ids));
	assert_int_equal(ids[0], 42);
	assert_true(router_path_match("/a/{id}/b/{id}", "/a/3/b/5", ids));
	assert_int_equal(ids[0], 3);
	assert_int_equal(ids[1], 5);
	assert_false(router_path_match("/r/{id}", "/r/1/", ids));
	assert_false(router_path_match("/r/{id}", "/r/1/m", ids));
	assert_false(router_path_match("/r/{id}/m", "/r/1", ids));
	assert_false(router_path_match("/r/{id}/m", "/r//m", ids));
}

/* Ids that are not plain decimal digits in 1..2^63-1 match nothing, so
 * the dispatcher answers 404 for them (API.md section 1). */
static void
test_path_bad_ids(void **state)
{
	static const char *const bad[] = {
		"/r/0", "/r/01", "/r/-1", "/r/+1", "/r/9223372036854775808",
		"/r/99999999999999999999", "/r/18446744073709551616",
		"/r/1a", "/r/a1", "/r/", "/r/ 1", "/r/1 ", "/r/1.0", "/r/0x1",
		"/r/%31", "/r/\xd9\xa1",	/* ARABIC-INDIC DIGIT ONE */
	};
	int64_t ids[ROUTER_MAX_IDS];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (router_path_match("/r/{id}", bad[i], ids))
			fail_msg("'%s' matched /r/{id}", bad[i]);
}

static void
test_match(void **state)
{
	int64_t ids[ROUTER_MAX_IDS];
	char allow[64];
	long idx;

	(void)state;
	assert_int_equal(match("GET", "/api/v1/health", &idx, ids, allow,
	    sizeof(allow)), ROUTER_OK);
	assert_int_equal(idx, 0);
	assert_int_equal(match("POST", "/api/v1/rooms", &idx, ids, allow,
	    sizeof(allow)), ROUTER_OK);
	assert_int_equal(idx, 2);
	assert_int_equal(match("POST", "/api/v1/rooms/7/messages", &idx, ids,
	    allow, sizeof(allow)), ROUTER_OK);
	assert_int_equal(idx, 5);
	assert_int_equal(ids[0], 7);
	/* A literal segment and an {id} at the same place do not clash. */
	assert_int_equal(match("GET", "/api/v1/users/me", &idx, ids, allow,
	    sizeof(allow)), ROUTER_OK);
	assert_int_equal(idx, 6);
	assert_int_equal(match("GET", "/api/v1/users/12", &idx, ids, allow,
	    sizeof(allow)), ROUTER_OK);
	assert_int_equal(idx, 7);
	assert_int_equal(ids[0], 12);
	assert_int_equal(match("GET", "/api/v1/a/9223372036854775807/b/1",
	    &idx, ids, allow, sizeof(allow)), ROUTER_OK);
	assert_int_equal(idx, 9);
	assert_int_equal(ids[0], INT64_MAX);
	assert_int_equal(ids[1], 1);

	/* Methods are case-sensitive, as HTTP says. */
	assert_int_equal(match("get", "/api/v1/health", &idx, ids, allow,
	    sizeof(allow)), ROUTER_BAD_METHOD);
}

/* HEAD is GET's route (RFC 9110 9.3.2); Allow still lists the table. */
static void
test_head(void **state)
{
	int64_t ids[ROUTER_MAX_IDS];
	char allow[64];
	long idx, gidx;

	(void)state;
	assert_int_equal(match("GET", "/api/v1/rooms/7/messages", &gidx, ids,
	    allow, sizeof(allow)), ROUTER_OK);
	assert_int_equal(match("HEAD", "/api/v1/rooms/7/messages", &idx, ids,
	    allow, sizeof(allow)), ROUTER_OK);
	assert_int_equal(idx, gidx);
	assert_int_equal(ids[0], 7);
	assert_int_equal(match("HEAD", "/api/v1/queue/failed", &idx, ids,
	    allow, sizeof(allow)), ROUTER_BAD_METHOD);
	assert_string_equal(allow, "DELETE");
	assert_int_equal(match("head", "/api/v1/health", &idx, ids, allow,
	    sizeof(allow)), ROUTER_BAD_METHOD);
	assert_int_equal(match("HEAD", "/api/v1/nothing", &idx, ids, allow,
	    sizeof(allow)), ROUTER_NOT_FOUND);
}

static void
test_405(void **state)
{
	int64_t ids[ROUTER_MAX_IDS];
	char allow[64];
	long idx;

	(void)state;
	assert_int_equal(match("DELETE", "/api/v1/rooms", &idx, ids, allow,
	    sizeof(allow)), ROUTER_BAD_METHOD);
	assert_string_equal(allow, "GET, POST");
	assert_int_equal(match("PUT", "/api/v1/rooms/3/messages", &idx, ids,
	    allow, sizeof(allow)), ROUTER_BAD_METHOD);
	assert_string_equal(allow, "GET, POST");
	assert_int_equal(match("POST", "/api/v1/health", &idx, ids, allow,
	    sizeof(allow)), ROUTER_BAD_METHOD);
	assert_string_equal(allow, "GET");
	assert_int_equal(match("DELETE", "/api/v1/users/5", &idx, ids, allow,
	    sizeof(allow)), ROUTER_BAD_METHOD);
	assert_string_equal(allow, "GET, PATCH");
	/* "me" also matches only GET; {id} routes do not take "me". */
	assert_int_equal(match("PATCH", "/api/v1/users/me", &idx, ids, allow,
	    sizeof(allow)), ROUTER_BAD_METHOD);
	assert_string_equal(allow, "GET");

	/* A small buffer is cut, never overrun. */
	char small[5];
	memset(small, 'x', sizeof(small));
	assert_int_equal(match("DELETE", "/api/v1/rooms", &idx, ids, small,
	    sizeof(small)), ROUTER_BAD_METHOD);
	assert_non_null(memchr(small, '\0', sizeof(small)));
}

static void
test_404(void **state)
{
	static const char *const paths[] = {
		"/", "", "/api/v1", "/api/v1/", "/api/v1/health/",
		"/api/v1/rooms/", "/api/v1/rooms/0", "/api/v1/rooms/01",
		"/api/v1/rooms/-1", "/api/v1/rooms/9223372036854775808",
		"/api/v1/rooms/1/", "/api/v1/rooms/1/messages/",
		"/api/v1/rooms/1/messages/2", "/api/v1/rooms/x/messages",
		"/api/v2/health", "/API/V1/HEALTH", "/api/v1/queue",
		"/api/v1/a/1/b", "/api/v1/a/1/b/0",
	};
	int64_t ids[ROUTER_MAX_IDS];
	char allow[64];
	long idx;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		strcpy(allow, "junk");
		if (match("GET", paths[i], &idx, ids, allow,
		    sizeof(allow)) != ROUTER_NOT_FOUND)
			fail_msg("GET '%s' is not 404", paths[i]);
		/* No Allow leaks from a previous call. */
		assert_string_equal(allow, "");
	}
}

static void
test_parse_id(void **state)
{
	int64_t v = -5;

	(void)state;
	assert_int_equal(util_parse_id("1", 1, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(util_parse_id("9223372036854775807", 19, &v), 0);
	assert_int_equal(v, INT64_MAX);
	assert_int_equal(util_parse_id("1234567890", 10, &v), 0);
	assert_int_equal(v, 1234567890);
	/* Only len bytes are read: the rest of a path does not count. */
	assert_int_equal(util_parse_id("12/messages", 2, &v), 0);
	assert_int_equal(v, 12);

	v = -5;
	assert_int_equal(util_parse_id("", 0, &v), -1);
	assert_int_equal(util_parse_id("0", 1, &v), -1);
	assert_int_equal(util_parse_id("01", 2, &v), -1);
	assert_int_equal(util_parse_id("-1", 2, &v), -1);
	assert_int_equal(util_parse_id("+1", 2, &v), -1);
	assert_int_equal(util_parse_id(" 1", 2, &v), -1);
	assert_int_equal(util_parse_id("1 ", 2, &v), -1);
	assert_int_equal(util_parse_id("1a", 2, &v), -1);
	assert_int_equal(util_parse_id("9223372036854775808", 19, &v), -1);
	assert_int_equal(util_parse_id("9999999999999999999", 19, &v), -1);
	assert_int_equal(util_parse_id("99999999999999999999", 20, &v), -1);
	assert_int_equal(util_parse_id("10000000000000000000", 20, &v), -1);
	/* A failed parse leaves *out alone. */
	assert_int_equal(v, -5);
}

static void
test_parse_int(void **state)
{
	long long v = -5;

	(void)state;
	assert_int_equal(util_parse_int("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(util_parse_int("10", 0, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(util_parse_int("-3", -5, 5, &v), 0);
	assert_int_equal(v, -3);
	assert_int_equal(util_parse_int("9223372036854775807", 0, INT64_MAX,
	    &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(util_parse_int("-9223372036854775808", INT64_MIN, 0,
	    &v), 0);
	assert_true(v == INT64_MIN);

	v = -5;
	assert_int_equal(util_parse_int(NULL, 0, 10, &v), -1);
	assert_int_equal(util_parse_int("", 0, 10, &v), -1);
	assert_int_equal(util_parse_int("-", -10, 10, &v), -1);
	assert_int_equal(util_parse_int("11", 0, 10, &v), -1);
	assert_int_equal(util_parse_int("-1", 0, 10, &v), -1);
	assert_int_equal(util_parse_int("+1", 0, 10, &v), -1);
	assert_int_equal(util_parse_int(" 1", 0, 10, &v), -1);
	assert_int_equal(util_parse_int("1 ", 0, 10, &v), -1);
	assert_int_equal(util_parse_int("1x", 0, 10, &v), -1);
	assert_int_equal(util_parse_int("0x1", 0, 10, &v), -1);
	assert_int_equal(util_parse_int("9223372036854775808", 0, INT64_MAX,
	    &v), -1);
	assert_int_equal(util_parse_int("-9223372036854775809", INT64_MIN, 0,
	    &v), -1);
	assert_int_equal(v, -5);
}

static void
test_utf8(void **state)
{
#define OK(s)	assert_true(util_utf8_ok(s, sizeof(s) - 1))
#define BAD(s)	assert_false(util_utf8_ok(s, sizeof(s) - 1))
	(void)state;
	OK("");
	OK("plain ascii");
	OK("caf\xc3\xa9");			/* U+00E9 */
	OK("\xe2\x82\xac");			/* U+20AC */
	OK("\xf0\x9f\x98\x80");			/* U+1F600, 4 bytes */
	OK("\xf4\x8f\xbf\xbf");			/* U+10FFFF, the last */
	OK("\xed\x9f\xbf");			/* U+D7FF, before surrogates */
	OK("\xee\x80\x80");			/* U+E000, after them */
	OK("\xef\xbb\xbf");			/* a BOM is a character */

	BAD("\xc0\xaf");			/* overlong '/' */
	BAD("\xc1\xbf");			/* overlong */
	BAD("\xe0\x80\xaf");			/* overlong, 3 bytes */
	BAD("\xe0\x9f\xbf");			/* overlong U+07FF */
	BAD("\xf0\x80\x80\xaf");		/* overlong, 4 bytes */
	BAD("\xf0\x8f\xbf\xbf");		/* overlong U+FFFF */
	BAD("\xed\xa0\x80");			/* U+D800 */
	BAD("\xed\xbf\xbf");			/* U+DFFF */
	BAD("\xf4\x90\x80\x80");		/* U+110000 */
	BAD("\xf7\xbf\xbf\xbf");		/* U+1FFFFF */
	BAD("\xf8\x88\x80\x80\x80");		/* 5-byte form */
	BAD("\xff");
	BAD("\x80");				/* lone continuation */
	BAD("a\xc3");				/* truncated at the end */
	BAD("\xe2\x82");
	BAD("\xf0\x9f\x98");
	BAD("\xe2\x82x");			/* bad continuation */
	BAD("a\0b");				/* NUL */
	BAD("\0");
#undef OK
#undef BAD

	/* len bounds the read: a valid prefix of a longer sequence is not
	 * valid, and bytes past len are not looked at. */
	assert_false(util_utf8_ok("\xe2\x82\xac", 2));
	assert_true(util_utf8_ok("ab\xff", 2));
}

/* The expected text computed independently, through gmtime_r. */
static void
expect_time(int64_t ms)
{
	char got[UTIL_TIME_LEN], want[64];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	assert_true(ms >= 0);
	gmtime_r(&t, &tm);
	snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	memset(got, 'x', sizeof(got));
	util_format_time(ms, got);
	assert_string_equal(got, want);
	assert_int_equal(strlen(got), UTIL_TIME_LEN - 1);
}

static void
test_format_time(void **state)
{
	char buf[UTIL_TIME_LEN];

	(void)state;
	util_format_time(0, buf);
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	util_format_time(1795000000123LL, buf);
	assert_string_equal(buf, "2026-11-18T11:06:40.123Z");
	expect_time(1795000000123LL);
	expect_time(1);
	expect_time(999);
	expect_time(1000);
	expect_time(951782400000LL);		/* 2000-02-29, a leap day */
	expect_time(253402300799999LL);		/* 9999-12-31T23:59:59.999Z */
	/* Before the epoch the milliseconds still count forward. */
	util_format_time(-1, buf);
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
}

static void
test_blank(void **state)
{
	(void)state;
	assert_true(util_blank("", 0));
	assert_true(util_blank(" ", 1));
	assert_true(util_blank(" \t\r\n\v\f", 6));
	assert_false(util_blank("a", 1));
	assert_false(util_blank("  a ", 4));
	assert_true(util_blank("  a", 2));	/* only len bytes count */
	/* U+00A0 is not ASCII white space: such a text is not blank. */
	assert_false(util_blank("\xc2\xa0", 2));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_match),
		cmocka_unit_test(test_path_bad_ids),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_405),
		cmocka_unit_test(test_404),
		cmocka_unit_test(test_parse_id),
		cmocka_unit_test(test_parse_int),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_format_time),
		cmocka_unit_test(test_blank),
	};

	/* One group: one TAP plan, which is all tap-driver accepts. */
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for the field validators every handler uses (api_access.c,
 * "validate or reply"): each returns 1 with the value, 0 when the field
 * is absent (or null where allowed) and not required, or -1 after
 * answering 400 invalid_field naming the field. The same for the query
 * parameter helpers and the page answer (api_page.c).
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

#include "api.h"
#include "http.h"
#include "log.h"
#include "users.h"

static struct http_io io;

static int
group_setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	log_init("test_fields", LOGL__MAX);
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

/* A request whose body is the JSON text. */
static void
req_with(struct req *req, const char *json)
{
	if (http_req_init_raw(req, "POST", "/x", &io) != 0)
		fail_msg("init refused");
	req->body = json_loads(json, 0, NULL);
	assert_non_null(req->body);
}

/* The answer was a 400 invalid_field naming field. */
static void
assert_refused(struct req *req, const char *field)
{
	char want[64];

	assert_true(req->responded);
	assert_int_equal(req->status, 400);
	assert_non_null(strstr(io.body.buf, "\"invalid_field\""));
	snprintf(want, sizeof(want), "\"field\":\"%s\"", field);
	assert_non_null(strstr(io.body.buf, want));
}

static void
done(struct req *req)
{
	http_req_free(req);
}

static void
test_str(void **state)
{
	struct req req;
	const char *s;
	size_t len;

	(void)state;
	req_with(&req, "{\"name\":\"Ann\",\"blank\":\"  \",\"num\":5,"
	    "\"nul\":null,\"empty\":\"\"}");
	assert_int_equal(api_field_str(&req, "name", 1, 10, FIELD_REQUIRED,
	    &s, &len), 1);
	assert_string_equal(s, "Ann");
	assert_int_equal(len, 3);
	/* Absent and not required. */
	assert_int_equal(api_field_str(&req, "other", 1, 10, 0, &s, &len), 0);
	/* Null where allowed. */
	assert_int_equal(api_field_str(&req, "nul", 1, 10, FIELD_NULLABLE,
	    &s, &len), 0);
	/* An empty string is fine when min is 0. */
	assert_int_equal(api_field_str(&req, "empty", 0, 10, 0, &s, &len), 1);
	assert_false(req.responded);
	done(&req);

	req_with(&req, "{}");
	assert_int_equal(api_field_str(&req, "name", 1, 10, FIELD_REQUIRED,
	    &s, &len), -1);
	assert_refused(&req, "name");
	done(&req);

	req_with(&req, "{\"name\":\"  \"}");
	assert_int_equal(api_field_str(&req, "name", 1, 10, FIELD_REQUIRED,
	    &s, &len), -1);
	assert_refused(&req, "name");
	done(&req);

	req_with(&req, "{\"name\":\"much too long\"}");
	assert_int_equal(api_field_str(&req, "name", 1, 5, 0, &s, &len), -1);
	assert_refused(&req, "name");
	done(&req);

	req_with(&req, "{\"name\":5}");
	assert_int_equal(api_field_str(&req, "name", 1, 5, 0, &s, &len), -1);
	assert_refused(&req, "name");
	done(&req);

	/* Null where it is not allowed. */
	req_with(&req, "{\"name\":null}");
	assert_int_equal(api_field_str(&req, "name", 1, 5, 0, &s, &len), -1);
	assert_refused(&req, "name");
	done(&req);
}

static void
test_id(void **state)
{
	struct req req;
	int64_t id = -1;

	(void)state;
	req_with(&req, "{\"a\":7,\"n\":null,\"big\":9223372036854775807}");
	assert_int_equal(api_field_id(&req, "a", FIELD_REQUIRED, &id), 1);
	assert_int_equal(id, 7);
	assert_int_equal(api_field_id(&req, "big", 0, &id), 1);
	assert_int_equal(id, INT64_MAX);
	assert_int_equal(api_field_id(&req, "n", FIELD_NULLABLE, &id), 1);
	assert_int_equal(id, 0);
	assert_int_equal(api_field_id(&req, "absent", 0, &id), 0);
	assert_false(req.responded);
	done(&req);

	req_with(&req, "{\"a\":0}");
	assert_int_equal(api_field_id(&req, "a", 0, &id), -1);
	assert_refused(&req, "a");
	done(&req);

	req_with(&req, "{\"a\":-3}");
	assert_int_equal(api_field_id(&req, "a", 0, &id), -1);
	assert_refused(&req, "a");
	done(&req);

	req_with(&req, "{\"a\":\"7\"}");
	assert_int_equal(api_field_id(&req, "a", 0, &id), -1);
	assert_refused(&req, "a");
	done(&req);

	req_with(&req, "{\"a\":1.5}");
	assert_int_equal(api_field_id(&req, "a", 0, &id), -1);
	assert_refused(&req, "a");
	done(&req);

	req_with(&req, "{\"a\":null}");
	assert_int_equal(api_field_id(&req, "a", 0, &id), -1);
	assert_refused(&req, "a");
	done(&req);

	req_with(&req, "{}");
	assert_int_equal(api_field_id(&req, "a", FIELD_REQUIRED, &id), -1);
	assert_refused(&req, "a");
	done(&req);
}

static void
test_enum(void **state)
{
	static const char *const choices[] = { "low", "high", NULL };
	struct req req;
	int idx = -1;

	(void)state;
	req_with(&req, "{\"p\":\"high\",\"n\":null}");
	assert_int_equal(api_field_enum(&req, "p", choices, FIELD_REQUIRED,
	    &idx), 1);
	assert_int_equal(idx, 1);
	assert_int_equal(api_field_enum(&req, "n", choices, FIELD_NULLABLE,
	    &idx), 0);
	assert_int_equal(api_field_enum(&req, "absent", choices, 0, &idx), 0);
	assert_false(req.responded);
	done(&req);

	req_with(&req, "{\"p\":\"HIGH\"}");
	assert_int_equal(api_field_enum(&req, "p", choices, 0, &idx), -1);
	assert_refused(&req, "p");
	/* The message lists the choices. */
	assert_non_null(strstr(io.body.buf, "low, high"));
	done(&req);

	req_with(&req, "{\"p\":1}");
	assert_int_equal(api_field_enum(&req, "p", choices, 0, &idx), -1);
	assert_refused(&req, "p");
	done(&req);

	req_with(&req, "{}");
	assert_int_equal(api_field_enum(&req, "p", choices, FIELD_REQUIRED,
	    &idx), -1);
	assert_refused(&req, "p");
	done(&req);
}

/* A GET request for uri (with its query). */
static void
req_get(struct req *req, const char *uri)
{
	if (http_req_init_raw(req, "GET", uri, &io) != 0)
		fail_msg("init refused");
}

/* The answer's message was exactly want. */
static void
assert_message(const char *want)
{
	char m[160];

	snprintf(m, sizeof(m), "\"message\":\"%s\"", want);
	assert_non_null(strstr(io.body.buf, m));
}

static void
test_query_int(void **state)
{
	struct req req;
	long long n;

	(void)state;
	req_get(&req, "/x?limit=7");
	assert_int_equal(api_query_int(&req, "limit", 1, 100, 50, &n), 1);
	assert_int_equal(n, 7);
	assert_int_equal(api_query_int(&req, "days", 1, 365, 30, &n), 0);
	assert_int_equal(n, 30);
	done(&req);

	req_get(&req, "/x?days=0");
	assert_int_equal(api_query_int(&req, "days", 1, 365, 30, &n), -1);
	assert_refused(&req, "days");
	assert_message("days must be 1..365");
	done(&req);

	req_get(&req, "/x?limit=1x");
	assert_int_equal(api_query_int(&req, "limit", 1, 100, 50, &n), -1);
	assert_refused(&req, "limit");
	done(&req);
}

static void
test_query_id(void **state)
{
	struct req req;
	int64_t id;

	(void)state;
	req_get(&req, "/x?before=12");
	assert_int_equal(api_query_id(&req, "before", &id), 1);
	assert_int_equal(id, 12);
	assert_int_equal(api_query_id(&req, "after", &id), 0);
	assert_int_equal(id, 0);
	done(&req);

	req_get(&req, "/x?before=012");
	assert_int_equal(api_query_id(&req, "before", &id), -1);
	assert_refused(&req, "before");
	assert_message("before must be an id");
	done(&req);
}

static void
test_query_enum(void **state)
{
	static const char *const choices[] = { "open", "pending", "closed",
	    NULL };
	static const char *const two[] = { "0", "1", NULL };
	struct req req;
	int idx = -1;

	(void)state;
	req_get(&req, "/x?status=closed&unread=1");
	assert_int_equal(api_query_enum(&req, "status", choices, &idx), 1);
	assert_int_equal(idx, 2);
	assert_int_equal(api_query_enum(&req, "unread", two, &idx), 1);
	assert_int_equal(idx, 1);
	assert_int_equal(api_query_enum(&req, "role", choices, &idx), 0);
	done(&req);

	req_get(&req, "/x?status=Open");
	assert_int_equal(api_query_enum(&req, "status", choices, &idx), -1);
	assert_refused(&req, "status");
	assert_message("status must be open, pending or closed");
	done(&req);

	req_get(&req, "/x?unread=true");
	assert_int_equal(api_query_enum(&req, "unread", two, &idx), -1);
	assert_message("unread must be 0 or 1");
	done(&req);
}

static void
test_query_ids(void **state)
{
	struct req req;
	int64_t ids[3];

	(void)state;
	req_get(&req, "/x?rooms=9,2,9&tickets=");
	assert_int_equal(api_query_ids(&req, "rooms", 3, ids), 2);
	assert_int_equal(ids[0], 2);
	assert_int_equal(ids[1], 9);
	assert_int_equal(api_query_ids(&req, "tickets", 3, ids), 0);
	assert_int_equal(api_query_ids(&req, "absent", 3, ids), 0);
	done(&req);

	req_get(&req, "/x?rooms=1,2,3,4");
	assert_int_equal(api_query_ids(&req, "rooms", 3, ids), -1);
	assert_message("rooms must be at most 3 ids, separated by commas");
	done(&req);

	req_get(&req, "/x?rooms=1,,2");
	assert_int_equal(api_query_ids(&req, "rooms", 3, ids), -1);
	assert_refused(&req, "rooms");
	done(&req);
}

static void
test_page_params(void **state)
{
	struct req req;
	int64_t before, after;
	int limit;

	(void)state;
	req_get(&req, "/x");
	assert_int_equal(api_page_params_after(&req, 20, &limit, &before,
	    &after), 0);
	assert_int_equal(limit, 20);
	assert_int_equal(before, 0);
	assert_int_equal(after, 0);
	done(&req);

	req_get(&req, "/x?limit=101");
	assert_int_equal(api_page_params(&req, 20, &limit, &before), -1);
	assert_message("limit must be 1..100");
	done(&req);

	req_get(&req, "/x?after=3&before=9");
	assert_int_equal(api_page_params_after(&req, 20, &limit, &before,
	    &after), -1);
	assert_refused(&req, "after");
	assert_message("after and before cannot be used together");
	done(&req);
}

/* The page answer is the text of a JSON dump of the same object. */
static void
test_page_answer(void **state)
{
	struct req req;
	json_t *items;

	(void)state;
	req_get(&req, "/x");
	items = json_pack("[{s:i, s:s}, {s:i}]", "id", 9, "name", "a\"b", "id",
	    4);
	api_page_answer(&req, "rooms", items, "next_before",
	    api_item_id(items, 1));
	assert_int_equal(req.status, 200);
	assert_string_equal(io.body.buf,
	    "{\"rooms\":[{\"id\":9,\"name\":\"a\\\"b\"},{\"id\":4}],"
	    "\"next_before\":4}\n");
	done(&req);

	req_get(&req, "/x");
	api_page_answer(&req, "users", json_array(), "next_after", 0);
	assert_string_equal(io.body.buf,
	    "{\"users\":[],\"next_after\":null}\n");
	done(&req);
}

/* Names and emails are one line each: no control byte anywhere. */
static void
test_user_checks(void **state)
{
	static const char *const bad[] = {
		"a\r\nb", "a\nb", "a\rb", "a\tb", "a\033b", "a\177b", "a\001b",
	};
	char email[32];
	size_t i;

	(void)state;
	assert_null(users_check_name("Ann O'Neil", 10));
	assert_null(users_check_name("Zoë", strlen("Zoë")));
	assert_null(users_check_email("ann@example.com", 15));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_non_null(users_check_name(bad[i], strlen(bad[i])));
		snprintf(email, sizeof(email), "%s@example.com", bad[i]);
		assert_non_null(users_check_email(email, strlen(email)));
		snprintf(email, sizeof(email), "ann@exa%smple.com", bad[i]);
		assert_non_null(users_check_email(email, strlen(email)));
	}
	assert_non_null(users_check_email("ann@example.com\r\nBcc: x@y.z",
	    strlen("ann@example.com\r\nBcc: x@y.z")));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_str),
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_query_int),
		cmocka_unit_test(test_query_id),
		cmocka_unit_test(test_query_enum),
		cmocka_unit_test(test_query_ids),
		cmocka_unit_test(test_page_params),
		cmocka_unit_test(test_page_answer),
		cmocka_unit_test(test_user_checks),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/*
 * Unit tests for the pure part of the events module (API.md section 8):
 * channel sets, as the publisher and the subscription redirect build them,
 * and a publisher with publishing off, which must do nothing at all.
 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "events.h"

static void
test_chans_join(void **state)
{
	struct events_chans c;

	(void)state;
	events_chans_init(&c);
	assert_int_equal(c.n, 0);
	assert_string_equal(c.s, "");
	events_chans_add(&c, "user", 3);
	events_chans_add(&c, "user", 7);
	events_chans_add(&c, "ticket", 12);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.s, "user:3,user:7,ticket:12");
	assert_int_equal(c.len, strlen(c.s));
}

static void
test_chans_dedupe(void **state)
{
	struct events_chans c;

	(void)state;
	events_chans_init(&c);
	events_chans_add(&c, "user", 3);
	events_chans_add(&c, "user", 3);	/* requester is the assignee */
	events_chans_add(&c, "user", 0);	/* no assignee */
	events_chans_add(&c, "user", -1);
	events_chans_add(&c, "user", 33);	/* not a duplicate of user:3 */
	events_chans_add(&c, "user", 13);
	events_chans_add(&c, "room", 3);	/* another kind */
	events_chans_add(&c, "user", 33);
	assert_string_equal(c.s, "user:3,user:33,user:13,room:3");
	assert_int_equal(c.n, 4);
}

/* The staff channel has no id; it is one item, added once. */
static void
test_chans_named(void **state)
{
	struct events_chans c;

	(void)state;
	events_chans_init(&c);
	events_chans_add(&c, "user", 3);
	events_chans_add_name(&c, EVENTS_CHAN_STAFF);
	events_chans_add(&c, "ticket", 9);
	events_chans_add_name(&c, EVENTS_CHAN_STAFF);
	assert_string_equal(c.s, "user:3,staff,ticket:9");
	assert_int_equal(c.n, 3);
	assert_int_equal(c.len, strlen(c.s));
}

static void
test_chans_many(void **state)
{
	struct events_chans c;
	int64_t i;

	(void)state;
	/* The most a subscription holds: its user, 50 rooms, 50 tickets,
	 * with the longest ids. */
	events_chans_init(&c);
	events_chans_add(&c, "user", INT64_MAX);
	for (i = 0; i < 50; i++) {
		events_chans_add(&c, "room", INT64_MAX - i);
		events_chans_add(&c, "ticket", INT64_MAX - i);
	}
	assert_int_equal(c.n, 101);
	assert_true(c.len < sizeof(c.s));
	assert_int_equal(c.len, strlen(c.s));
}

static void
test_disabled_publisher(void **state)
{
	struct events *ev;
	struct events_chans c;

	(void)state;
	ev = events_new("", "", 250);
	assert_non_null(ev);
	events_chans_init(&c);
	events_chans_add(&c, "room", 1);
	events_emit_text(ev, &c, "{}", 2);
	events_emit(ev, &c, json_object());
	events_kick_user(ev, 1);
	events_send(ev);
	events_wait(ev, 0);
	events_flush(ev);
	events_free(ev);
	events_free(NULL);
	events_flush(NULL);
	events_send(NULL);
	events_wait(NULL, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chans_join),
		cmocka_unit_test(test_chans_dedupe),
		cmocka_unit_test(test_chans_named),
		cmocka_unit_test(test_chans_many),
		cmocka_unit_test(test_disabled_publisher),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for the queue's loss decision (queue_loss, API.md section 5):
 * what the worker concludes from SQLite's pushed_seq and epoch flag and
 * from Redis's queue:state (epoch, seq, lost) at the start of a run.
 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "queue.h"

/* Redis as the last run left it: epoch ours, seq as SQLite's. */
static struct queue_seen
settled(long long seq)
{
	struct queue_seen v = { .pushed = seq, .seq = seq, .written = 1,
	    .has_epoch = 1, .same_epoch = 1, .lost = 0 };

	return v;
}

static void
test_nothing_lost(void **state)
{
	struct queue_seen v = settled(7);
	int init = -1;

	(void)state;
	assert_null(queue_loss(&v, &init));
	assert_int_equal(init, 0);
	/* pushes since SQLite's last record: Redis ahead is fine */
	v.seq = 9;
	assert_null(queue_loss(&v, &init));
	assert_int_equal(init, 0);
}

static void
test_first_run(void **state)
{
	struct queue_seen v = { 0 };
	int init = -1;

	(void)state;
	/* a fresh install: nothing pushed, no epoch yet */
	assert_null(queue_loss(&v, &init));
	assert_int_equal(init, 1);
	/* pushes before the first run: seq and pushed_seq agree */
	v.pushed = v.seq = 5;
	assert_null(queue_loss(&v, &init));
	assert_int_equal(init, 1);
	/* ...but Redis restarted empty before that first run */
	v.seq = 0;
	assert_non_null(queue_loss(&v, &init));
	/* ...and then a push saw it */
	v.seq = 6;
	v.lost = 1;
	assert_non_null(queue_loss(&v, &init));
}

static void
test_flushed_or_restarted(void **state)
{
	struct queue_seen v = settled(40);
	int init;

	(void)state;
	v.has_epoch = v.same_epoch = 0;
	v.seq = 0;
	assert_non_null(strstr(queue_loss(&v, &init), "fewer pushes"));
	/* many posts after the flush: seq is past SQLite's again, the
	 * missing epoch still tells */
	v.seq = 100;
	v.pushed = 100;
	assert_non_null(strstr(queue_loss(&v, &init), "no epoch"));
}

static void
test_old_snapshot(void **state)
{
	struct queue_seen v = settled(40);
	int init;

	(void)state;
	/* the snapshot carries the epoch, but fewer pushes */
	v.seq = 30;
	assert_non_null(strstr(queue_loss(&v, &init), "fewer pushes"));
	/* posts after the restore caught up: the flag a push set tells */
	v.seq = 45;
	v.pushed = 45;
	v.lost = 1;
	assert_non_null(strstr(queue_loss(&v, &init), "a push found"));
}

static void
test_other_epoch(void **state)
{
	struct queue_seen v = settled(3);
	int init;

	(void)state;
	v.same_epoch = 0;
	assert_non_null(strstr(queue_loss(&v, &init), "another epoch"));
	/* even before this database's first run wrote its own */
	v.written = 0;
	assert_non_null(strstr(queue_loss(&v, &init), "another epoch"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_lost),
		cmocka_unit_test(test_first_run),
		cmocka_unit_test(test_flushed_or_restarted),
		cmocka_unit_test(test_old_snapshot),
		cmocka_unit_test(test_other_epoch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

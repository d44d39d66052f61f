/*
 * Unit tests for gcommit: tickets taken by many processes (fork, a
 * MAP_SHARED page) all end covered by a sync; a leader killed in the
 * middle of its turn is taken over; a failed sync fails every later wait
 * until gcommit_reset.
 */
#include "autoconf.h"

#include <sys/mman.h>
#include <sys/wait.h>

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gcommit.h"

#define PROCS	6
#define EACH	200

static struct gcommit *
shared_page(void)
{
	void *p = mmap(NULL, sizeof(struct gcommit), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	memset(p, 0, sizeof(struct gcommit));
	return p;
}

static int
temp_file(void)
{
	char path[] = "/tmp/test_gcommit.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd != -1);
	unlink(path);
	return fd;
}

static void
test_many_processes(void **state)
{
	struct gcommit *gc = shared_page();
	int fd = temp_file(), i, j, st;
	pid_t kids[PROCS];
	uint64_t t;

	(void)state;
	for (i = 0; i < PROCS; i++) {
		if ((kids[i] = fork()) == 0) {
			for (j = 0; j < EACH; j++) {
				if (write(fd, "x", 1) != 1)
					_exit(2);
				t = gcommit_ticket(gc);
				if (gcommit_wait(gc, t, fd) != 0 ||
				    __atomic_load_n(&gc->synced,
				    __ATOMIC_ACQUIRE) < t)
					_exit(1);
			}
			_exit(0);
		}
		assert_true(kids[i] > 0);
	}
	for (i = 0; i < PROCS; i++) {
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	assert_int_equal(gc->committed, PROCS * EACH);
	assert_int_equal(gc->synced, PROCS * EACH);
	assert_int_equal(gc->leader, 0);
	close(fd);
}

static void
test_dead_leader(void **state)
{
	struct gcommit *gc = shared_page();
	int fd = temp_file(), st;
	pid_t dead;

	(void)state;
	/* A process that took the leader's place and died there. */
	if ((dead = fork()) == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, &st, 0), dead);
	gc->leader = (uint32_t)dead;
	assert_int_equal(gcommit_wait(gc, gcommit_ticket(gc), fd), 0);
	assert_int_equal(gc->synced, 1);
	close(fd);
}

static void
test_failure_sticks(void **state)
{
	struct gcommit *gc = shared_page();
	int fd = temp_file();

	(void)state;
	/* fdatasync of a closed descriptor fails (EBADF). */
	assert_int_equal(gcommit_wait(gc, gcommit_ticket(gc), -1), -1);
	assert_int_equal(gcommit_wait(gc, gcommit_ticket(gc), fd), -1);
	assert_int_equal(errno, EIO);
	gcommit_reset(gc);
	assert_int_equal(gcommit_wait(gc, gcommit_ticket(gc), fd), 0);
	assert_int_equal(gc->synced, 3);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_processes),
		cmocka_unit_test(test_dead_leader),
		cmocka_unit_test(test_failure_sticks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

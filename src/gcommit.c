/* gcommit: see gcommit.h. */
#include "autoconf.h"

#include <linux/futex.h>
#include <sys/syscall.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "gcommit.h"

/* How long a waiter sleeps before it looks whether the leader died
 * (killed in the middle of its sync): then it takes over. */
#define GC_CHECK_NS	20000000L

#define LOAD(f)		__atomic_load_n(&(f), __ATOMIC_ACQUIRE)

uint64_t
gcommit_ticket(struct gcommit *gc)
{
	return __atomic_add_fetch(&gc->committed, 1, __ATOMIC_ACQ_REL);
}

int
gcommit_failed(struct gcommit *gc)
{
	return LOAD(gc->failed) != 0;
}

void
gcommit_reset(struct gcommit *gc)
{
	__atomic_store_n(&gc->failed, 0, __ATOMIC_RELEASE);
}

/* Raises *p to v unless it is higher already. */
static void
raise_to(uint64_t *p, uint64_t v)
{
	uint64_t old = LOAD(*p);

	while (old < v && !__atomic_compare_exchange_n(p, &old, v, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		;
}

/* The shared futex (not FUTEX_PRIVATE_FLAG: other processes wait too). */
static void
futex_wait(uint32_t *word, uint32_t val)
{
	struct timespec ts = { 0, GC_CHECK_NS };

	syscall(SYS_futex, word, FUTEX_WAIT, val, &ts, NULL, 0);
}

static void
futex_wake_all(uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* The leader's turn: one fdatasync for every commit given a ticket so
 * far. Returns 0 or -1 (errno set). */
static int
lead(struct gcommit *gc, int fd)
{
	/* Every commit up to target returned before this load, so its
	 * frames were written before the sync below begins. */
	uint64_t target = LOAD(gc->committed);
	int rc, saved;

	rc = fdatasync(fd);
	saved = errno;
	if (rc == 0)
		raise_to(&gc->synced, target);
	else
		raise_to(&gc->failed, 1);
	__atomic_store_n(&gc->leader, 0, __ATOMIC_RELEASE);
	__atomic_add_fetch(&gc->wake, 1, __ATOMIC_ACQ_REL);
	futex_wake_all(&gc->wake);
	errno = saved;
	return rc;
}

int
gcommit_wait(struct gcommit *gc, uint64_t ticket, int fd)
{
	uint32_t me = (uint32_t)getpid(), w, l;

	for (;;) {
		/* Read the futex word before the checks: a sync that ends
		 * after them changes it, and the wait below returns. */
		w = LOAD(gc->wake);
		if (LOAD(gc->failed)) {
			errno = EIO;
			return -1;
		}
		if (LOAD(gc->synced) >= ticket)
			return 0;
		l = 0;
		if (__atomic_compare_exchange_n(&gc->leader, &l, me, 0,
		    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			if (lead(gc, fd) == -1)
				return -1;
			continue;
		}
		futex_wait(&gc->wake, w);
		/* A leader killed during its sync never wakes anyone. */
		if (LOAD(gc->wake) == w && (l = LOAD(gc->leader)) != 0 &&
		    kill((pid_t)l, 0) == -1 && errno == ESRCH)
			__atomic_compare_exchange_n(&gc->leader, &l, 0, 0,
			    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	}
}

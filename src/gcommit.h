/*
 * gcommit: group commit of the WAL, shared by every process that writes
 * the database.
 *
 * The connection commits with synchronous=NORMAL: COMMIT returns once the
 * transaction's frames are written to the WAL (the page cache), without
 * a sync, and the write lock is released at once. The caller then takes a
 * ticket and waits: gcommit_wait returns 0 only after an fdatasync of the
 * WAL that began after the ticket was taken has completed, which covers
 * every byte that commit wrote. One waiter at a time (the leader) syncs,
 * for every commit made so far by any process; the others sleep on a
 * futex in the shared page until a sync covers their ticket. So N commits
 * that arrive during one sync share the next one.
 *
 * The state lives in a shared mapping (the metrics file, see metrics.h);
 * in process memory it still works, for one process.
 */
#ifndef CHATDESK_GCOMMIT_H
#define CHATDESK_GCOMMIT_H

#include <stdint.h>

struct gcommit {
	uint64_t	committed;	/* tickets given: commits returned */
	uint64_t	synced;		/* every ticket <= this is synced */
	uint64_t	failed;		/* nonzero: a sync failed (sticky) */
	uint32_t	leader;		/* pid of the process syncing, or 0 */
	uint32_t	wake;		/* futex word, bumped after each sync */
};

/* Called right after a COMMIT returned: the commit's ticket. */
uint64_t gcommit_ticket(struct gcommit *);
/*
 * Waits until ticket is covered by a completed fdatasync of fd (the WAL).
 * Returns 0, or -1 with errno if a sync failed: a failed sync may have
 * dropped pages of the WAL that later syncs would not write again, so
 * from then on every wait fails until gcommit_reset (a process start).
 */
int gcommit_wait(struct gcommit *, uint64_t ticket, int fd);
/* 1 once a sync failed, until gcommit_reset. */
int gcommit_failed(struct gcommit *);
/* Clears a failure remembered in the shared page. */
void gcommit_reset(struct gcommit *);

#endif

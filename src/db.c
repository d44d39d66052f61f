/* db: see db.h. */
#include "autoconf.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db.h"
#include "gcommit.h"
#include "log.h"
#include "metrics.h"
#include "sql_embed.h"
#include "util.h"

#define DB_BUSY_TIMEOUT_MS	5000
#define DB_BEGIN_TRIES		3
#define DB_JOURNAL_LIMIT	(64 * 1024 * 1024)
#define DB_RECHECK_US		1000000
/* Less free space than this and the health check calls the database
 * read-only: a commit needs a few WAL frames of a page each. */
#define DB_MIN_FREE_BYTES	(64 * 1024)

/* Every statement, by name: the index of sqls[] and db->stmts[]. */
enum sqlstmt {
	SQL_BEGIN,
	SQL_COMMIT,
	SQL_ROLLBACK,
	SQL_HEALTH_SCHEMA,
	SQL_OUTBOX_COUNT,
	SQL_TASK_ADD,
	SQL_TASKS_UNPUSHED,
	SQL_TASK_UNPUSHED_ONE,
	SQL_TASK_PUSHED,
	SQL_TASKS_UNFINISHED,
	SQL_TASKS_UNFINISHED_COUNT,
	SQL_TASK_FINISH,
	SQL_TASK_REOPEN,
	SQL_TASK_FINISHED,
	SQL_TASKS_PRUNE,
	SQL_QUEUE_STATE_GET,
	SQL_QUEUE_SEQ_SET,
	SQL_QUEUE_EPOCH_WRITTEN,
	SQL_WORKER_GET,
	SQL_WORKER_RUN,
	SQL_WORKER_SUCCESS,
	SQL_CACHE_PENDING_ADD,
	SQL_CACHE_PENDING_LIST,
	SQL_CACHE_PENDING_CLEAR,
	SQL_USER_GET,
	SQL_USERS_PAGE,
	SQL_USER_INSERT,
	SQL_USER_UPDATE,
	SQL_TOKEN_INSERT,
	SQL_TOKEN_LOOKUP,
	SQL_TOKEN_REVOKE,
	SQL_TOKEN_HASHES_OF_USER,
	SQL_TOKENS_OF_USER,
	SQL_TOKENS_REVOKE_USER,
	SQL_TOKEN_REVOKE_ID,
	SQL_TOKEN_TOUCH,
	SQL_ROOM_INSERT,
	SQL_ROOM_GET,
	SQL_ROOM_EXISTS,
	SQL_ROOM_MEMBER_ADD,
	SQL_ROOM_MEMBERS,
	SQL_ROOM_IS_MEMBER,
	SQL_ROOMS_ALL,
	SQL_ROOMS_OF_USER,
	SQL_ROOMS_RECENT,
	SQL_ROOM_LAST_MESSAGE,
	SQL_MESSAGE_INSERT,
	SQL_MESSAGES_PAGE,
	SQL_MESSAGES_AFTER,
	SQL_TICKET_INSERT,
	SQL_TICKET_GET,
	SQL_TICKET_UPDATE,
	SQL_TICKETS_PAGE,
	SQL_INTERACTION_INSERT,
	SQL_INTERACTIONS_PAGE,
	SQL_INTERACTIONS_AFTER,
	SQL_NOTIFS_PAGE,
	SQL_NOTIFS_AFTER,
	SQL_NOTIF_READ_ONE,
	SQL_NOTIF_READ_ALL,
	SQL_STATS_REQUESTER,
	SQL_STATS_ASSIGNEE,
	SQL_TICKETS_INACTIVE,
	SQL_ARCH_INTER_IDS,
	SQL_ARCH_INTER_COPY,
	SQL_ARCH_INTER_DELETE,
	SQL_ARCH_MSG_IDS,
	SQL_ARCH_MSG_COPY,
	SQL_ARCH_MSG_DELETE,
	SQL_STAFF_IDS,
	SQL_NOTIF_INSERT,
	SQL_NOTIF_UNDELIVERED,
	SQL_NOTIF_DELIVERED,
	SQL_META_GET,
	SQL_META_SET,
	SQL_USER_BY_EMAIL,
	SQL_USER_PASSWORD_OF,
	SQL_USER_PASSWORD_SET,
	SQL_META_ADD,
	SQL__MAX
};

/*
 * Every statement the programs run. One place for SQL (kcaldav's sqls[]),
 * indexed by enum sqlstmt with designated initialisers (so the order of
 * the enum does not matter here); each prepared on first use and kept.
 */
static const char *const sqls[SQL__MAX] = {
	/* IMMEDIATE, see db_begin() */
	[SQL_BEGIN] = "BEGIN IMMEDIATE",
	[SQL_COMMIT] = "COMMIT",
	[SQL_ROLLBACK] = "ROLLBACK",
	[SQL_HEALTH_SCHEMA] = "SELECT count(*) FROM sqlite_schema",
	/* tasks not yet pushed */
	[SQL_OUTBOX_COUNT] =
	    "SELECT count(*) FROM tasks WHERE pushed_at IS NULL",
	/* (task id, task, now) */
	[SQL_TASK_ADD] =
	    "INSERT INTO tasks (task_id, task, created_at) VALUES (?, ?, ?)",
	/* (limit) the oldest not yet pushed */
	[SQL_TASKS_UNPUSHED] =
	    "SELECT id, task FROM tasks WHERE pushed_at IS NULL ORDER BY id LIMIT ?",
	/* (row) */
	[SQL_TASK_UNPUSHED_ONE] =
	    "SELECT id, task FROM tasks WHERE id = ? AND pushed_at IS NULL",
	/* (now, row) */
	[SQL_TASK_PUSHED] = "UPDATE tasks SET pushed_at = ? WHERE id = ?",
	/* (after row, limit) pushed and not finished:
	 * what a Redis that lost data may have lost */
	[SQL_TASKS_UNFINISHED] =
	    "SELECT id, task FROM tasks WHERE finished_at IS NULL "
	    "AND pushed_at IS NOT NULL AND id > ? ORDER BY id LIMIT ?",
	[SQL_TASKS_UNFINISHED_COUNT] =
	    "SELECT count(*) FROM tasks WHERE finished_at IS NULL",
	/* (now, result, task id) once */
	[SQL_TASK_FINISH] =
	    "UPDATE tasks SET finished_at = ?, result = ? WHERE task_id = ? "
	    "AND finished_at IS NULL",
	/* (task id) a dead task retried by an operator */
	[SQL_TASK_REOPEN] =
	    "UPDATE tasks SET finished_at = NULL, result = NULL WHERE task_id = ?",
	/* (task id) */
	[SQL_TASK_FINISHED] =
	    "SELECT finished_at IS NOT NULL FROM tasks WHERE task_id = ?",
	/* (result, finished before, keep newest, limit) the
	 * oldest finished rows of a result that are older than the cutoff
	 * or beyond the newest N */
	[SQL_TASKS_PRUNE] =
	    "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks "
	    "WHERE finished_at IS NOT NULL AND result = ?1 AND (finished_at < ?2 "
	    "OR id <= coalesce((SELECT id FROM tasks WHERE finished_at IS NOT NULL "
	    "AND result = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?3), 0)) "
	    "ORDER BY id LIMIT ?4)",
	[SQL_QUEUE_STATE_GET] =
	    "SELECT epoch, epoch_written, pushed_seq FROM queue_state WHERE id = 1",
	/* (seq) */
	[SQL_QUEUE_SEQ_SET] =
	    "UPDATE queue_state SET pushed_seq = max(pushed_seq, ?) WHERE id = 1",
	[SQL_QUEUE_EPOCH_WRITTEN] =
	    "UPDATE queue_state SET epoch_written = 1 WHERE id = 1",
	[SQL_WORKER_GET] =
	    "SELECT created_at, coalesce(worker_last_run_at, 0), "
	    "coalesce(worker_last_success_at, 0) FROM queue_state WHERE id = 1",
	/* (now) */
	[SQL_WORKER_RUN] =
	    "UPDATE queue_state SET worker_last_run_at = ? WHERE id = 1",
	/* (now) */
	[SQL_WORKER_SUCCESS] =
	    "UPDATE queue_state SET worker_last_success_at = ? WHERE id = 1",
	[SQL_CACHE_PENDING_ADD] =
	    "INSERT INTO cache_pending (key, pattern, created_at) VALUES (?, ?, ?) "
	    "ON CONFLICT (key) DO UPDATE SET created_at = excluded.created_at",
	[SQL_CACHE_PENDING_LIST] =
	    "SELECT key, pattern FROM cache_pending ORDER BY created_at LIMIT 10000",
	[SQL_CACHE_PENDING_CLEAR] =
	    "DELETE FROM cache_pending WHERE created_at < ?",
	[SQL_USER_GET] =
	    "SELECT id, name, email, role, created_at, updated_at, "
	    "disabled_at IS NOT NULL FROM users WHERE id = ?",
	/* (before, role or NULL, limit), newest first, the
	 * columns of SQL_USER_GET */
	[SQL_USERS_PAGE] =
	    "SELECT id, name, email, role, created_at, updated_at, "
	    "disabled_at IS NOT NULL FROM users WHERE id < ?1 "
	    "AND (?2 IS NULL OR role = ?2) ORDER BY id DESC LIMIT ?3",
	[SQL_USER_INSERT] =
	    "INSERT INTO users (name, email, role, created_at, updated_at) "
	    "VALUES (?, ?, ?, ?, ?)",
	/* (name, email, role, now, id, disabled) NULL
	 * leaves a column as it is; disabled 1 keeps the first disabling
	 * time, 0 clears it. */
	[SQL_USER_UPDATE] = "UPDATE users SET name = coalesce(?1, name), "
	    "email = coalesce(?2, email), role = coalesce(?3, role), "
	    "disabled_at = CASE ?6 WHEN 1 THEN coalesce(disabled_at, ?4) "
	    "WHEN 0 THEN NULL ELSE disabled_at END, "
	    "updated_at = ?4 WHERE id = ?5",
	/* (user, hash, now, expires_at or NULL); inserts
	 * nothing for a user that is disabled (or missing), in the same
	 * statement, so that no disabling can slip between check and insert */
	[SQL_TOKEN_INSERT] =
	    "INSERT INTO tokens (user_id, hash, created_at, expires_at) "
	    "SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM users "
	    "WHERE id = ?1 AND disabled_at IS NULL)",
	/* (hash, now) a live token of an enabled user */
	[SQL_TOKEN_LOOKUP] =
	    "SELECT t.user_id, u.role, t.id, coalesce(t.expires_at, 0), "
	    "coalesce(t.last_used_at, 0) FROM tokens t JOIN users u "
	    "ON u.id = t.user_id WHERE t.hash = ?1 AND t.revoked_at IS NULL "
	    "AND u.disabled_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?2)",
	[SQL_TOKEN_REVOKE] =
	    "UPDATE tokens SET revoked_at = ? WHERE hash = ? AND revoked_at IS NULL",
	[SQL_TOKEN_HASHES_OF_USER] =
	    "SELECT hash FROM tokens WHERE user_id = ? AND revoked_at IS NULL",
	/* (user, now, limit) the live ones, newest first */
	[SQL_TOKENS_OF_USER] =
	    "SELECT id, created_at, last_used_at, expires_at FROM tokens "
	    "WHERE user_id = ?1 AND revoked_at IS NULL "
	    "AND (expires_at IS NULL OR expires_at > ?2) ORDER BY id DESC LIMIT ?3",
	/* (now, user) every token, in one statement:
	 * none minted meanwhile escapes; the hashes name the session keys */
	[SQL_TOKENS_REVOKE_USER] =
	    "UPDATE tokens SET revoked_at = ?1 WHERE user_id = ?2 "
	    "AND revoked_at IS NULL RETURNING hash",
	/* (now, token id, user) */
	[SQL_TOKEN_REVOKE_ID] =
	    "UPDATE tokens SET revoked_at = ?1 WHERE id = ?2 AND user_id = ?3 "
	    "AND revoked_at IS NULL RETURNING hash",
	/* (now, token id, not since) last_used_at, at most
	 * once per interval whichever process asks */
	[SQL_TOKEN_TOUCH] = "UPDATE tokens SET last_used_at = ?1 WHERE id = ?2 "
	    "AND (last_used_at IS NULL OR last_used_at < ?3)",
	[SQL_ROOM_INSERT] =
	    "INSERT INTO rooms (name, created_by, created_at) VALUES (?, ?, ?)",
	[SQL_ROOM_GET] = "SELECT id, name, created_at FROM rooms WHERE id = ?",
	[SQL_ROOM_EXISTS] = "SELECT 1 FROM rooms WHERE id = ?",
	/* idempotent */
	[SQL_ROOM_MEMBER_ADD] =
	    "INSERT OR IGNORE INTO room_members (room_id, user_id, added_at) "
	    "VALUES (?, ?, ?)",
	[SQL_ROOM_MEMBERS] =
	    "SELECT user_id FROM room_members WHERE room_id = ? ORDER BY user_id",
	[SQL_ROOM_IS_MEMBER] =
	    "SELECT 1 FROM room_members WHERE room_id = ? AND user_id = ?",
	/* (before, limit) */
	[SQL_ROOMS_ALL] = "SELECT id, name, created_at FROM rooms WHERE id < ? "
	    "ORDER BY id DESC LIMIT ?",
	/* (user, before, limit) */
	[SQL_ROOMS_OF_USER] = "SELECT r.id, r.name, r.created_at FROM rooms r "
	    "JOIN room_members m ON m.room_id = r.id "
	    "WHERE m.user_id = ? AND r.id < ? ORDER BY r.id DESC LIMIT ?",
	/* the rooms with the newest messages (limit) */
	[SQL_ROOMS_RECENT] = "SELECT room_id FROM messages GROUP BY room_id "
	    "ORDER BY max(id) DESC LIMIT ?",
	/* the newest message (the archive keeps each
	 * room's newest 50 here) */
	[SQL_ROOM_LAST_MESSAGE] =
	    "SELECT coalesce(max(id), 0) FROM main.messages WHERE room_id = ?",
	[SQL_MESSAGE_INSERT] =
	    "INSERT INTO messages (room_id, user_id, body, created_at) "
	    "VALUES (?, ?, ?, ?)",
	/* (room, before, limit), newest first, archived
	 * rows included. Each file is cut to the limit before the merge, so
	 * a long history costs no more than a short one; UNION drops a row
	 * caught in both files in the middle of a move. */
	[SQL_MESSAGES_PAGE] =
	    "SELECT * FROM (SELECT id, room_id, user_id, body, created_at"
	    "  FROM main.messages WHERE room_id = ?1 AND id < ?2"
	    "  ORDER BY id DESC LIMIT ?3)"
	    " UNION "
	    "SELECT * FROM (SELECT id, room_id, user_id, body, created_at"
	    "  FROM archive.messages WHERE room_id = ?1 AND id < ?2"
	    "  ORDER BY id DESC LIMIT ?3)"
	    " ORDER BY id DESC LIMIT ?3",
	/* (room, after, limit), oldest first, archived
	 * rows included: the catch-up read of API.md section 8. */
	[SQL_MESSAGES_AFTER] =
	    "SELECT * FROM (SELECT id, room_id, user_id, body, created_at"
	    "  FROM main.messages WHERE room_id = ?1 AND id > ?2"
	    "  ORDER BY id LIMIT ?3)"
	    " UNION "
	    "SELECT * FROM (SELECT id, room_id, user_id, body, created_at"
	    "  FROM archive.messages WHERE room_id = ?1 AND id > ?2"
	    "  ORDER BY id LIMIT ?3)"
	    " ORDER BY id LIMIT ?3",
	[SQL_TICKET_INSERT] =
	    "INSERT INTO tickets (subject, status, priority, requester_id, "
	    "created_at, updated_at, last_activity_at) "
	    "VALUES (?, 'open', ?, ?, ?, ?, ?)",
	[SQL_TICKET_GET] =
	    "SELECT id, subject, status, priority, requester_id, assignee_id, "
	    "created_at, updated_at, last_activity_at, closed_at FROM tickets "
	    "WHERE id = ?",
	[SQL_TICKET_UPDATE] =
	    "UPDATE tickets SET subject = ?, status = ?, priority = ?, "
	    "assignee_id = ?, updated_at = ?, last_activity_at = ?, closed_at = ? "
	    "WHERE id = ?",
	/* (before, requester or NULL, status or NULL,
	 * assignee or NULL, limit), newest first */
	[SQL_TICKETS_PAGE] =
	    "SELECT id, subject, status, priority, requester_id, assignee_id, "
	    "created_at, updated_at, last_activity_at, closed_at FROM tickets "
	    "WHERE id < ?1 AND (?2 IS NULL OR requester_id = ?2) "
	    "AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR assignee_id = ?4) "
	    "ORDER BY id DESC LIMIT ?5",
	[SQL_INTERACTION_INSERT] =
	    "INSERT INTO interactions (ticket_id, author_id, kind, body, created_at) "
	    "VALUES (?, ?, ?, ?, ?)",
	/* (ticket, before, limit), newest first here
	 * (the route reverses each page), archived rows included. */
	[SQL_INTERACTIONS_PAGE] =
	    "SELECT * FROM (SELECT id, ticket_id, author_id, kind, body, created_at"
	    "  FROM main.interactions WHERE ticket_id = ?1 AND id < ?2"
	    "  ORDER BY id DESC LIMIT ?3)"
	    " UNION "
	    "SELECT * FROM (SELECT id, ticket_id, author_id, kind, body, created_at"
	    "  FROM archive.interactions WHERE ticket_id = ?1 AND id < ?2"
	    "  ORDER BY id DESC LIMIT ?3)"
	    " ORDER BY id DESC LIMIT ?3",
	/* (ticket, after, limit), oldest first,
	 * archived rows included. */
	[SQL_INTERACTIONS_AFTER] =
	    "SELECT * FROM (SELECT id, ticket_id, author_id, kind, body, created_at"
	    "  FROM main.interactions WHERE ticket_id = ?1 AND id > ?2"
	    "  ORDER BY id LIMIT ?3)"
	    " UNION "
	    "SELECT * FROM (SELECT id, ticket_id, author_id, kind, body, created_at"
	    "  FROM archive.interactions WHERE ticket_id = ?1 AND id > ?2"
	    "  ORDER BY id LIMIT ?3)"
	    " ORDER BY id LIMIT ?3",
	/* (user, before, unread only, limit) */
	[SQL_NOTIFS_PAGE] =
	    "SELECT id, user_id, event, ticket_id, created_at, read_at "
	    "FROM notifications WHERE user_id = ?1 AND id < ?2 "
	    "AND (?3 = 0 OR read_at IS NULL) ORDER BY id DESC LIMIT ?4",
	/* (user, after, unread only, limit), oldest first */
	[SQL_NOTIFS_AFTER] =
	    "SELECT id, user_id, event, ticket_id, created_at, read_at "
	    "FROM notifications WHERE user_id = ?1 AND id > ?2 "
	    "AND (?3 = 0 OR read_at IS NULL) ORDER BY id LIMIT ?4",
	/* (now, id, user) */
	[SQL_NOTIF_READ_ONE] =
	    "UPDATE notifications SET read_at = ? WHERE id = ? AND user_id = ? "
	    "AND read_at IS NULL",
	/* (now, user) */
	[SQL_NOTIF_READ_ALL] =
	    "UPDATE notifications SET read_at = ? WHERE user_id = ? "
	    "AND read_at IS NULL",
	/* (user, since) */
	[SQL_STATS_REQUESTER] =
	    "SELECT count(*), total(status = 'open'), total(status = 'pending'), "
	    "total(status = 'closed'), avg(CASE WHEN closed_at IS NOT NULL "
	    "THEN (closed_at - created_at) / 3600000.0 END) "
	    "FROM tickets WHERE requester_id = ? AND created_at >= ?",
	/* (user, since) */
	[SQL_STATS_ASSIGNEE] =
	    "SELECT count(*), total(status = 'open'), total(status = 'pending'), "
	    "total(status = 'closed'), avg(CASE WHEN closed_at IS NOT NULL "
	    "THEN (closed_at - created_at) / 3600000.0 END) "
	    "FROM tickets WHERE assignee_id = ? AND created_at >= ?",
	/* (cutoff, limit). Run inside the close's
	 * write transaction, so it must cost the batch, not the table: left
	 * to itself the planner takes tickets_status and sorts every open
	 * ticket, which held the lock for most of a second at 1,000,000. */
	[SQL_TICKETS_INACTIVE] =
	    "SELECT id FROM tickets INDEXED BY tickets_activity "
	    "WHERE status IN ('open', 'pending') "
	    "AND last_activity_at < ? ORDER BY last_activity_at LIMIT ?",
	/* (cutoff, after id, limit) the next batch of
	 * hot interactions to move: those of tickets closed before cutoff,
	 * and those the archive already holds (copied by a run that died
	 * before its delete, the ticket reopened since). Walked by id with a
	 * primary-key probe per row, so a batch costs its rows, not every
	 * closed ticket as a join driven by tickets_status would. */
	[SQL_ARCH_INTER_IDS] =
	    "SELECT i.id FROM main.interactions i WHERE i.id > ?2 AND ("
	    "EXISTS (SELECT 1 FROM main.tickets t WHERE t.id = i.ticket_id "
	    "AND t.status = 'closed' AND t.closed_at < ?1) OR "
	    "EXISTS (SELECT 1 FROM archive.interactions a WHERE a.id = i.id)) "
	    "ORDER BY i.id LIMIT ?3",
	/* (cutoff, lo, hi), driven by the id range */
	[SQL_ARCH_INTER_COPY] = "INSERT OR IGNORE INTO archive.interactions "
	    "SELECT i.id, i.ticket_id, i.author_id, i.kind, i.body, i.created_at "
	    "FROM main.interactions i WHERE i.id BETWEEN ?2 AND ?3 "
	    "AND EXISTS (SELECT 1 FROM main.tickets t WHERE t.id = i.ticket_id "
	    "AND t.status = 'closed' AND t.closed_at < ?1)",
	/* (cutoff unused, lo, hi) after the copy
	 * committed, every row of the range the archive holds: rows are
	 * never edited and ids never reused, so a row in the archive is
	 * archived, whatever its ticket has done since. */
	[SQL_ARCH_INTER_DELETE] =
	    "DELETE FROM main.interactions WHERE id BETWEEN ?2 AND ?3 "
	    "AND id IN (SELECT id FROM archive.interactions "
	    "WHERE id BETWEEN ?2 AND ?3)",
	/* (cutoff, after id, limit) messages older than
	 * cutoff that are not among their room's newest 50, and those the
	 * archive already holds */
	[SQL_ARCH_MSG_IDS] =
	    "SELECT m.id FROM main.messages m WHERE m.id > ?2 AND ("
	    "(m.created_at < ?1 AND m.id < (SELECT min(id) FROM (SELECT id "
	    "FROM main.messages WHERE room_id = m.room_id ORDER BY id DESC "
	    "LIMIT 50))) OR "
	    "EXISTS (SELECT 1 FROM archive.messages a WHERE a.id = m.id)) "
	    "ORDER BY m.id LIMIT ?3",
	/* (cutoff, lo, hi) */
	[SQL_ARCH_MSG_COPY] = "INSERT OR IGNORE INTO archive.messages "
	    "SELECT m.id, m.room_id, m.user_id, m.body, m.created_at "
	    "FROM main.messages m WHERE m.id BETWEEN ?2 AND ?3 "
	    "AND m.created_at < ?1 AND m.id < (SELECT min(id) FROM (SELECT id "
	    "FROM main.messages WHERE room_id = m.room_id ORDER BY id DESC "
	    "LIMIT 50))",
	/* (cutoff unused, lo, hi) as for interactions */
	[SQL_ARCH_MSG_DELETE] =
	    "DELETE FROM main.messages WHERE id BETWEEN ?2 AND ?3 "
	    "AND id IN (SELECT id FROM archive.messages WHERE id BETWEEN ?2 AND ?3)",
	[SQL_STAFF_IDS] =
	    "SELECT id FROM users WHERE role IN ('agent', 'admin') ORDER BY id",
	/* at most once per task and user */
	[SQL_NOTIF_INSERT] = "INSERT OR IGNORE INTO notifications "
	    "(user_id, event, ticket_id, task_id, created_at) VALUES (?, ?, ?, ?, ?)",
	/* (task id) */
	[SQL_NOTIF_UNDELIVERED] =
	    "SELECT id, user_id, event, ticket_id, created_at, read_at "
	    "FROM notifications WHERE task_id = ? AND delivered_at IS NULL "
	    "ORDER BY id",
	/* (now, id) */
	[SQL_NOTIF_DELIVERED] =
	    "UPDATE notifications SET delivered_at = ? WHERE id = ?",
	[SQL_META_GET] = "SELECT value FROM meta WHERE name = ?",
	[SQL_META_SET] = "INSERT INTO meta (name, value) VALUES (?, ?) "
	    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
	/* Sign-in (issue 15). */
	/* A disabled user's hash reads as none: its sign-in fails like a
	 * wrong password, at the same cost. */
	[SQL_USER_BY_EMAIL] = "SELECT id, CASE WHEN disabled_at IS NULL "
	    "THEN password_hash END FROM users WHERE email = ?",
	[SQL_USER_PASSWORD_OF] = "SELECT id, password_hash FROM users "
	    "WHERE id = ?",
	/* (hash, now, id); the hash is never read back by a route. */
	[SQL_USER_PASSWORD_SET] = "UPDATE users SET password_hash = ?, "
	    "updated_at = ? WHERE id = ?",
	/* Only if the name is not there yet (secrets: the first one made
	 * stays). */
	[SQL_META_ADD] =
	    "INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)",
};

/*
 * The statement s, prepared on first use and kept, or NULL (logged).
 * Bind, step with db_step(), then db_reset() it.
 */
static sqlite3_stmt *db_stmt(struct db *, enum sqlstmt);
/* Steps; returns SQLITE_ROW, SQLITE_DONE, or the error code (logged). */
static int db_step(struct db *, sqlite3_stmt *);
static void db_reset(sqlite3_stmt *);
/* For statements that return no rows: step to the end and reset.
 * Returns 0, or the SQLite error code. */
static int db_exec_stmt(struct db *, sqlite3_stmt *);
static int db_bind_int(sqlite3_stmt *, int idx, int64_t v);
static int db_bind_text(sqlite3_stmt *, int idx, const char *s, size_t len);
static int db_bind_blob(sqlite3_stmt *, int idx, const void *p, size_t len);

struct db {
	sqlite3		*h;
	char		*path;
	int		 fd;		/* read-only, for the health check */
	int		 wal_fd;	/* the WAL, for group commit; or -1 */
	int64_t		 busy_start_us;
	int64_t		 txn_start_us;	/* the write lock taken */
	int64_t		 held_us;	/* see db_held_us */
	dev_t		 dev;
	ino_t		 ino;
	int		 down;
	int64_t		 checked_us;
	/* Set when a write failed because the database cannot take writes
	 * (ro_code the SQLite code); cleared by the next write that works. */
	int		 ro;
	int		 ro_code;
	int64_t		 ro_probe_us;	/* when a write last tried */
	sqlite3_stmt	*stmts[SQL__MAX];
};

/*
 * What an error says about the store. A file that cannot be read is down
 * (every route 503). A file that can be read but not written (a full disk,
 * a read-only file system, an I/O error while writing) fails only the
 * writes: reads go on, and the first write that works ends it.
 */
static enum db_state
db_error_state(int rc, int is_write)
{
	switch (rc & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_CANTOPEN:
		return DB_STATE_DOWN;
	case SQLITE_FULL:
		return DB_STATE_READ_ONLY;
	case SQLITE_READONLY:
		/* The file was renamed or unlinked under us: gone, not full. */
		return rc == SQLITE_READONLY_DBMOVED ? DB_STATE_DOWN :
		    DB_STATE_READ_ONLY;
	case SQLITE_IOERR:
		return is_write ? DB_STATE_READ_ONLY : DB_STATE_DOWN;
	default:
		return DB_STATE_OK;
	}
}

static void
db_note_error(struct db *db, int rc, const char *what, int is_write)
{
	/* A constraint is the caller's to answer (409, 400): not an error
	 * of the store. */
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		log_debug("sqlite %s: %s", what, sqlite3_errmsg(db->h));
		return;
	}
	log_error("sqlite %s: %s (%d)", what, sqlite3_errmsg(db->h), rc);
	switch (db_error_state(rc, is_write)) {
	case DB_STATE_DOWN:
		db->down = 1;
		db->checked_us = util_mono_us();
		break;
	case DB_STATE_READ_ONLY:
		if (!db->ro)
			log_warn("database cannot take writes (%s): writes answer "
			    "503 and are retried once a second, reads go on",
			    sqlite3_errstr(rc));
		db->ro = 1;
		db->ro_code = rc & 0xff;
		db->ro_probe_us = util_mono_us();
		break;
	case DB_STATE_OK:
		break;
	}
}

/* A write committed: the database takes writes again. */
static void
db_note_write(struct db *db)
{
	if (!db->ro)
		return;
	db->ro = 0;
	log_info("database takes writes again");
}

/*
 * A WAL sync failed (here or in another process of the pool: the failure
 * is kept in the shared page, gcommit.h): read-only like a full disk, but
 * with no probe. After a failed fdatasync Linux may drop the dirty pages
 * and report a later sync as successful over the hole, so no write may be
 * believed again until the pool restarts (app_open clears the failure).
 * Reads go on: what SQLite serves is what it holds (invariant 7).
 */
static void
db_sync_failed(struct db *db, int err)
{
	if (db->ro && db->ro_code == SQLITE_IOERR_FSYNC)
		return;
	log_error("sqlite: syncing the WAL failed (%s): writes answer 503 "
	    "until the pool restarts, reads go on; check the disk",
	    err ? strerror(err) : "in another pool process");
	db->ro = 1;
	db->ro_code = SQLITE_IOERR_FSYNC;
	db->ro_probe_us = util_mono_us();
}

/* 1 if a group-commit sync failed since the pool started. */
static int
db_sync_lost(struct db *db)
{
	if (!gcommit_failed(metrics_gcommit()))
		return 0;
	db_sync_failed(db, 0);
	return 1;
}

static int
db_execf(struct db *db, const char *sql)
{
	char *msg = NULL;
	int rc;

	if ((rc = sqlite3_exec(db->h, sql, NULL, NULL, &msg)) != SQLITE_OK) {
		log_error("sqlite: %s: %s", sql, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * Waits for a lock with short sleeps. SQLite's own handler sleeps 1, 2,
 * 5, 10 ... 100 ms, which is far longer than the commits of this app take:
 * under two writers it made p99 of a post ten times its p50.
 */
static int
db_busy(void *arg, int count)
{
	struct db *db = arg;
	struct timespec ts = { 0, 0 };

	if (count == 0)
		db->busy_start_us = util_mono_us();
	else if (util_mono_us() - db->busy_start_us > DB_BUSY_TIMEOUT_MS * 1000LL)
		return 0;
	ts.tv_nsec = count < 20 ? 20000 : count < 200 ? 200000 : 2000000;
	nanosleep(&ts, NULL);
	return 1;
}

static void db_group_commit(struct db *);

static int
db_user_version(struct db *db)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(db->h, "PRAGMA main.user_version", -1, &st,
	    NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

int
db_latest_version(void)
{
	return sql_nmigrations;
}

struct db *
db_open(const struct config *cfg, enum db_open_mode mode, char *err,
    size_t errsz)
{
	struct db *db;
	struct stat st;
	char pragmas[512];
	int flags, v;
	sqlite3_stmt *at = NULL;

	if ((db = calloc(1, sizeof(*db))) == NULL ||
	    (db->path = strdup(cfg->db_path)) == NULL)
		abort();
	db->fd = db->wal_fd = -1;
	flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	if (mode == DB_OPEN_MIGRATE)
		flags |= SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(cfg->db_path, &db->h, flags, NULL) != SQLITE_OK) {
		snprintf(err, errsz, "db_path: cannot open %.200s: %s%s",
		    cfg->db_path, sqlite3_errmsg(db->h),
		    mode == DB_OPEN_APP ? " (run chatdeskctl migrate)" : "");
		goto fail;
	}
	sqlite3_extended_result_codes(db->h, 1);
	sqlite3_busy_handler(db->h, db_busy, db);
	snprintf(pragmas, sizeof(pragmas),
	    "PRAGMA journal_mode = WAL;"
	    "PRAGMA synchronous = %s;"
	    "PRAGMA foreign_keys = ON;"
	    "PRAGMA journal_size_limit = %d;",
	    cfg->sqlite_synchronous == SYNC_NORMAL ? "NORMAL" : "FULL",
	    DB_JOURNAL_LIMIT);
	if (db_execf(db, pragmas) == -1) {
		snprintf(err, errsz, "db_path: %.200s: %s", cfg->db_path,
		    sqlite3_errmsg(db->h));
		goto fail;
	}
	/* The archive is a second file: a bound parameter, never SQL text. */
	if (sqlite3_prepare_v2(db->h, "ATTACH DATABASE ? AS archive", -1, &at,
	    NULL) != SQLITE_OK ||
	    sqlite3_bind_text(at, 1, cfg->archive_db_path, -1, SQLITE_STATIC) !=
	    SQLITE_OK || sqlite3_step(at) != SQLITE_DONE) {
		snprintf(err, errsz, "archive_db_path: cannot attach %.200s: %s",
		    cfg->archive_db_path, sqlite3_errmsg(db->h));
		sqlite3_finalize(at);
		goto fail;
	}
	sqlite3_finalize(at);
	if (db_execf(db, "PRAGMA archive.journal_mode = WAL;") == -1) {
		snprintf(err, errsz, "archive_db_path: %.200s: %s",
		    cfg->archive_db_path, sqlite3_errmsg(db->h));
		goto fail;
	}
	v = db_user_version(db);
	if (v < 0) {
		snprintf(err, errsz, "db_path: %.200s: not a database: %s",
		    cfg->db_path, sqlite3_errmsg(db->h));
		goto fail;
	}
	if (v > db_latest_version()) {
		snprintf(err, errsz, "db_path: %.200s has schema version %d, "
		    "newer than this build knows (%d): upgrade chatdesk",
		    cfg->db_path, v, db_latest_version());
		goto fail;
	}
	if (mode == DB_OPEN_APP && v < db_latest_version()) {
		snprintf(err, errsz, "db_path: %.200s has schema version %d, "
		    "this build needs %d: run chatdeskctl migrate",
		    cfg->db_path, v, db_latest_version());
		goto fail;
	}
	if (stat(cfg->db_path, &st) == 0) {
		db->dev = st.st_dev;
		db->ino = st.st_ino;
	}
	/*
	 * Opened once and kept until after sqlite3_close: closing any
	 * descriptor of the database file drops every POSIX lock this
	 * process holds on it, SQLite's included (sqlite.org/howtocorrupt
	 * 2.2), so the health check must never open and close one.
	 */
	db->fd = open(cfg->db_path, O_RDONLY | O_CLOEXEC);
	if (cfg->sqlite_synchronous != SYNC_NORMAL)
		db_group_commit(db);
	return db;
fail:
	db_close(db);
	return NULL;
}

/*
 * synchronous=full as group commit (gcommit.h): the WAL is opened once
 * more, and main commits at NORMAL, each db_commit then waiting for a
 * shared fdatasync of it. If the WAL cannot be opened, SQLite's FULL
 * stays (every commit syncs under the write lock): slower, as durable.
 *
 * The WAL file is not replaced while this connection is open: SQLite
 * deletes it only when the last connection closes (it must take the
 * database's EXCLUSIVE lock, and every open connection holds SHARED).
 * SQLite takes no POSIX lock on the WAL file, so this descriptor's close
 * drops none of its locks. Its directory entry may be new (a first
 * connection creates the WAL): the directory is synced once, here.
 */
static void
db_group_commit(struct db *db)
{
	const char *wal = sqlite3_filename_wal(sqlite3_db_filename(db->h,
	    "main"));
	char dir[4096], *slash;
	int dfd;

	if (wal == NULL ||
	    (db->wal_fd = open(wal, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("sqlite: cannot open the WAL %s for group commit (%s):"
		    " each commit syncs on its own", wal ? wal : "(none)",
		    strerror(errno));
		return;
	}
	snprintf(dir, sizeof(dir), "%s", wal);
	if ((slash = strrchr(dir, '/')) != NULL)
		*(slash == dir ? slash + 1 : slash) = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(dfd) == -1 ||
	    db_execf(db, "PRAGMA main.synchronous = NORMAL;") == -1) {
		log_warn("sqlite: group commit off (%s): each commit syncs on "
		    "its own", strerror(errno));
		close(db->wal_fd);
		db->wal_fd = -1;
	}
	if (dfd != -1)
		close(dfd);
}

void
db_close(struct db *db)
{
	int i;

	if (db == NULL)
		return;
	for (i = 0; i < SQL__MAX; i++)
		sqlite3_finalize(db->stmts[i]);
	sqlite3_close(db->h);
	if (db->fd != -1)
		close(db->fd);
	if (db->wal_fd != -1)
		close(db->wal_fd);
	free(db->path);
	free(db);
}

/* Adds the secret name to meta if it is not there yet: len random bytes
 * from the OS, as hex. Returns 0 or -1 (logged). */
static int
secret_make(struct db *db, const char *name, size_t len)
{
	unsigned char key[DB_SECRET_MAX];
	char hex[2 * DB_SECRET_MAX + 1];
	sqlite3_stmt *st;
	int rc;

	if (len > sizeof(key) || (st = db_stmt(db, SQL_META_ADD)) == NULL)
		return -1;
	util_random(key, len);
	util_hex(key, len, hex);
	db_bind_text(st, 1, name, strlen(name));
	db_bind_text(st, 2, hex, 2 * len);
	rc = db_exec_stmt(db, st);
	util_wipe(key, sizeof(key));
	util_wipe(hex, sizeof(hex));
	if (rc != 0)
		log_error("cannot store the secret %s", name);
	return rc == 0 ? 0 : -1;
}

int
db_secret(struct db *db, const char *name, unsigned char *out, size_t len)
{
	sqlite3_stmt *st;
	const char *v;
	int rc;

	if ((st = db_stmt(db, SQL_META_GET)) == NULL)
		return -1;
	db_bind_text(st, 1, name, strlen(name));
	rc = db_step(db, st);
	if (rc == SQLITE_ROW && (v = (const char *)sqlite3_column_text(st,
	    0)) != NULL && strlen(v) == 2 * len &&
	    util_unhex(v, out, len) == 0)
		rc = 0;
	else
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 1 : -1;
	db_reset(st);
	return rc;
}

int
db_migrate(struct db *db, int *from, int *to)
{
	char sql[64];
	int v, i;

	if ((v = db_user_version(db)) < 0)
		return -1;
	*from = *to = v;
	for (i = 0; i < sql_nmigrations; i++) {
		if (sql_migrations[i].version <= v)
			continue;
		if (db_begin(db) == -1)
			return -1;
		snprintf(sql, sizeof(sql), "PRAGMA main.user_version = %d",
		    sql_migrations[i].version);
		if (db_execf(db, sql_migrations[i].sql) == -1 ||
		    db_execf(db, sql) == -1) {
			db_rollback(db);
			log_error("migration %s failed", sql_migrations[i].name);
			return -1;
		}
		if (db_commit(db) == -1)
			return -1;
		*to = sql_migrations[i].version;
		log_info("applied migration %s", sql_migrations[i].name);
	}
	if (db_execf(db, sql_archive_schema) == -1)
		return -1;
	return secret_make(db, DB_SECRET_CACHE_MAC, DB_SECRET_LEN);
}

static sqlite3_stmt *
db_stmt(struct db *db, enum sqlstmt s)
{
	int rc;

	if (db->stmts[s] != NULL)
		return db->stmts[s];
	/* sqls[] is designated: an enum entry without its text is a
	 * programming error, found on the statement's first use. */
	if (sqls[s] == NULL) {
		log_error("sqlite: statement %d has no SQL text in db.c", (int)s);
		abort();
	}
	rc = sqlite3_prepare_v3(db->h, sqls[s], -1, SQLITE_PREPARE_PERSISTENT,
	    &db->stmts[s], NULL);
	if (rc != SQLITE_OK) {
		db_note_error(db, rc, "prepare", 0);
		db->stmts[s] = NULL;
		return NULL;
	}
	return db->stmts[s];
}

static int
db_step(struct db *db, sqlite3_stmt *st)
{
	int rc;

	/* A write of its own while the database cannot take writes: tried
	 * once a second (db_writable), refused in between. */
	if (!sqlite3_stmt_readonly(st) && sqlite3_get_autocommit(db->h) &&
	    !db_writable(db)) {
		log_debug("sqlite step: refused, the database cannot take "
		    "writes");
		return SQLITE_READONLY;
	}
	rc = sqlite3_step(st);

	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		db_note_error(db, rc, "step", !sqlite3_stmt_readonly(st));
	else if (rc == SQLITE_DONE && db->ro && !sqlite3_stmt_readonly(st) &&
	    sqlite3_get_autocommit(db->h))
		db_note_write(db);	/* a write of its own, not in BEGIN */
	return rc;
}

static void
db_reset(sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	/* A stepped statement that is not reset holds a read snapshot and
	 * starves WAL checkpoints. */
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static int
db_exec_stmt(struct db *db, sqlite3_stmt *st)
{
	int rc;

	while ((rc = db_step(db, st)) == SQLITE_ROW)
		;
	db_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
}

static int
db_bind_int(sqlite3_stmt *st, int idx, int64_t v)
{
	return sqlite3_bind_int64(st, idx, v) == SQLITE_OK ? 0 : -1;
}

static int
db_bind_text(sqlite3_stmt *st, int idx, const char *s, size_t len)
{
	return sqlite3_bind_text64(st, idx, s, len, SQLITE_TRANSIENT,
	    SQLITE_UTF8) == SQLITE_OK ? 0 : -1;
}

static int
db_bind_blob(sqlite3_stmt *st, int idx, const void *p, size_t len)
{
	return sqlite3_bind_blob64(st, idx, p, len, SQLITE_TRANSIENT) ==
	    SQLITE_OK ? 0 : -1;
}

/* Runs a prepared transaction statement; returns its SQLite code. */
static int
db_txn(struct db *db, enum sqlstmt s)
{
	sqlite3_stmt *st;
	int rc;

	if (db->stmts[s] == NULL && sqlite3_prepare_v3(db->h, sqls[s], -1,
	    SQLITE_PREPARE_PERSISTENT, &db->stmts[s], NULL) != SQLITE_OK)
		return sqlite3_errcode(db->h);
	st = db->stmts[s];
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int
db_begin(struct db *db)
{
	int rc = SQLITE_BUSY, i;

	if (!db_writable(db)) {
		log_debug("sqlite begin: refused, the database cannot take "
		    "writes");
		return -1;
	}
	/* IMMEDIATE: a deferred BEGIN that later writes can fail with
	 * SQLITE_BUSY_SNAPSHOT without calling the busy handler. */
	for (i = 0; i < DB_BEGIN_TRIES; i++) {
		rc = db_txn(db, SQL_BEGIN);
		if ((rc & 0xff) != SQLITE_BUSY)
			break;
		log_warn("sqlite BEGIN IMMEDIATE busy (try %d of %d)", i + 1,
		    DB_BEGIN_TRIES);
	}
	if (rc != SQLITE_OK) {
		db_note_error(db, rc, "begin", 1);
		return -1;
	}
	db->txn_start_us = util_mono_us();
	return 0;
}

/* The write lock released (or about to be): adds its time to held_us. */
static void
db_released(struct db *db)
{
	if (db->txn_start_us != 0)
		db->held_us += util_mono_us() - db->txn_start_us;
	db->txn_start_us = 0;
}

int
db_commit(struct db *db)
{
	struct gcommit *gc;
	int rc = db_txn(db, SQL_COMMIT);

	if (rc != SQLITE_OK) {
		db_note_error(db, rc, "commit", 1);
		db_rollback(db);
		return -1;
	}
	/* The lock is released at COMMIT: the sync below is not lock time. */
	db_released(db);
	if (db->wal_fd != -1) {
		/* The write lock is free again; durable once a sync covers
		 * it. */
		gc = metrics_gcommit();
		if (gcommit_wait(gc, gcommit_ticket(gc), db->wal_fd) == -1) {
			db_sync_failed(db, errno);
			return -1;
		}
	}
	db_note_write(db);
	return 0;
}

void
db_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->h))
		db_txn(db, SQL_ROLLBACK);
	db_released(db);
}

int64_t
db_held_us(struct db *db)
{
	return db->held_us;
}

int
db_checkpoint(struct db *db)
{
	/* TRUNCATE: the WAL file shrinks back to nothing. */
	return db_execf(db, "PRAGMA main.wal_checkpoint(TRUNCATE);"
	    "PRAGMA archive.wal_checkpoint(TRUNCATE);");
}

void
db_checkpoint_passive(struct db *db)
{
	int rc;

	if ((rc = sqlite3_wal_checkpoint_v2(db->h, "main",
	    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL)) == SQLITE_OK)
		rc = sqlite3_wal_checkpoint_v2(db->h, "archive",
		    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
		db_note_error(db, rc, "checkpoint", 1);
}

/* The rowid of this connection's last INSERT. */
static int64_t
db_last_id(struct db *db)
{
	return sqlite3_last_insert_rowid(db->h);
}

int
db_changes(struct db *db)
{
	return sqlite3_changes(db->h);
}

/*
 * 1 if the file system holding the database has no room or is mounted
 * read-only, through the descriptor kept since open (a path could name
 * another file by now). Root may use the blocks reserved for it.
 */
static int
db_fs_no_room(struct db *db)
{
	struct statvfs sv;
	unsigned long long blocks;

	if (db->fd == -1 || fstatvfs(db->fd, &sv) == -1)
		return 0;
	if (sv.f_flag & ST_RDONLY)
		return 1;
	blocks = geteuid() == 0 ? sv.f_bfree : sv.f_bavail;
	return blocks * sv.f_frsize < DB_MIN_FREE_BYTES;
}

enum db_state
db_health(struct db *db)
{
	struct stat st;
	char magic[16];
	sqlite3_stmt *s;
	int fd, ok = 0, no_room;
	ssize_t n;

	db->checked_us = util_mono_us();
	/* The path must still name the file we opened, with SQLite's magic:
	 * an open descriptor keeps a deleted or replaced file readable, so a
	 * query alone would not notice. */
	if (stat(db->path, &st) == -1 || st.st_dev != db->dev ||
	    st.st_ino != db->ino) {
		log_error("health: %s is gone or replaced", db->path);
		goto out;
	}
	/* The header, read through the descriptor kept since open. */
	if ((fd = db->fd) == -1) {
		log_error("health: %s: no descriptor", db->path);
		goto out;
	}
	n = pread(fd, magic, sizeof(magic), 0);
	if (n != (ssize_t)sizeof(magic) ||
	    memcmp(magic, "SQLite format 3", sizeof(magic)) != 0) {
		log_error("health: %s: not a SQLite file any more", db->path);
		goto out;
	}
	if ((s = db_stmt(db, SQL_HEALTH_SCHEMA)) == NULL)
		goto out;
	if (db_step(db, s) == SQLITE_ROW)
		ok = 1;
	db_reset(s);
out:
	db->down = !ok;
	if (!ok)
		return DB_STATE_DOWN;
	no_room = db_fs_no_room(db);
	/*
	 * A write that failed for lack of room, or on a read-only file
	 * system, is believed over once the file system shows room again
	 * (the next write confirms it), so that a process without writes
	 * to try does not say read_only for good. An I/O error waits for a
	 * write that works.
	 */
	if (db_sync_lost(db))
		return DB_STATE_READ_ONLY;
	if (db->ro && !no_room && (db->ro_code & 0xff) != SQLITE_IOERR &&
	    db->checked_us - db->ro_probe_us >= DB_RECHECK_US) {
		db->ro = 0;
		log_info("database: the file system has room again");
	}
	return db->ro || no_room ? DB_STATE_READ_ONLY : DB_STATE_OK;
}

/*
 * Whether SQLite is unreadable, as last checked: checked again once
 * DB_RECHECK_US has passed, up or down, so that every process of the pool
 * notices within that time, not only those that served GET /health (a
 * request without a token reads nothing that would tell).
 */
int
db_down(struct db *db)
{
	if (util_mono_us() - db->checked_us > DB_RECHECK_US)
		db_health(db);
	return db->down;
}

int
db_writable(struct db *db)
{
	int64_t now;

	if (db_sync_lost(db))
		return 0;	/* no probe: see db_sync_failed */
	if (!db->ro)
		return 1;
	now = util_mono_us();
	if (now - db->ro_probe_us < DB_RECHECK_US)
		return 0;
	db->ro_probe_us = now;	/* this write is the probe */
	return 1;
}

int
db_read_only(struct db *db)
{
	return db_sync_lost(db) || db->ro;
}

int
db_in_txn(struct db *db)
{
	return !sqlite3_get_autocommit(db->h);
}

/*
 * Between requests nothing may stay open. A statement stepped and never
 * reset keeps a read transaction, and with it a snapshot: every later read
 * in this process would see the database as it was then, and miss what
 * other processes commit (a revoked token or a role change would not reach
 * this process). Resets any such statement, rolls back a transaction left
 * open, and names what it found: it is a bug in the caller.
 */
int
db_idle(struct db *db)
{
	sqlite3_stmt *st = NULL;
	int n = 0;

	while ((st = sqlite3_next_stmt(db->h, st)) != NULL) {
		if (!sqlite3_stmt_busy(st))
			continue;
		log_error("sqlite: a statement was left stepped after a "
		    "request (reset now): %.120s", sqlite3_sql(st));
		sqlite3_reset(st);
		n++;
	}
	if (!sqlite3_get_autocommit(db->h)) {
		log_error("sqlite: a transaction was left open after a "
		    "request (rolled back now)");
		db_rollback(db);
		n++;
	}
	return n;
}

int
db_worker_get(struct db *db, struct db_worker *w)
{
	sqlite3_stmt *st;
	int rc = -1;

	memset(w, 0, sizeof(*w));
	if ((st = db_stmt(db, SQL_WORKER_GET)) == NULL)
		return -1;
	if (db_step(db, st) == SQLITE_ROW) {
		w->created_at = sqlite3_column_int64(st, 0);
		w->last_run_at = sqlite3_column_int64(st, 1);
		w->last_success_at = sqlite3_column_int64(st, 2);
		rc = 0;
	}
	db_reset(st);
	return rc;
}

/* One UPDATE of queue_state with now, in its own transaction. */
static int
db_worker_set(struct db *db, enum sqlstmt s, int64_t now)
{
	sqlite3_stmt *st;

	if (db_begin(db) == -1)
		return -1;
	if ((st = db_stmt(db, s)) == NULL) {
		db_rollback(db);
		return -1;
	}
	db_bind_int(st, 1, now);
	if (db_exec_stmt(db, st) != 0) {
		db_rollback(db);
		return -1;
	}
	return db_commit(db);
}

int
db_worker_run(struct db *db, int64_t now)
{
	return db_worker_set(db, SQL_WORKER_RUN, now);
}

int
db_worker_success(struct db *db, int64_t now)
{
	return db_worker_set(db, SQL_WORKER_SUCCESS, now);
}

int
db_cache_pending_add(struct db *db, const char *key, int pattern)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_CACHE_PENDING_ADD)) == NULL)
		return -1;
	db_bind_text(st, 1, key, strlen(key));
	db_bind_int(st, 2, pattern);
	db_bind_int(st, 3, util_now_ms());
	return db_exec_stmt(db, st) == 0 ? 0 : -1;
}

int
db_cache_pending_replay(struct db *db,
    int (*fn)(void *, const char *, int), void *arg)
{
	sqlite3_stmt *list, *del;
	const unsigned char *s;
	int64_t start = util_now_ms();
	int n = 0, failed = 0;

	if ((list = db_stmt(db, SQL_CACHE_PENDING_LIST)) == NULL)
		return -1;
	while (!failed && db_step(db, list) == SQLITE_ROW) {
		if ((s = sqlite3_column_text(list, 0)) == NULL)
			continue;
		if (fn(arg, (const char *)s, sqlite3_column_int(list, 1)) == -1)
			failed = 1;
		else
			n++;
	}
	db_reset(list);
	if (failed)
		return -1;
	if (n == 0)
		return 0;
	/* Only what was remembered before this replay began: a key added
	 * since by another process may not have been seen above. */
	if ((del = db_stmt(db, SQL_CACHE_PENDING_CLEAR)) != NULL) {
		db_bind_int(del, 1, start);
		db_exec_stmt(db, del);
	}
	return n;
}

int
db_generation(struct db *db, char *buf, size_t bufsz)
{
	sqlite3_stmt *st;
	const unsigned char *v;
	int rc;

	*buf = '\0';
	if ((st = db_stmt(db, SQL_META_GET)) == NULL)
		return -1;
	db_bind_text(st, 1, "generation", 10);
	if ((rc = db_step(db, st)) == SQLITE_ROW &&
	    (v = sqlite3_column_text(st, 0)) != NULL)
		snprintf(buf, bufsz, "%s", (const char *)v);
	db_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int
db_file_version(const char *path, char *err, size_t errsz)
{
	struct db tmp;
	int v = -1;

	memset(&tmp, 0, sizeof(tmp));
	if (sqlite3_open_v2(path, &tmp.h, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK || (v = db_user_version(&tmp)) < 0)
		snprintf(err, errsz, "%.200s: not a SQLite database: %s", path,
		    sqlite3_errmsg(tmp.h));
	sqlite3_close(tmp.h);
	return v;
}

int
db_backup(struct db *db, const char *path, char *err, size_t errsz)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db->h, "VACUUM main INTO ?", -1, &st, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errsz, "%s", sqlite3_errmsg(db->h));
		return -1;
	}
	sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, errsz, "%.200s: %s", path, sqlite3_errmsg(db->h));
		return -1;
	}
	return 0;
}

int
db_restore(struct db *db, const char *path, const char *gen, char *err,
    size_t errsz)
{
	sqlite3 *src = NULL;
	sqlite3_backup *b;
	sqlite3_stmt *st;
	int rc, from, to;

	if (sqlite3_open_v2(path, &src, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errsz, "%.200s: %s", path, sqlite3_errmsg(src));
		sqlite3_close(src);
		return -1;
	}
	/* Statements kept from before would hold the old schema. */
	for (rc = 0; rc < SQL__MAX; rc++) {
		sqlite3_finalize(db->stmts[rc]);
		db->stmts[rc] = NULL;
	}
	if ((b = sqlite3_backup_init(db->h, "main", src, "main")) == NULL) {
		snprintf(err, errsz, "%s", sqlite3_errmsg(db->h));
		sqlite3_close(src);
		return -1;
	}
	/* -1: every page in one step, so the copy is one write. */
	rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	sqlite3_close(src);
	if (rc != SQLITE_DONE) {
		snprintf(err, errsz, "copying %.200s: %s", path,
		    sqlite3_errstr(rc));
		return -1;
	}
	if (db_migrate(db, &from, &to) == -1) {
		snprintf(err, errsz, "the restored database could not be "
		    "migrated (see the log above)");
		return -1;
	}
	if ((st = db_stmt(db, SQL_META_SET)) == NULL) {
		snprintf(err, errsz, "%s", sqlite3_errmsg(db->h));
		return -1;
	}
	db_bind_text(st, 1, "generation", 10);
	db_bind_text(st, 2, gen, strlen(gen));
	if (db_exec_stmt(db, st) != 0) {
		snprintf(err, errsz, "setting the generation: %s",
		    sqlite3_errmsg(db->h));
		return -1;
	}
	return 0;
}

/*
 * Rows: the loaders of db.h. The helpers below bind, step and reset, so
 * that each loader says only which statement, which arguments and which
 * columns.
 */

/* Column col as text (NULL for NULL). */
static const char *
col_text(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

/* Binds s, or leaves NULL bound when s is NULL. */
static void
bind_text_or_null(sqlite3_stmt *st, int idx, const char *s)
{
	if (s != NULL)
		db_bind_text(st, idx, s, strlen(s));
}

/* Statement s with v[0..n) bound to ?1..?n, or NULL (logged). */
static sqlite3_stmt *
stmt_ints(struct db *db, enum sqlstmt s, const int64_t *v, int n)
{
	sqlite3_stmt *st;
	int i;

	if ((st = db_stmt(db, s)) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		db_bind_int(st, i + 1, v[i]);
	return st;
}

/* Runs s, without rows, with the integers v[0..n). 0 or -1. */
static int
exec_ints(struct db *db, enum sqlstmt s, const int64_t *v, int n)
{
	sqlite3_stmt *st;

	if ((st = stmt_ints(db, s, v, n)) == NULL)
		return -1;
	return db_exec_stmt(db, st) == 0 ? 0 : -1;
}

/* A write's code for db.h: 0, DB_DUPLICATE for a unique constraint, -1. */
static int
write_rc(int rc)
{
	if (rc == 0)
		return 0;
	return (rc & 0xff) == SQLITE_CONSTRAINT ? DB_DUPLICATE : -1;
}

/*
 * A loader's callback and its argument, for the row readers (*_each)
 * that step_rows and step_one call: one member of fn per row type.
 */
struct rowcb {
	union {
		db_id_fn	*id;
		db_user_fn	*user;
		db_blob_fn	*blob;
		db_session_fn	*session;
		db_token_fn	*token;
		db_room_fn	*room;
		db_message_fn	*message;
		db_ticket_fn	*ticket;
		db_interaction_fn *interaction;
		db_notification_fn *notification;
		db_task_fn	*task;
	} fn;
	void	*arg;
};

/* Calls each(st, cb) for every row of st, bound already, until it returns
 * non-zero; resets. The count of rows, or -1 (see db.h), also for a NULL
 * st (a statement that could not be prepared). */
static int
step_rows(struct db *db, sqlite3_stmt *st,
    int (*each)(sqlite3_stmt *, const struct rowcb *), const struct rowcb *cb)
{
	int rc = SQLITE_DONE, n = 0, stop = 0;

	if (st == NULL)
		return -1;
	while (!stop && (rc = db_step(db, st)) == SQLITE_ROW) {
		n++;
		stop = each(st, cb);
	}
	db_reset(st);
	return stop == -1 || (!stop && rc != SQLITE_DONE) ? -1 : n;
}

/* The first row of st, bound already, to each (none if each is NULL);
 * resets. 0, 1 for no row, or -1 (also for a NULL st). */
static int
step_one(struct db *db, sqlite3_stmt *st,
    int (*each)(sqlite3_stmt *, const struct rowcb *), const struct rowcb *cb)
{
	int rc;

	if (st == NULL)
		return -1;
	if ((rc = db_step(db, st)) == SQLITE_ROW)
		rc = each == NULL || each(st, cb) != -1 ? 0 : -1;
	else
		rc = rc == SQLITE_DONE ? 1 : -1;
	db_reset(st);
	return rc;
}

static int
id_each(sqlite3_stmt *st, const struct rowcb *cb)
{
	return cb->fn.id(cb->arg, sqlite3_column_int64(st, 0));
}

/* The ids in column 0 of st's rows, bound already, to fn. */
static int
id_rows(struct db *db, sqlite3_stmt *st, db_id_fn *fn, void *arg)
{
	struct rowcb cb = { .fn.id = fn, .arg = arg };

	return step_rows(db, st, id_each, &cb);
}

int
db_ids_keep(void *arg, int64_t id)
{
	struct db_ids *a = arg;

	if (a->n >= a->max)
		return 1;
	a->ids[a->n++] = id;
	return a->n >= a->max;
}

/* 1 if s with v[0..n) bound has a row, 0 if not, -1. */
static int
has_row(struct db *db, enum sqlstmt s, const int64_t *v, int n)
{
	switch (step_one(db, stmt_ints(db, s, v, n), NULL, NULL)) {
	case 0:
		return 1;
	case 1:
		return 0;
	default:
		return -1;
	}
}

/* A row of SQL_USER_GET or SQL_USERS_PAGE. */
static int
user_each(sqlite3_stmt *st, const struct rowcb *cb)
{
	struct db_user u;

	u.id = sqlite3_column_int64(st, 0);
	u.name = col_text(st, 1);
	u.email = col_text(st, 2);
	u.role = col_text(st, 3);
	u.created_at = sqlite3_column_int64(st, 4);
	u.updated_at = sqlite3_column_int64(st, 5);
	u.disabled = sqlite3_column_int(st, 6);
	return cb->fn.user(cb->arg, &u);
}

int
db_user_get(struct db *db, int64_t id, db_user_fn *fn, void *arg)
{
	struct rowcb cb = { .fn.user = fn, .arg = arg };

	return step_one(db, stmt_ints(db, SQL_USER_GET, &id, 1),
	    fn != NULL ? user_each : NULL, &cb);
}

int
db_user_exists(struct db *db, int64_t id)
{
	return has_row(db, SQL_USER_GET, &id, 1);
}

int
db_users_page(struct db *db, int64_t before, const char *role, int limit,
    db_user_fn *fn, void *arg)
{
	struct rowcb cb = { .fn.user = fn, .arg = arg };
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_USERS_PAGE)) == NULL)
		return -1;
	db_bind_int(st, 1, before);
	bind_text_or_null(st, 2, role);
	db_bind_int(st, 3, limit);
	return step_rows(db, st, user_each, &cb);
}

int
db_user_insert(struct db *db, const char *name, const char *email,
    const char *role, int64_t now, int64_t *id)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = db_stmt(db, SQL_USER_INSERT)) == NULL)
		return -1;
	db_bind_text(st, 1, name, strlen(name));
	db_bind_text(st, 2, email, strlen(email));
	db_bind_text(st, 3, role, strlen(role));
	db_bind_int(st, 4, now);
	db_bind_int(st, 5, now);
	if ((rc = write_rc(db_exec_stmt(db, st))) == 0)
		*id = db_last_id(db);
	return rc;
}

int
db_user_update(struct db *db, int64_t id, const char *name,
    const char *email, const char *role, int disabled, int64_t now)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_USER_UPDATE)) == NULL)
		return -1;
	bind_text_or_null(st, 1, name);
	bind_text_or_null(st, 2, email);
	bind_text_or_null(st, 3, role);
	db_bind_int(st, 4, now);
	db_bind_int(st, 5, id);
	if (disabled != -1)
		db_bind_int(st, 6, disabled);
	return write_rc(db_exec_stmt(db, st));
}

int
db_user_password_set(struct db *db, int64_t id, const char *hash,
    int64_t now)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_USER_PASSWORD_SET)) == NULL)
		return -1;
	db_bind_text(st, 1, hash, strlen(hash));
	db_bind_int(st, 2, now);
	db_bind_int(st, 3, id);
	return db_exec_stmt(db, st) == 0 ? 0 : -1;
}

/* Steps st, bound already, whose row is (id, password hash or NULL), into
 * *id and hash as db_user_by_email says; resets. */
static int
password_row(struct db *db, sqlite3_stmt *st, int64_t *id, char *hash,
    size_t hashsz)
{
	const char *h;
	int rc;

	if (hash != NULL && hashsz > 0)
		hash[0] = '\0';
	if ((rc = db_step(db, st)) == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		h = col_text(st, 1);
		if (hash != NULL && h != NULL && strlen(h) < hashsz)
			memcpy(hash, h, strlen(h) + 1);
	}
	db_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int
db_user_by_email(struct db *db, const char *email, size_t len, int64_t *id,
    char *hash, size_t hashsz)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_USER_BY_EMAIL)) == NULL)
		return -1;
	db_bind_text(st, 1, email, len);
	return password_row(db, st, id, hash, hashsz);
}

int
db_user_password_of(struct db *db, int64_t id, char *hash, size_t hashsz)
{
	sqlite3_stmt *st;
	int64_t found;

	if ((st = stmt_ints(db, SQL_USER_PASSWORD_OF, &id, 1)) == NULL)
		return -1;
	return password_row(db, st, &found, hash, hashsz);
}

int
db_staff_ids(struct db *db, db_id_fn *fn, void *arg)
{
	return id_rows(db, db_stmt(db, SQL_STAFF_IDS), fn, arg);
}

int
db_token_insert(struct db *db, int64_t user_id, const void *hash, size_t len,
    int64_t now, int64_t expires_at)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_TOKEN_INSERT)) == NULL)
		return -1;
	db_bind_int(st, 1, user_id);
	db_bind_blob(st, 2, hash, len);
	db_bind_int(st, 3, now);
	if (expires_at > 0)
		db_bind_int(st, 4, expires_at);
	return db_exec_stmt(db, st) == 0 ? 0 : -1;
}

/* A row of SQL_TOKEN_LOOKUP. */
static int
session_each(sqlite3_stmt *st, const struct rowcb *cb)
{
	struct db_session s;

	s.user_id = sqlite3_column_int64(st, 0);
	s.role = col_text(st, 1);
	s.token_id = sqlite3_column_int64(st, 2);
	s.expires_at = sqlite3_column_int64(st, 3);
	s.last_used_at = sqlite3_column_int64(st, 4);
	return cb->fn.session(cb->arg, &s);
}

int
db_session_get(struct db *db, const void *hash, size_t len, int64_t now,
    db_session_fn *fn, void *arg)
{
	struct rowcb cb = { .fn.session = fn, .arg = arg };
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_TOKEN_LOOKUP)) == NULL)
		return -1;
	db_bind_blob(st, 1, hash, len);
	db_bind_int(st, 2, now);
	return step_one(db, st, fn != NULL ? session_each : NULL, &cb);
}

/* A row of SQL_TOKENS_OF_USER. */
static int
token_each(sqlite3_stmt *st, const struct rowcb *cb)
{
	struct db_token t;

	t.id = sqlite3_column_int64(st, 0);
	t.created_at = sqlite3_column_int64(st, 1);
	t.last_used_at = sqlite3_column_int64(st, 2);
	t.expires_at = sqlite3_column_int64(st, 3);
	return cb->fn.token(cb->arg, &t);
}

int
db_tokens_of_user(struct db *db, int64_t user_id, int64_t now, int limit,
    db_token_fn *fn, void *arg)
{
	struct rowcb cb = { .fn.token = fn, .arg = arg };
	const int64_t v[] = { user_id, now, limit };

	return step_rows(db, stmt_ints(db, SQL_TOKENS_OF_USER, v, 3),
	    token_each, &cb);
}

int
db_token_touch(struct db *db, int64_t token_id, int64_t now,
    int64_t not_since)
{
	const int64_t v[] = { now, token_id, not_since };

	return exec_ints(db, SQL_TOKEN_TOUCH, v, 3);
}

int
db_token_revoke(struct db *db, const void *hash, size_t len, int64_t now)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_TOKEN_REVOKE)) == NULL)
		return -1;
	db_bind_int(st, 1, now);
	db_bind_blob(st, 2, hash, len);
	return db_exec_stmt(db, st) == 0 ? 0 : -1;
}

/* Column 0 of a row as a blob (a token's hash). */
static int
blob_each(sqlite3_stmt *st, const struct rowcb *cb)
{
	return cb->fn.blob(cb->arg, sqlite3_column_blob(st, 0),
	    (size_t)sqlite3_column_bytes(st, 0));
}

/* The blobs in column 0 of st's rows, bound already, to fn. */
static int
blob_rows(struct db *db, sqlite3_stmt *st, db_blob_fn *fn, void *arg)
{
	struct rowcb cb = { .fn.blob = fn, .arg = arg };

	return step_rows(db, st, blob_each, &cb);
}

int
db_tokens_revoke_user(struct db *db, int64_t user_id, int64_t now,
    db_blob_fn *fn, void *arg)
{
	const int64_t v[] = { now, user_id };

	return blob_rows(db, stmt_ints(db, SQL_TOKENS_REVOKE_USER, v, 2), fn,
	    arg);
}

int
db_token_revoke_id(struct db *db, int64_t user_id, int64_t token_id,
    int64_t now, db_blob_fn *fn, void *arg)
{
	const int64_t v[] = { now, token_id, user_id };

	return blob_rows(db, stmt_ints(db, SQL_TOKEN_REVOKE_ID, v, 3), fn, arg);
}

int
db_token_hashes(struct db *db, int64_t user_id, db_blob_fn *fn, void *arg)
{
	return blob_rows(db, stmt_ints(db, SQL_TOKEN_HASHES_OF_USER, &user_id,
	    1), fn, arg);
}

/* Runs the INSERT s, bound already; 0 with the new row's id in *id, or
 * -1. */
static int
insert_id(struct db *db, sqlite3_stmt *st, int64_t *id)
{
	if (db_exec_stmt(db, st) != 0)
		return -1;
	*id = db_last_id(db);
	return 0;
}

int
db_room_insert(struct db *db, const char *name, int64_t creator, int64_t now,
    int64_t *id)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_ROOM_INSERT)) == NULL)
		return -1;
	db_bind_text(st, 1, name, strlen(name));
	db_bind_int(st, 2, creator);
	db_bind_int(st, 3, now);
	return insert_id(db, st, id);
}

int
db_room_member_add(struct db *db, int64_t room, int64_t user, int64_t now)
{
	const int64_t v[] = { room, user, now };

	return exec_ints(db, SQL_ROOM_MEMBER_ADD, v, 3);
}

/* A row of SQL_ROOM_GET, SQL_ROOMS_ALL or SQL_ROOMS_OF_USER. */
static int
room_each(sqlite3_stmt *st, const struct rowcb *cb)
{
	struct db_room r;

	r.id = sqlite3_column_int64(st, 0);
	r.name = col_text(st, 1);
	r.created_at = sqlite3_column_int64(st, 2);
	return cb->fn.room(cb->arg, &r);
}

int
db_room_get(struct db *db, int64_t id, db_room_fn *fn, void *arg)
{
	struct rowcb cb = { .fn.room = fn, .arg = arg };

	return step_one(db, stmt_ints(db, SQL_ROOM_GET, &id, 1),
	    fn != NULL ? room_each : NULL, &cb);
}

int
db_rooms_page(struct db *db, int64_t user, int64_t before, int limit,
    db_room_fn *fn, void *arg)
{
	struct rowcb cb = { .fn.room = fn, .arg = arg };
	const int64_t v[] = { user, before, limit };
	sqlite3_stmt *st;

	/* SQL_ROOMS_ALL is SQL_ROOMS_OF_USER without the user. */
	st = user != 0 ? stmt_ints(db, SQL_ROOMS_OF_USER, v, 3) :
	    stmt_ints(db, SQL_ROOMS_ALL, v + 1, 2);
	if (st == NULL)
		return -1;
	return step_rows(db, st, room_each, &cb);
}

int
db_room_members(struct db *db, int64_t room, db_id_fn *fn, void *arg)
{
	return id_rows(db, stmt_ints(db, SQL_ROOM_MEMBERS, &room, 1), fn, arg);
}

int
db_room_exists(struct db *db, int64_t room)
{
	return has_row(db, SQL_ROOM_EXISTS, &room, 1);
}

int
db_room_is_member(struct db *db, int64_t room, int64_t user)
{
	const int64_t v[] = { room, user };

	return has_row(db, SQL_ROOM_IS_MEMBER, v, 2);
}

int
db_rooms_recent(struct db *db, int limit, db_id_fn *fn, void *arg)
{
	const int64_t v = limit;

	return id_rows(db, stmt_ints(db, SQL_ROOMS_RECENT, &v, 1), fn, arg);
}

/* A db_id_fn: the first id into the int64_t arg. */
static int
id_first(void *arg, int64_t id)
{
	*(int64_t *)arg = id;
	return 1;
}

int
db_room_last_message(struct db *db, int64_t room, int64_t *id)
{
	return id_rows(db, stmt_ints(db, SQL_ROOM_LAST_MESSAGE, &room, 1),
	    id_first, id) == -1 ? -1 : 0;
}

int
db_message_insert(struct db *db, int64_t room, int64_t user,
    const char *body, size_t len, int64_t now, int64_t *id)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_MESSAGE_INSERT)) == NULL)
		return -1;
	db_bind_int(st, 1, room);
	db_bind_int(st, 2, user);
	db_bind_text(st, 3, body, len);
	db_bind_int(st, 4, now);
	return insert_id(db, st, id);
}

/* A row of SQL_MESSAGES_PAGE or SQL_MESSAGES_AFTER. */
static int
message_each(sqlite3_stmt *st, const struct rowcb *cb)
{
	struct db_message m;

	m.id = sqlite3_column_int64(st, 0);
	m.room_id = sqlite3_column_int64(st, 1);
	m.user_id = sqlite3_column_int64(st, 2);
	m.body = col_text(st, 3);
	m.len = (size_t)sqlite3_column_bytes(st, 3);
	m.created_at = sqlite3_column_int64(st, 4);
	return cb->fn.message(cb->arg, &m);
}

/* The (room, bound, limit) statements of messages. */
static int
messages_rows(struct db *db, enum sqlstmt s, int64_t room, int64_t bound,
    int limit, db_message_fn *fn, void *arg)
{
	struct rowcb cb = { .fn.message = fn, .arg = arg };
	const int64_t v[] = { room, bound, limit };

	return step_rows(db, stmt_ints(db, s, v, 3), message_each, &cb);
}

int
db_messages_page(struct db *db, int64_t room, int64_t before, int limit,
    db_message_fn *fn, void *arg)
{
	return messages_rows(db, SQL_MESSAGES_PAGE, room, before, limit, fn,
	    arg);
}

int
db_messages_after(struct db *db, int64_t room, int64_t after, int limit,
    db_message_fn *fn, void *arg)
{
	return messages_rows(db, SQL_MESSAGES_AFTER, room, after, limit, fn,
	    arg);
}

/* A row of SQL_TICKET_GET or SQL_TICKETS_PAGE. */
static int
ticket_each(sqlite3_stmt *st, const struct rowcb *cb)
{
	struct db_ticket t;

	t.id = sqlite3_column_int64(st, 0);
	t.subject = col_text(st, 1);
	t.status = col_text(st, 2);
	t.priority = col_text(st, 3);
	t.requester_id = sqlite3_column_int64(st, 4);
	t.assignee_id = sqlite3_column_int64(st, 5);
	t.created_at = sqlite3_column_int64(st, 6);
	t.updated_at = sqlite3_column_int64(st, 7);
	t.last_activity_at = sqlite3_column_int64(st, 8);
	t.closed_at = sqlite3_column_int64(st, 9);
	return cb->fn.ticket(cb->arg, &t);
}

int
db_ticket_get(struct db *db, int64_t id, db_ticket_fn *fn, void *arg)
{
	struct rowcb cb = { .fn.ticket = fn, .arg = arg };

	return step_one(db, stmt_ints(db, SQL_TICKET_GET, &id, 1),
	    fn != NULL ? ticket_each : NULL, &cb);
}

/* Binds v unless it is 0 (NULL then). */
static void
bind_int_or_null(sqlite3_stmt *st, int idx, int64_t v)
{
	if (v != 0)
		db_bind_int(st, idx, v);
}

int
db_tickets_page(struct db *db, int64_t before, int64_t requester,
    const char *status, int64_t assignee, int limit, db_ticket_fn *fn,
    void *arg)
{
	struct rowcb cb = { .fn.ticket = fn, .arg = arg };
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_TICKETS_PAGE)) == NULL)
		return -1;
	db_bind_int(st, 1, before);
	bind_int_or_null(st, 2, requester);
	bind_text_or_null(st, 3, status);
	bind_int_or_null(st, 4, assignee);
	db_bind_int(st, 5, limit);
	return step_rows(db, st, ticket_each, &cb);
}

int
db_ticket_insert(struct db *db, const char *subject, const char *priority,
    int64_t requester, int64_t now, int64_t *id)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_TICKET_INSERT)) == NULL)
		return -1;
	db_bind_text(st, 1, subject, strlen(subject));
	db_bind_text(st, 2, priority, strlen(priority));
	db_bind_int(st, 3, requester);
	db_bind_int(st, 4, now);
	db_bind_int(st, 5, now);
	db_bind_int(st, 6, now);
	return insert_id(db, st, id);
}

int
db_ticket_update(struct db *db, const struct db_ticket *t)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_TICKET_UPDATE)) == NULL)
		return -1;
	db_bind_text(st, 1, t->subject, strlen(t->subject));
	db_bind_text(st, 2, t->status, strlen(t->status));
	db_bind_text(st, 3, t->priority, strlen(t->priority));
	bind_int_or_null(st, 4, t->assignee_id);
	db_bind_int(st, 5, t->updated_at);
	db_bind_int(st, 6, t->last_activity_at);
	bind_int_or_null(st, 7, t->closed_at);
	db_bind_int(st, 8, t->id);
	return db_exec_stmt(db, st) == 0 ? 0 : -1;
}

int
db_tickets_inactive(struct db *db, int64_t cutoff, int limit, db_id_fn *fn,
    void *arg)
{
	const int64_t v[] = { cutoff, limit };

	return id_rows(db, stmt_ints(db, SQL_TICKETS_INACTIVE, v, 2), fn, arg);
}

int
db_stats_get(struct db *db, int64_t user, int assignee, int64_t since,
    struct db_stats *s)
{
	const int64_t v[] = { user, since };
	sqlite3_stmt *st;
	int rc = -1;

	if ((st = stmt_ints(db, assignee ? SQL_STATS_ASSIGNEE :
	    SQL_STATS_REQUESTER, v, 2)) == NULL)
		return -1;
	if (db_step(db, st) == SQLITE_ROW) {
		s->total = sqlite3_column_int64(st, 0);
		s->open = sqlite3_column_int64(st, 1);
		s->pending = sqlite3_column_int64(st, 2);
		s->closed = sqlite3_column_int64(st, 3);
		s->has_avg = sqlite3_column_type(st, 4) != SQLITE_NULL;
		s->avg_hours = s->has_avg ? sqlite3_column_double(st, 4) : 0;
		rc = 0;
	}
	db_reset(st);
	return rc;
}

int
db_interaction_insert(struct db *db, int64_t ticket, int64_t author,
    const char *kind, const char *body, size_t len, int64_t now, int64_t *id)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_INTERACTION_INSERT)) == NULL)
		return -1;
	db_bind_int(st, 1, ticket);
	bind_int_or_null(st, 2, author);
	db_bind_text(st, 3, kind, strlen(kind));
	db_bind_text(st, 4, body, len);
	db_bind_int(st, 5, now);
	return insert_id(db, st, id);
}

/* A row of SQL_INTERACTIONS_PAGE or SQL_INTERACTIONS_AFTER. */
static int
interaction_each(sqlite3_stmt *st, const struct rowcb *cb)
{
	struct db_interaction i;

	i.id = sqlite3_column_int64(st, 0);
	i.ticket_id = sqlite3_column_int64(st, 1);
	i.author_id = sqlite3_column_int64(st, 2);
	i.kind = col_text(st, 3);
	i.body = col_text(st, 4);
	i.len = (size_t)sqlite3_column_bytes(st, 4);
	i.created_at = sqlite3_column_int64(st, 5);
	return cb->fn.interaction(cb->arg, &i);
}

/* The (ticket, bound, limit) statements of interactions. */
static int
interactions_rows(struct db *db, enum sqlstmt s, int64_t ticket,
    int64_t bound, int limit, db_interaction_fn *fn, void *arg)
{
	struct rowcb cb = { .fn.interaction = fn, .arg = arg };
	const int64_t v[] = { ticket, bound, limit };

	return step_rows(db, stmt_ints(db, s, v, 3), interaction_each, &cb);
}

int
db_interactions_page(struct db *db, int64_t ticket, int64_t before,
    int limit, db_interaction_fn *fn, void *arg)
{
	return interactions_rows(db, SQL_INTERACTIONS_PAGE, ticket, before,
	    limit, fn, arg);
}

int
db_interactions_after(struct db *db, int64_t ticket, int64_t after,
    int limit, db_interaction_fn *fn, void *arg)
{
	return interactions_rows(db, SQL_INTERACTIONS_AFTER, ticket, after,
	    limit, fn, arg);
}

/* A row of SQL_NOTIFS_PAGE, SQL_NOTIFS_AFTER or SQL_NOTIF_UNDELIVERED. */
static int
notification_each(sqlite3_stmt *st, const struct rowcb *cb)
{
	struct db_notification n;

	n.id = sqlite3_column_int64(st, 0);
	n.user_id = sqlite3_column_int64(st, 1);
	n.event = col_text(st, 2);
	n.ticket_id = sqlite3_column_int64(st, 3);
	n.created_at = sqlite3_column_int64(st, 4);
	n.read_at = sqlite3_column_int64(st, 5);
	return cb->fn.notification(cb->arg, &n);
}

/* The (user, bound, unread, limit) statements of notifications. */
static int
notifications_rows(struct db *db, enum sqlstmt s, int64_t user,
    int64_t bound, int unread, int limit, db_notification_fn *fn, void *arg)
{
	struct rowcb cb = { .fn.notification = fn, .arg = arg };
	const int64_t v[] = { user, bound, unread, limit };

	return step_rows(db, stmt_ints(db, s, v, 4), notification_each, &cb);
}

int
db_notifications_page(struct db *db, int64_t user, int64_t before,
    int unread, int limit, db_notification_fn *fn, void *arg)
{
	return notifications_rows(db, SQL_NOTIFS_PAGE, user, before, unread,
	    limit, fn, arg);
}

int
db_notifications_after(struct db *db, int64_t user, int64_t after,
    int unread, int limit, db_notification_fn *fn, void *arg)
{
	return notifications_rows(db, SQL_NOTIFS_AFTER, user, after, unread,
	    limit, fn, arg);
}

int
db_notification_read(struct db *db, int64_t user, int64_t id, int64_t now)
{
	const int64_t v[] = { now, id, user };

	return exec_ints(db, SQL_NOTIF_READ_ONE, v, 3);
}

int
db_notifications_read_all(struct db *db, int64_t user, int64_t now)
{
	const int64_t v[] = { now, user };

	return exec_ints(db, SQL_NOTIF_READ_ALL, v, 2);
}

int
db_notification_insert(struct db *db, int64_t user, const char *event,
    int64_t ticket, const char *task_id, int64_t now)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_NOTIF_INSERT)) == NULL)
		return -1;
	db_bind_int(st, 1, user);
	db_bind_text(st, 2, event, strlen(event));
	db_bind_int(st, 3, ticket);
	db_bind_text(st, 4, task_id, strlen(task_id));
	db_bind_int(st, 5, now);
	return db_exec_stmt(db, st) == 0 ? 0 : -1;
}

int
db_notifications_undelivered(struct db *db, const char *task_id,
    db_notification_fn *fn, void *arg)
{
	struct rowcb cb = { .fn.notification = fn, .arg = arg };
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_NOTIF_UNDELIVERED)) == NULL)
		return -1;
	db_bind_text(st, 1, task_id, strlen(task_id));
	return step_rows(db, st, notification_each, &cb);
}

int
db_notification_delivered(struct db *db, int64_t id, int64_t now)
{
	const int64_t v[] = { now, id };

	return exec_ints(db, SQL_NOTIF_DELIVERED, v, 2);
}

int
db_archive_ids(struct db *db, enum db_archive a, int64_t cutoff,
    int64_t after, int limit, db_id_fn *fn, void *arg)
{
	const int64_t v[] = { cutoff, after, limit };

	return id_rows(db, stmt_ints(db, a == DB_ARCHIVE_MESSAGES ?
	    SQL_ARCH_MSG_IDS : SQL_ARCH_INTER_IDS, v, 3), fn, arg);
}

int
db_archive_copy(struct db *db, enum db_archive a, int64_t cutoff, int64_t lo,
    int64_t hi)
{
	const int64_t v[] = { cutoff, lo, hi };

	return exec_ints(db, a == DB_ARCHIVE_MESSAGES ? SQL_ARCH_MSG_COPY :
	    SQL_ARCH_INTER_COPY, v, 3);
}

int
db_archive_delete(struct db *db, enum db_archive a, int64_t cutoff,
    int64_t lo, int64_t hi)
{
	const int64_t v[] = { cutoff, lo, hi };

	return exec_ints(db, a == DB_ARCHIVE_MESSAGES ? SQL_ARCH_MSG_DELETE :
	    SQL_ARCH_INTER_DELETE, v, 3);
}

int
db_task_add(struct db *db, const char *task_id, const char *text,
    int64_t now, int64_t *row)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_TASK_ADD)) == NULL)
		return -1;
	db_bind_text(st, 1, task_id, strlen(task_id));
	db_bind_text(st, 2, text, strlen(text));
	db_bind_int(st, 3, now);
	return insert_id(db, st, row);
}

/* A row of SQL_TASKS_UNPUSHED, SQL_TASK_UNPUSHED_ONE or
 * SQL_TASKS_UNFINISHED. */
static int
task_each(sqlite3_stmt *st, const struct rowcb *cb)
{
	struct db_task t;

	t.row = sqlite3_column_int64(st, 0);
	t.text = col_text(st, 1);
	return cb->fn.task(cb->arg, &t);
}

/* The task rows of s with v[0..n) bound. */
static int
task_rows(struct db *db, enum sqlstmt s, const int64_t *v, int n,
    db_task_fn *fn, void *arg)
{
	struct rowcb cb = { .fn.task = fn, .arg = arg };

	return step_rows(db, stmt_ints(db, s, v, n), task_each, &cb);
}

int
db_tasks_unpushed(struct db *db, int limit, db_task_fn *fn, void *arg)
{
	const int64_t v = limit;

	return task_rows(db, SQL_TASKS_UNPUSHED, &v, 1, fn, arg);
}

int
db_task_unpushed_one(struct db *db, int64_t row, db_task_fn *fn, void *arg)
{
	return task_rows(db, SQL_TASK_UNPUSHED_ONE, &row, 1, fn, arg);
}

int
db_tasks_unfinished(struct db *db, int64_t after, int limit, db_task_fn *fn,
    void *arg)
{
	const int64_t v[] = { after, limit };

	return task_rows(db, SQL_TASKS_UNFINISHED, v, 2, fn, arg);
}

int
db_task_pushed(struct db *db, int64_t row, int64_t now)
{
	const int64_t v[] = { now, row };

	return exec_ints(db, SQL_TASK_PUSHED, v, 2);
}

/* The answer of the count(*) statement s, or -1. */
static long long
count_of(struct db *db, enum sqlstmt s)
{
	int64_t n = -1;

	if (id_rows(db, db_stmt(db, s), id_first, &n) == -1)
		return -1;
	return n;
}

long long
db_tasks_unpushed_count(struct db *db)
{
	return count_of(db, SQL_OUTBOX_COUNT);
}

long long
db_tasks_unfinished_count(struct db *db)
{
	return count_of(db, SQL_TASKS_UNFINISHED_COUNT);
}

int
db_task_finish(struct db *db, const char *task_id, size_t len,
    const char *result, int64_t now)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_TASK_FINISH)) == NULL)
		return -1;
	db_bind_int(st, 1, now);
	db_bind_text(st, 2, result, strlen(result));
	db_bind_text(st, 3, task_id, len);
	return db_exec_stmt(db, st) == 0 ? 0 : -1;
}

int
db_task_reopen(struct db *db, const char *task_id, size_t len)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_TASK_REOPEN)) == NULL)
		return -1;
	db_bind_text(st, 1, task_id, len);
	return db_exec_stmt(db, st) == 0 ? 0 : -1;
}

int
db_task_finished(struct db *db, const char *task_id, int *finished)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = db_stmt(db, SQL_TASK_FINISHED)) == NULL)
		return -1;
	db_bind_text(st, 1, task_id, strlen(task_id));
	if ((rc = db_step(db, st)) == SQLITE_ROW)
		*finished = sqlite3_column_int(st, 0) != 0;
	db_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int
db_tasks_prune(struct db *db, const char *result, int64_t before,
    int64_t keep, int limit)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(db, SQL_TASKS_PRUNE)) == NULL)
		return -1;
	db_bind_text(st, 1, result, strlen(result));
	db_bind_int(st, 2, before);
	db_bind_int(st, 3, keep);
	db_bind_int(st, 4, limit);
	return db_exec_stmt(db, st) == 0 ? 0 : -1;
}

int
db_queue_state_get(struct db *db, int64_t *seq, char *epoch, size_t epochsz,
    int *written)
{
	sqlite3_stmt *st;
	int rc = -1;

	if ((st = db_stmt(db, SQL_QUEUE_STATE_GET)) == NULL)
		return -1;
	if (db_step(db, st) == SQLITE_ROW) {
		if (epoch != NULL)
			snprintf(epoch, epochsz, "%s", col_text(st, 0));
		if (written != NULL)
			*written = sqlite3_column_int(st, 1);
		*seq = sqlite3_column_int64(st, 2);
		rc = 0;
	}
	db_reset(st);
	return rc;
}

int
db_queue_seq_set(struct db *db, int64_t seq)
{
	return exec_ints(db, SQL_QUEUE_SEQ_SET, &seq, 1);
}

int
db_queue_epoch_written(struct db *db)
{
	return exec_ints(db, SQL_QUEUE_EPOCH_WRITTEN, NULL, 0);
}

/*
 * db: the SQLite store of record. Opens the database with the pragmas of
 * API.md section 7, attaches the archive, applies migrations, and owns
 * every SQL statement (the table in db.c), prepared once per process and
 * reset after each use. Callers never see SQL text, a statement or a
 * column: they read and write rows through the typed loaders below
 * ("Rows"), and this header does not include sqlite3.h.
 */
#ifndef CHATDESK_DB_H
#define CHATDESK_DB_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct db;

enum db_open_mode {
	DB_OPEN_APP,		/* existing file, schema must be current */
	DB_OPEN_MIGRATE		/* create if missing, any older schema */
};

/* Opens db_path (and attaches archive_db_path). Returns NULL with a
 * one-line reason in err. */
struct db *db_open(const struct config *, enum db_open_mode, char *err,
    size_t errsz);
void db_close(struct db *);

/* The schema version this build knows (the number of migrations). */
int db_latest_version(void);
/* Applies the missing migrations and the archive schema. Returns 0 and
 * the versions before and after, or -1 (logged). */
int db_migrate(struct db *, int *from, int *to);

/* The cache's remembered invalidations (a key, or a glob when pattern
 * is 1, prefix included). add returns 0 or -1. replay calls fn for each,
 * oldest first, until one returns -1; if none did, deletes those that
 * were there when it began. Returns the number replayed, or -1. */
int db_cache_pending_add(struct db *, const char *key, int pattern);
int db_cache_pending_replay(struct db *,
    int (*fn)(void *arg, const char *key, int pattern), void *arg);

/*
 * The cache's MAC key (cache.h, API.md section 4: a secret only the app
 * knows, never in Redis): 32 random bytes made by db_migrate when missing,
 * kept in meta (sql/002_meta.sql) as hex under "cache_mac". A backup
 * carries it, as it carries every row it protects.
 */
#define DB_SECRET_CACHE_MAC	"cache_mac"
#define DB_SECRET_LEN		32
#define DB_SECRET_MAX		64

/*
 * A secret of meta: copies exactly len bytes into out and returns 0; 1 if
 * there is none (or not len bytes of hex); -1 on error (logged).
 */
int db_secret(struct db *, const char *name, unsigned char *out, size_t len);

/*
 * The worker's liveness (API.md section 3, /health): when a run last
 * started and last succeeded (0: never), and when the schema was created
 * (counted from while no run ever succeeded). get returns 0 or -1; run
 * and success record now (in their own transaction) and return 0 or -1.
 */
struct db_worker {
	int64_t	created_at, last_run_at, last_success_at;
};
int db_worker_get(struct db *, struct db_worker *);
int db_worker_run(struct db *, int64_t now);
int db_worker_success(struct db *, int64_t now);

/* 1 inside a transaction (db_begin without its commit or rollback). */
int db_in_txn(struct db *);
int db_idle(struct db *);

/* BEGIN IMMEDIATE, retried a bounded number of times on SQLITE_BUSY.
 * Returns 0 or -1 (logged). */
int db_begin(struct db *);
int db_commit(struct db *);
void db_rollback(struct db *);
/* wal_checkpoint(TRUNCATE) of both files. Returns 0 or -1. */
int db_checkpoint(struct db *);
/* A PASSIVE checkpoint of both files: copies what it can of the WAL into
 * the database without waiting for, or holding up, any reader or writer. */
void db_checkpoint_passive(struct db *);
int db_changes(struct db *);
/* Microseconds this connection has held the write lock in all, from each
 * BEGIN IMMEDIATE's return to its COMMIT's or ROLLBACK's: what the
 * maintenance tasks pace themselves by (task_pace.c). */
int64_t db_held_us(struct db *);

/* What the health check found. */
enum db_state {
	DB_STATE_OK,
	DB_STATE_READ_ONLY,	/* readable, but writes fail: disk full,
				 * read-only file system */
	DB_STATE_DOWN		/* the file cannot be read */
};

/*
 * The database's generation (see sql/002_meta.sql): "" for a database
 * never restored. Returns 0 with it in buf, or -1 (logged).
 */
#define DB_GENERATION_MAX	32
int db_generation(struct db *, char *buf, size_t bufsz);
/* The schema version of the file at path, opened read-only; -1 (err
 * set) if it is not a SQLite database. */
int db_file_version(const char *path, char *err, size_t errsz);
/*
 * Writes a consistent copy of the main database to path (VACUUM INTO:
 * a new file, never over an existing one). Returns 0, or -1 with err.
 */
int db_backup(struct db *, const char *path, char *err, size_t errsz);
/*
 * Replaces the main database's content with the file at path (SQLite's
 * backup API, in one step: other connections see the old content or the
 * new, never a mix), migrates it if older, and stamps it with gen as its
 * generation. Returns 0, or -1 with err.
 */
int db_restore(struct db *, const char *path, const char *gen, char *err,
    size_t errsz);

/*
 * Checks that the database file is still there and readable: the path
 * names the file that was opened, its header is SQLite's, and a read of
 * the schema succeeds (else DOWN). Then whether it can take writes: READ_ONLY
 * while this process's last write failed for lack of space or a read-only
 * file system, or while the file system shows no room or is mounted
 * read-only (so a process that has not written yet tells the truth too).
 * Remembers the result.
 */
enum db_state db_health(struct db *);
/* 1 if the database is known to be unreadable. Re-checks at most once a
 * second, so a repaired file is noticed without a restart. */
int db_down(struct db *);
/*
 * 1 if a write may be tried now: always, unless a write failed because
 * the database cannot take writes (SQLITE_FULL, SQLITE_READONLY, an I/O
 * error while writing). Then 0, except once a second, when one write is
 * let through as the probe; its success ends the state.
 */
int db_writable(struct db *);
/* 1 while the last write failed as above (no probe, no side effect). */
int db_read_only(struct db *);

/*
 * Rows (kcaldav's db_*_load). Each function below binds its arguments,
 * steps and resets its statement itself: no caller sees SQL, a statement
 * or a column position. A row with text is handed to a callback, with
 * pointers into the statement's own memory (no copy, no allocation per
 * row) that are valid only during the call. A callback returns 0 to go
 * on, 1 to stop there, -1 to stop with an error.
 *
 * Unless said otherwise: a get returns 0 (the row handed to fn, when fn
 * is not NULL), 1 if there is none, -1 on error; a list returns the
 * number of rows handed to fn, or -1 (a step failed or fn returned -1),
 * and its callback keeps what it was handed before an error; a write
 * returns 0 or -1. Errors are logged here. An id or a time that is NULL
 * in SQL reads 0.
 */
typedef int db_id_fn(void *arg, int64_t id);

/* A db_id_fn that keeps the ids in ids[0..max), stopping when full. */
struct db_ids {
	int64_t		*ids;
	int		 n;
	int		 max;
};
int db_ids_keep(void *arg, int64_t id);

/* A write that a constraint refused (a user's email already taken). */
#define DB_DUPLICATE	1

/* users (sql/001): the user object's columns. */
struct db_user {
	int64_t		 id;
	const char	*name;
	const char	*email;
	const char	*role;
	int64_t		 created_at;
	int64_t		 updated_at;
	int		 disabled;
};
typedef int db_user_fn(void *arg, const struct db_user *);

int db_user_get(struct db *, int64_t id, db_user_fn *, void *);
/* 1 if there is such a user, 0 if not, -1. */
int db_user_exists(struct db *, int64_t id);
/* Newest first: the users with ids below before and the role given (NULL:
 * any), at most limit. */
int db_users_page(struct db *, int64_t before, const char *role, int limit,
    db_user_fn *, void *);
/* Returns 0 with the new id in *id, DB_DUPLICATE, or -1. */
int db_user_insert(struct db *, const char *name, const char *email,
    const char *role, int64_t now, int64_t *id);
/*
 * NULL leaves a column as it is; disabled 1 disables (keeping the first
 * disabling time), 0 enables, -1 leaves it. Returns 0, DB_DUPLICATE or
 * -1; db_changes() then says whether there was such a user.
 */
int db_user_update(struct db *, int64_t id, const char *name,
    const char *email, const char *role, int disabled, int64_t now);
/* The hash is never read back by a route; db_changes() as above. */
int db_user_password_set(struct db *, int64_t id, const char *hash,
    int64_t now);
/*
 * The user whose email is the len bytes given: 0 with its id in *id and
 * its password hash in hash (hashsz bytes, hash may be NULL): "" when it
 * has none, is disabled, or the hash does not fit. 1 if there is none.
 */
int db_user_by_email(struct db *, const char *email, size_t len,
    int64_t *id, char *hash, size_t hashsz);
/* The password hash of user id, as db_user_by_email (disabled or not). */
int db_user_password_of(struct db *, int64_t id, char *hash, size_t hashsz);
/* The agents and admins, by id. */
int db_staff_ids(struct db *, db_id_fn *, void *);

/* tokens (sql/001): hashes are the SHA-256 of the bearer token. */
typedef int db_blob_fn(void *arg, const void *p, size_t len);

/* A live token of an enabled user, as a request's session reads it. */
struct db_session {
	int64_t		 user_id;
	const char	*role;
	int64_t		 token_id;
	int64_t		 expires_at;
	int64_t		 last_used_at;
};
typedef int db_session_fn(void *arg, const struct db_session *);

/* A live token as GET /sessions lists it (0: NULL). */
struct db_token {
	int64_t		 id;
	int64_t		 created_at;
	int64_t		 last_used_at;
	int64_t		 expires_at;
};
typedef int db_token_fn(void *arg, const struct db_token *);

/* expires_at 0 for none. Inserts nothing for a user that is disabled or
 * missing: db_changes() then says 0. */
int db_token_insert(struct db *, int64_t user_id, const void *hash,
    size_t len, int64_t now, int64_t expires_at);
/* The session of the token whose hash is given, live at now. */
int db_session_get(struct db *, const void *hash, size_t len, int64_t now,
    db_session_fn *, void *);
/* The user's live tokens at now, newest first, at most limit. */
int db_tokens_of_user(struct db *, int64_t user_id, int64_t now, int limit,
    db_token_fn *, void *);
/* last_used_at = now unless it was set at not_since or later. */
int db_token_touch(struct db *, int64_t token_id, int64_t now,
    int64_t not_since);
int db_token_revoke(struct db *, const void *hash, size_t len, int64_t now);
/* Revoke every live token of the user, or the one token of the user,
 * handing the hash of each one revoked to fn. */
int db_tokens_revoke_user(struct db *, int64_t user_id, int64_t now,
    db_blob_fn *, void *);
int db_token_revoke_id(struct db *, int64_t user_id, int64_t token_id,
    int64_t now, db_blob_fn *, void *);
/* The hashes of the user's tokens not revoked. */
int db_token_hashes(struct db *, int64_t user_id, db_blob_fn *, void *);

/* rooms, room_members, messages (sql/001). */
struct db_room {
	int64_t		 id;
	const char	*name;
	int64_t		 created_at;
};
typedef int db_room_fn(void *arg, const struct db_room *);

/* A message, archived or not; body is len bytes. */
struct db_message {
	int64_t		 id;
	int64_t		 room_id;
	int64_t		 user_id;
	const char	*body;
	size_t		 len;
	int64_t		 created_at;
};
typedef int db_message_fn(void *arg, const struct db_message *);

/* Returns 0 with the new id in *id, or -1. */
int db_room_insert(struct db *, const char *name, int64_t creator,
    int64_t now, int64_t *id);
/* Idempotent. */
int db_room_member_add(struct db *, int64_t room, int64_t user, int64_t now);
int db_room_get(struct db *, int64_t id, db_room_fn *, void *);
/* Newest first: the rooms below before (of user, or all for 0), at most
 * limit. */
int db_rooms_page(struct db *, int64_t user, int64_t before, int limit,
    db_room_fn *, void *);
/* The members' ids, ascending. */
int db_room_members(struct db *, int64_t room, db_id_fn *, void *);
/* 1 if the room exists (the user is its member), 0 if not, -1. */
int db_room_exists(struct db *, int64_t room);
int db_room_is_member(struct db *, int64_t room, int64_t user);
/* The ids of the rooms with the newest messages, at most limit. */
int db_rooms_recent(struct db *, int limit, db_id_fn *, void *);
/* The id of the room's newest message in the hot file (0: none) into
 * *id; 0 or -1 (*id left as it is). */
int db_room_last_message(struct db *, int64_t room, int64_t *id);
/* Returns 0 with the new id in *id, or -1. */
int db_message_insert(struct db *, int64_t room, int64_t user,
    const char *body, size_t len, int64_t now, int64_t *id);
/* The room's messages with ids below before, newest first, or above
 * after, oldest first; at most limit; archived ones included. */
int db_messages_page(struct db *, int64_t room, int64_t before, int limit,
    db_message_fn *, void *);
int db_messages_after(struct db *, int64_t room, int64_t after, int limit,
    db_message_fn *, void *);

/* tickets, interactions, notifications (sql/001). */
struct db_ticket {
	int64_t		 id;
	const char	*subject;
	const char	*status;
	const char	*priority;
	int64_t		 requester_id;
	int64_t		 assignee_id;
	int64_t		 created_at;
	int64_t		 updated_at;
	int64_t		 last_activity_at;
	int64_t		 closed_at;
};
typedef int db_ticket_fn(void *arg, const struct db_ticket *);

/* An interaction, archived or not; body is len bytes. */
struct db_interaction {
	int64_t		 id;
	int64_t		 ticket_id;
	int64_t		 author_id;
	const char	*kind;
	const char	*body;
	size_t		 len;
	int64_t		 created_at;
};
typedef int db_interaction_fn(void *arg, const struct db_interaction *);

struct db_notification {
	int64_t		 id;
	int64_t		 user_id;
	const char	*event;
	int64_t		 ticket_id;
	int64_t		 created_at;
	int64_t		 read_at;
};
typedef int db_notification_fn(void *arg, const struct db_notification *);

/* The tickets of a requester or an assignee created since a time. */
struct db_stats {
	int64_t		 total;
	int64_t		 open;
	int64_t		 pending;
	int64_t		 closed;
	int		 has_avg;	/* 0: none closed */
	double		 avg_hours;	/* creation to closing */
};

int db_ticket_get(struct db *, int64_t id, db_ticket_fn *, void *);
/* Newest first: the tickets below before of the requester, status and
 * assignee given (0 or NULL: any), at most limit. */
int db_tickets_page(struct db *, int64_t before, int64_t requester,
    const char *status, int64_t assignee, int limit, db_ticket_fn *, void *);
/* A new open ticket; 0 with its id in *id, or -1. */
int db_ticket_insert(struct db *, const char *subject, const char *priority,
    int64_t requester, int64_t now, int64_t *id);
/* Writes every column of t but its requester and creation time. */
int db_ticket_update(struct db *, const struct db_ticket *t);
/* The ids of open and pending tickets without activity since cutoff,
 * least recent first, at most limit. */
int db_tickets_inactive(struct db *, int64_t cutoff, int limit, db_id_fn *,
    void *);
/* assignee 0: the stats of requester user, else of assignee user. No row
 * is an error. */
int db_stats_get(struct db *, int64_t user, int assignee, int64_t since,
    struct db_stats *);

/* author 0: the system. 0 with the new id in *id, or -1. */
int db_interaction_insert(struct db *, int64_t ticket, int64_t author,
    const char *kind, const char *body, size_t len, int64_t now, int64_t *id);
/* The ticket's interactions below before, newest first, or above after,
 * oldest first; at most limit; archived ones included. */
int db_interactions_page(struct db *, int64_t ticket, int64_t before,
    int limit, db_interaction_fn *, void *);
int db_interactions_after(struct db *, int64_t ticket, int64_t after,
    int limit, db_interaction_fn *, void *);

/* The user's notifications (only the unread ones if unread) below before,
 * newest first, or above after, oldest first; at most limit. */
int db_notifications_page(struct db *, int64_t user, int64_t before,
    int unread, int limit, db_notification_fn *, void *);
int db_notifications_after(struct db *, int64_t user, int64_t after,
    int unread, int limit, db_notification_fn *, void *);
/* Marks one (if the user's and unread) or all of the user's read. */
int db_notification_read(struct db *, int64_t user, int64_t id, int64_t now);
int db_notifications_read_all(struct db *, int64_t user, int64_t now);
/* At most once per task and user. */
int db_notification_insert(struct db *, int64_t user, const char *event,
    int64_t ticket, const char *task_id, int64_t now);
/* The task's notifications not yet handed to notify_command, by id. */
int db_notifications_undelivered(struct db *, const char *task_id,
    db_notification_fn *, void *);
int db_notification_delivered(struct db *, int64_t id, int64_t now);

/*
 * The archive's moves (task_archive.c): of interactions of tickets closed
 * before cutoff, or of messages older than cutoff but their room's newest
 * 50. ids hands the next ids to move after the one given, ascending, at
 * most limit, with those the archive already holds; copy copies the ids
 * lo..hi to the archive file, delete deletes from the hot file those of
 * lo..hi the archive holds.
 */
enum db_archive {
	DB_ARCHIVE_INTERACTIONS,
	DB_ARCHIVE_MESSAGES
};
int db_archive_ids(struct db *, enum db_archive, int64_t cutoff,
    int64_t after, int limit, db_id_fn *, void *);
int db_archive_copy(struct db *, enum db_archive, int64_t cutoff, int64_t lo,
    int64_t hi);
int db_archive_delete(struct db *, enum db_archive, int64_t cutoff,
    int64_t lo, int64_t hi);

/* tasks, queue_state (sql/003): the outbox and record of queue.c. */
struct db_task {
	int64_t		 row;
	const char	*text;		/* the task object's JSON */
};
typedef int db_task_fn(void *arg, const struct db_task *);

/* 0 with the new row in *row, or -1. */
int db_task_add(struct db *, const char *task_id, const char *text,
    int64_t now, int64_t *row);
/* The oldest not yet pushed, at most limit; the one row if not yet
 * pushed; the pushed and unfinished rows after the one given, at most
 * limit (what a Redis that lost data may have lost). By row. */
int db_tasks_unpushed(struct db *, int limit, db_task_fn *, void *);
int db_task_unpushed_one(struct db *, int64_t row, db_task_fn *, void *);
int db_tasks_unfinished(struct db *, int64_t after, int limit, db_task_fn *,
    void *);
int db_task_pushed(struct db *, int64_t row, int64_t now);
/* The count of tasks not yet pushed, not yet finished; or -1. */
long long db_tasks_unpushed_count(struct db *);
long long db_tasks_unfinished_count(struct db *);
/* Records the result ("done", "dead") of the task id (len bytes) once. */
int db_task_finish(struct db *, const char *task_id, size_t len,
    const char *result, int64_t now);
/* A dead task (len bytes) unfinished again. */
int db_task_reopen(struct db *, const char *task_id, size_t len);
/* 0 with *finished 1 or 0, 1 if there is no record of the task. */
int db_task_finished(struct db *, const char *task_id, int *finished);
/* Deletes the oldest finished rows of result that finished before before
 * or are beyond the newest keep, at most limit; db_changes() says how
 * many. */
int db_tasks_prune(struct db *, const char *result, int64_t before,
    int64_t keep, int limit);
/* queue_state: pushed_seq, and the epoch (copied into epochsz bytes) and
 * whether Redis was given it; epoch and written may be NULL. 0 or -1. */
int db_queue_state_get(struct db *, int64_t *seq, char *epoch,
    size_t epochsz, int *written);
/* pushed_seq raised to seq (never lowered); the epoch written. */
int db_queue_seq_set(struct db *, int64_t seq);
int db_queue_epoch_written(struct db *);

#endif

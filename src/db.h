/*
 * db: the SQLite store of record. Opens the database with the pragmas of
 * API.md section 7, attaches the archive, applies migrations, and owns
 * every SQL statement (the table in db.c), prepared once per process and
 * reset after each use. Callers never see SQL text.
 */
#ifndef CHATDESK_DB_H
#define CHATDESK_DB_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "config.h"

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

/*
 * Returns the prepared statement, preparing it on first use, or NULL
 * (logged). Bind, step with db_step(), then db_reset() it.
 */
sqlite3_stmt *db_stmt(struct db *, enum sqlstmt);
/* Steps; returns SQLITE_ROW, SQLITE_DONE, or the error code (logged). */
int db_step(struct db *, sqlite3_stmt *);
void db_reset(sqlite3_stmt *);
/* For statements that return no rows: step to the end and reset.
 * Returns 0, or the SQLite error code. */
int db_exec_stmt(struct db *, sqlite3_stmt *);

int db_bind_int(sqlite3_stmt *, int idx, int64_t v);
int db_bind_text(sqlite3_stmt *, int idx, const char *s, size_t len);
int db_bind_blob(sqlite3_stmt *, int idx, const void *p, size_t len);

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
int64_t db_last_id(struct db *);
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

#endif

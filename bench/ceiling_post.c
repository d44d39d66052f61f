/*
 * The write ceiling for bench/run.sh --write-ceiling: the least a libfcgi
 * responder can do to answer a post through the same nginx: read the
 * body, one INSERT of it into a copy of chatdesk's schema (the same table
 * and indexes), answer 201 with the new id. No auth, no JSON parsing, no
 * rate limit, no Redis, no logging. It closes the connection as chatdesk
 * does on a unix socket (at once, serve.c), not as bench/ceiling.c does.
 *
 * CEILING_SYNC says how the commit reaches the disk:
 *   off   no sync at all (synchronous=OFF): not durable, so an upper
 *         bound for any durable post on this machine
 *   full  SQLite's own sync of the WAL in every commit (synchronous=FULL,
 *         no group commit): the naive durable post
 *
 * With CEILING_REDIS (a unix socket path; empty is none) it also does the Redis work
 * API.md asks of every post, in its least form: one round trip before the
 * INSERT (GET of a session key and INCR of a rate-limit key, pipelined)
 * and one after it (LPUSH and LTRIM of the room's list, pipelined). No
 * implementation of the contract can do less, so with CEILING_SYNC=off
 * this bounds every post, durable or not.
 *
 * With --sync-latency FILE it serves nothing: it writes a page to FILE
 * and fdatasyncs it 2,000 times and prints the mean wall time of one
 * write and sync in microseconds, the least a durable post waits.
 *
 *   cc -O2 -o ceiling_post ceiling_post.c -lfcgi -lsqlite3 -lhiredis
 *   CEILING_DB=/path/copy.db CEILING_SYNC=off \
 *       spawn-fcgi -s ceiling_post.sock -F 8 -- ./ceiling_post
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <hiredis/hiredis.h>
#include <sqlite3.h>

/* Sends the commands appended to c and reads their n replies: one round
 * trip. */
static void
round_trip(redisContext *c, int n)
{
	void *r;

	while (n-- > 0)
		if (redisGetReply(c, &r) == REDIS_OK)
			freeReplyObject(r);
}

static int
sync_latency(const char *path)
{
	static char page[4096];
	struct timespec a, z;
	int fd, i, n = 2000;

	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1) {
		perror(path);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < n; i++)
		if (pwrite(fd, page, sizeof(page), (off_t)(i % 64) *
		    (off_t)sizeof(page)) != (ssize_t)sizeof(page) ||
		    fdatasync(fd) == -1) {
			perror(path);
			return 1;
		}
	clock_gettime(CLOCK_MONOTONIC, &z);
	close(fd);
	unlink(path);
	printf("%.1f\n", ((double)(z.tv_sec - a.tv_sec) * 1e6 +
	    (double)(z.tv_nsec - a.tv_nsec) / 1e3) / n);
	return 0;
}

int
main(int argc, char *argv[])
{
	FCGX_Request fr;
	redisContext *c = NULL;
	sqlite3 *db;
	sqlite3_stmt *ins;
	const char *path = getenv("CEILING_DB");
	const char *sync = getenv("CEILING_SYNC");
	const char *sock = getenv("CEILING_REDIS");
	char pragma[64], body[8192], out[256];
	struct timespec ts;
	int n, len;

	if (argc == 3 && strcmp(argv[1], "--sync-latency") == 0)
		return sync_latency(argv[2]);
	signal(SIGPIPE, SIG_IGN);
	if (path == NULL || sync == NULL ||
	    (strcmp(sync, "off") != 0 && strcmp(sync, "full") != 0)) {
		fprintf(stderr, "ceiling_post: set CEILING_DB and "
		    "CEILING_SYNC (off or full)\n");
		return 1;
	}
	snprintf(pragma, sizeof(pragma), "PRAGMA synchronous=%s", sync);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_busy_timeout(db, 5000) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL,
	    NULL) != SQLITE_OK ||
	    sqlite3_exec(db, pragma, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO messages (room_id, user_id, "
	    "body, created_at) VALUES (1, 1, ?, ?)", -1, &ins,
	    NULL) != SQLITE_OK) {
		fprintf(stderr, "ceiling_post: %s: %s\n", path,
		    sqlite3_errmsg(db));
		return 1;
	}
	if (sock != NULL && *sock != '\0' && ((c = redisConnectUnix(sock)) == NULL || c->err)) {
		fprintf(stderr, "ceiling_post: cannot connect to %s\n", sock);
		return 1;
	}
	FCGX_Init();
	FCGX_InitRequest(&fr, 0, 0);
	while (FCGX_Accept_r(&fr) >= 0) {
		len = FCGX_GetStr(body, sizeof(body), fr.in);
		if (c != NULL) {
			redisAppendCommand(c, "GET session:wceil");
			redisAppendCommand(c, "INCR ratelimit:wceil");
			round_trip(c, 2);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		sqlite3_bind_text(ins, 1, body, len, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 2, (sqlite3_int64)ts.tv_sec * 1000 +
		    ts.tv_nsec / 1000000);
		if (sqlite3_step(ins) == SQLITE_DONE) {
			len = snprintf(out, sizeof(out), "{\"id\":%lld}\n",
			    (long long)sqlite3_last_insert_rowid(db));
			FCGX_FPrintF(fr.out, "Status: 201 Created\r\n"
			    "Content-Type: application/json; charset=utf-8\r\n"
			    "Content-Length: %d\r\n\r\n", len);
			FCGX_PutStr(out, len, fr.out);
			if (c != NULL) {
				redisAppendCommand(c, "LPUSH messages:wceil %b",
				    out, (size_t)len);
				redisAppendCommand(c, "LTRIM messages:wceil 0 49");
				round_trip(c, 2);
			}
		} else
			FCGX_FPrintF(fr.out, "Status: 503 Service Unavailable"
			    "\r\nContent-Length: 0\r\n\r\n");
		sqlite3_reset(ins);
		/* The close chatdesk makes on a unix socket (serve.c): at once
		 * once the end of stdin is read, not libfcgi's graceful wait. */
		if (FCGX_HasSeenEOF(fr.in) == EOF || FCGX_GetChar(fr.in) == EOF)
			(void)FCGX_Detach(&fr);
		FCGX_Finish_r(&fr);
	}
	n = sqlite3_finalize(ins);
	sqlite3_close(db);
	return n == SQLITE_OK ? 0 : 1;
}
